#!/usr/bin/env bash
# The browser suite: real Asterisk stations (tests/e2e) with MikoPBX Core 2026.1's admin pages (tests/realcore's
# Core tree) served in the sid chroot, driven by Debian's headless Chromium through Playwright.
#   bash tests/browser/run.sh                  # setup (cached) + every test
#   bash tests/browser/run.sh -k pairing       # extra arguments go to pytest
# As root. Everything runs inside a network namespace of its own that has only lo (checked), like the
# stations; the browser also aborts every request whose host is not in 127.0.0.0/8. PBXFED_KEEP_RUN=1 keeps
# the stations' directories (<chroot>/pbxfed-run/r*). Prints SKIPPED and exits 0 without ../shared/vendor.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
. tests/realcore/lib.sh
if why="$(rc_inputs_missing)"; then
    echo "SKIPPED browser: $why"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "browser: must run as root (chroot, namespaces)" >&2; exit 1; }
bash tests/browser/setup.sh
ns="pbxfed-br$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
ip netns add "$ns"
trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" ip link set lo up
if ip netns exec "$ns" ip -o link show | grep -v ': lo:' | grep -q .; then
    echo "browser: network namespace $ns has more than lo" >&2
    exit 1
fi
mountpoint -q "$RC_CHROOT/proc" || mount -t proc proc "$RC_CHROOT/proc"
rm -f build/browser-figures.json
rc=0
ip netns exec "$ns" env PBXFED_BROWSER_NETNS="$ns" timeout 1500 .venv/bin/python -m pytest -p no:cacheprovider -o addopts="" tests/browser "$@" || rc=$?
[ -f build/browser-figures.json ] && echo "browser figures: $(tr -d '\n ' < build/browser-figures.json)"
exit $rc
