#!/bin/sh
# Make sure Debian's PostgreSQL server binaries are present for the test suite (which starts its own
# throw-away server as a non-root user in a temporary directory; nothing is configured system-wide).
set -eu
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "PostgreSQL not found: installing the Debian package 'postgresql'" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
# The package may create and start a system cluster; the tests do not use it.
if command -v pg_lsclusters >/dev/null 2>&1; then
    $SUDO pg_ctlcluster --force "$(pg_lsclusters -h | awk 'NR==1{print $1}')" main stop 2>/dev/null || true
fi
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null
