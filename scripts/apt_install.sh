#!/bin/sh
# Install Debian packages (as root, or with sudo), quietly: scripts/apt_install.sh PACKAGE...
# The ensure_*.sh scripts call it only when what they need is missing.
set -eu
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "installing the Debian package(s): $*" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
