#!/usr/bin/env bash
# The main job: set up, then build the manual's two-station example (Moscow 2XX, St Petersburg 3XX)
# as real MikoPBX-schema SQLite DBs, plan and render both, and print what each station gets.
# Extra arguments go to the demo command (e.g. --three, --lang ru, --out DIR).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
cd "$repo"
exec .venv/bin/python -m python_worker demo --out out/demo "$@"
