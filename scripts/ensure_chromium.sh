#!/bin/sh
# Make sure Debian's Chromium is present for the browser journeys (tests/web), which drive it
# through Playwright with executable_path=/usr/bin/chromium (no browser download at run time).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
sh "$(dirname "$0")/apt_install.sh" chromium
test -x /usr/bin/chromium
