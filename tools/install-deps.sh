#!/bin/sh
# Install what imapd needs to build, run its demo and run its tests, on
# Debian 12 (or a derivative): the packages listed in debian-packages.
# Run as root, or it uses sudo.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PKGS=$(grep -v '^#' "$here/debian-packages")

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
else
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $PKGS
