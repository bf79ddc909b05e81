#!/bin/sh
# Install what imapd needs to build, run its demo and run its tests, on
# Debian 12 (or a derivative).  Run as root, or it uses sudo.
set -eu

PKGS="build-essential pkg-config openssl libssl-dev libpam0g-dev
libpam-modules libcdb-dev tinycdb libcrypt-dev zlib1g-dev
python3 python3-pytest libpam-wrapper libclang-rt-14-dev
isync offlineimap3 fetchmail passwd util-linux procps"

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
else
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $PKGS
