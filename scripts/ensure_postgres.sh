#!/bin/sh
# Make sure Debian's PostgreSQL server binaries are present for the test suite (which starts its own
# throw-away server as a non-root user in a temporary directory; nothing is configured system-wide).
set -eu
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    exit 0
fi
sh "$(dirname "$0")/apt_install.sh" postgresql postgresql-client
# The package may create and start a system cluster; the tests do not use it.
SUDO=$([ "$(id -u)" -ne 0 ] && echo sudo || true)
if command -v pg_lsclusters >/dev/null 2>&1; then
    $SUDO pg_ctlcluster --force "$(pg_lsclusters -h | awk 'NR==1{print $1}')" main stop 2>/dev/null || true
fi
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null
