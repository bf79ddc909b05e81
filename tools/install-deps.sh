#!/bin/sh
# Install what imapd needs to build, run its demo and run its tests, on
# Debian 12 (or a derivative): the packages listed in debian-packages.
# Run as root, or it uses sudo.
#
# Some of them are daemons (nginx, whose mail proxy the tests put in
# front of imapd): while they install, a policy-rc.d that refuses every
# service start keeps Debian from starting them, so installing the test
# dependencies never starts a web server on port 80 or fails because
# that port is taken.  A policy-rc.d already there is left alone.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PKGS=$(grep -v '^#' "$here/debian-packages")
POLICY=/usr/sbin/policy-rc.d

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
else
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if [ ! -e "$POLICY" ]; then
	trap '$SUDO rm -f "$POLICY"' EXIT
	trap 'exit 1' INT TERM HUP
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
	$SUDO chmod 755 "$POLICY"
fi
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $PKGS
