#!/usr/bin/env bash
# The station's-minimal-Python check: builds (or reuses) the bookworm box with python3.11-minimal +
# lib-dynload (tests/box/setup.sh), then tests/box/stdlib_gaps.py --check: the worker's real import graph,
# its C pieces and its commands (a real `run` answering `status`) work on that Python with exactly the
# pure-Python stdlib modules listed in tests/box/stdlib-needed.txt added, also from zips, and a box
# without python3 has none. Needs root; the wheel cache (build/wheels-cache) is built by tests/php/run.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bash "$here/setup.sh"
py="$repo/.venv/bin/python"
[ -x "$py" ] || py="$(command -v python3)"
exec timeout 1200 "$py" "$here/stdlib_gaps.py" --check "$here/stdlib-needed.txt" "$@"
