#!/bin/sh
# Make sure the system libraries WeasyPrint draws PDFs with (Pango, HarfBuzz via Pango) and a font
# family with wide Unicode cover (DejaVu) are present: reports/ renders letters and reports with them.
set -eu
if ldconfig -p | grep -q 'libpango-1.0.so.0' && ldconfig -p | grep -q 'libpangoft2-1.0.so.0' \
    && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    exit 0
fi
sh "$(dirname "$0")/apt_install.sh" libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
ldconfig -p | grep -q 'libpango-1.0.so.0'
