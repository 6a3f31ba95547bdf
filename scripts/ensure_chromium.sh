#!/bin/sh
# Make sure Debian's Chromium is present for the browser journeys (tests/web), which drive it
# through Playwright with executable_path=/usr/bin/chromium (no browser download at run time).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "Chromium not found: installing the Debian package 'chromium'" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
