#!/bin/sh
# Make sure the system libraries WeasyPrint draws PDFs with (Pango, HarfBuzz via Pango) and a font
# family with wide Unicode cover (DejaVu) are present: reports/ renders letters and reports with them.
set -eu
if ldconfig -p | grep -q 'libpango-1.0.so.0' && ldconfig -p | grep -q 'libpangoft2-1.0.so.0' \
    && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "Pango or the DejaVu fonts not found: installing libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null
ldconfig -p | grep -q 'libpango-1.0.so.0'
