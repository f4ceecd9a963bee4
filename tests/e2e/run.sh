#!/usr/bin/env bash
# Install (or reuse) the Asterisk 22 + SIPp chroot, then run the end-to-end suite.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bash "$here/setup_asterisk.sh"
py="$repo/.venv/bin/python"
[ -x "$py" ] || py="$(command -v python3)"
cd "$repo"
exec timeout 1500 "$py" -m pytest -m e2e tests/e2e -p no:cacheprovider "$@"
