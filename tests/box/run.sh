#!/usr/bin/env bash
# The stage of scripts/test.sh for the station's own Python (needs root):
#   1. the emulated x86_64 station (tests/box/setup.sh: bookworm, python3.11-minimal + lib-dynload only);
#   2. tests/box/check_imports.py: every stdlib module python_worker imports anywhere is on it or in the zip;
#   3. tests/box/station.sh: the built zip installed by Core 2026.1's own code into
#      /storage/usbdisk1/mikopbx/custom_modules, enabled, the worker applying a peer into the migrated mikopbx.db and
#      answering status; the refusal boxes (no python3 in en and ru, no _sqlite3, CPython 3.14);
#   4. tests/box/arm64.sh: the same zip's doctor and a plan on bookworm arm64's minimal python3.11 under qemu-user.
# The zip is build/dist/<zip> (scripts/build_zip.py; tests/php/run.sh builds it, else it is built here).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
started=$(date +%s)
bash "$here/setup.sh"
py="$repo/.venv/bin/python"
[ -x "$py" ] || py="$(command -v python3)"
timeout 120 "$py" "$here/check_imports.py"
timeout 900 bash "$here/station.sh" "$@"
timeout 900 bash "$here/arm64.sh"
echo "box: all passed in $(( $(date +%s) - started )) s"
