#!/usr/bin/env bash
# Creates (or reuses) the project's virtualenv in .venv with the worker and its dev tools.
# Idempotent: a second run only checks. Needs python3 >= 3.10 with venv and pip.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "python3 >= 3.10 is required")'
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.pbxfed-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
    touch "$stamp"
fi
