#!/usr/bin/env bash
# Idempotent setup of the browser suite (as root): the real-Core harness (tests/realcore/setup.sh: sid chroot,
# PHP 8.4, Phalcon, Core 2026.1.223, migrated DB), Debian's chromium on this machine (apt-get install only; no
# browser download) and Playwright for Python in the repository's .venv (its wheel ships the driver; it is
# pointed at /usr/bin/chromium). A second run only checks (about a second).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
PLAYWRIGHT_VERSION=1.65.2
bash tests/realcore/setup.sh
if ! dpkg-query -W -f='${Status}\n' chromium fonts-dejavu-core 2>/dev/null | grep -c 'install ok installed' | grep -qx 2; then
    if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        timeout 600 apt-get update -qq -o DPkg::Lock::Timeout=300
    fi
    echo "browser: apt-get install chromium fonts-dejavu-core" >&2
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 chromium fonts-dejavu-core >/dev/null
fi
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$PLAYWRIGHT_VERSION')" 2>/dev/null; then
    echo "browser: pip install playwright==$PLAYWRIGHT_VERSION" >&2
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 .venv/bin/python -m pip install -q --disable-pip-version-check \
        "playwright==$PLAYWRIGHT_VERSION"
fi
[ -x /usr/bin/chromium ] || { echo "browser: /usr/bin/chromium missing" >&2; exit 1; }
