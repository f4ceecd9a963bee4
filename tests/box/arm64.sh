#!/usr/bin/env bash
# The built zip on an emulated aarch64 station: bookworm arm64's minimal python3.11 (tests/box/setup_arm64.sh) under
# qemu-user runs, from the unpacked zip in a station-shaped tree, `bin/pbxfed doctor` (the worker's whole import graph,
# SQLite, the aarch64 build of pyzmq's extension with CURVE, inotify through watchdog, ctypes through arm64 libffi,
# mikopbx.db read-only: tests/realcore's migrated DB) and a peer planned on that DB. The worker's own loop (`run`,
# `status`) and Core's installer are proven on x86_64 (tests/box/station.sh): the same bytecode, only the C pieces
# differ, and those are what this checks. Inside a network namespace with only lo.
#   bash tests/box/arm64.sh      (needs root; PBXFED_ZIP as for station.sh)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SR="${PBXFED_BOX_ARM64:-/var/cache/pbxfed/box311-arm64}"
RUNS="${PBXFED_BOX_RUNS:-/var/cache/pbxfed/box-runs}"
REALCORE_ENV=/var/cache/pbxfed/sid/opt/pbxfed-realcore/current.env
die() { echo "arm64: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
bash "$HERE/setup_arm64.sh"
version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$REPO/module.json")"
ZIP="${PBXFED_ZIP:-$REPO/build/dist/ModulePbxFederation-$version.zip}"
[ -f "$ZIP" ] || die "no $ZIP (scripts/build_zip.py --out build/dist)"

run="$RUNS/arm64-r$$-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
ns="pbxfed-a$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
cleanup() {
    ip netns delete "$ns" 2>/dev/null || true
    if [ "${PBXFED_KEEP_RUN:-0}" = 1 ]; then echo "arm64: kept $run" >&2; else rm -rf "${run:?}"; fi
}
trap cleanup EXIT
module="$run/storage/usbdisk1/mikopbx/custom_modules/ModulePbxFederation"
mkdir -p "$module" "$run/cf/conf"
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$ZIP" "$module"
chmod 755 "$module"/bin/*
db="$(sed -n 's/^MIGRATED_DB=//p' "$REALCORE_ENV" 2>/dev/null || true)"
if [ -n "$db" ] && [ -f "/var/cache/pbxfed/sid$db" ]; then
    cp "/var/cache/pbxfed/sid$db" "$run/cf/conf/mikopbx.db"
else
    PYTHONPATH="$REPO" python3 -c 'import sys; from tests.e2e.mikopbx_station import create_db; create_db(sys.argv[1]).close()' \
        "$run/cf/conf/mikopbx.db"
fi
cat >"$run/python3" <<SH
#!/bin/sh
exec "$SR.qemu/qemu-aarch64-static" -L "$SR" "$SR/usr/bin/python3.11" "\$@"
SH
chmod 755 "$run/python3"
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
if ip netns exec "$ns" ip -o link show | grep -v ': lo:' | grep -q .; then die "netns $ns has more than lo"; fi
in_ns() { ip netns exec "$ns" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PBXFED_PYTHON="$run/python3" \
    PBXFED_MIKOPBX_DB="$run/cf/conf/mikopbx.db" "$@"; }

# The bare emulated interpreter is minimal: what the doctor finds comes from the module, not from the host.
if in_ns "$run/python3" -I -c 'import json' 2>/dev/null; then die "the emulated python3 imports json by itself"; fi
started=$(date +%s.%N)
rc=0
in_ns sh "$module/bin/pbxfed" doctor >"$run/doctor.json" 2>"$run/doctor.err" || rc=$?
python3 - "$run/doctor.json" "$rc" "$module" <<'PY' || { cat "$run/doctor.err" >&2; exit 1; }
import json, sys
report = json.load(open(sys.argv[1]))
rc, module = int(sys.argv[2]), sys.argv[3]
failed = [c for c in report["checks"] if not c["ok"]]
assert rc == 0 and report["ok"] and not failed, f"doctor exit {rc}: {failed}"
py = report["python"]
assert py["machine"] == "aarch64" and py["version"].startswith("3.11."), py
assert py["runtime"][1] == module + "/python/cp311-aarch64", py["runtime"]
print("arm64: doctor passed on CPython", py["version"], py["machine"], py["libc"], "in", report["seconds"], "s:")
for c in report["checks"]:
    print(f"  {c['name']:<11} {c['seconds']:7.3f} s  {c['detail']}")
PY
# module.db is written with the zip's x86_64 runtime on this host's CPython 3.11 (quicker than emulated); the plan
# is made on aarch64.
P=(sh "$module/bin/pbxfed")
host_py=/usr/bin/python3.11
[ -x "$host_py" ] || host_py="$run/python3"
PBXFED_PYTHON="$host_py" PBXFED_MIKOPBX_DB="$run/cf/conf/mikopbx.db" "${P[@]}" init >/dev/null
PBXFED_PYTHON="$host_py" "${P[@]}" settings set --station-name moscow --own-patterns 2XX \
    --mikopbx-db "$run/cf/conf/mikopbx.db" >/dev/null
PBXFED_PYTHON="$host_py" "${P[@]}" peers add --name spb --host 127.0.0.3 --patterns 3XX \
    --secret a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6 --mikopbx-db "$run/cf/conf/mikopbx.db" >/dev/null
in_ns "${P[@]}" plan --json >"$run/plan.json"
python3 - "$run/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
text = json.dumps(plan)
assert "SIP-TRUNK-" in text and "spb" in text, text[:400]
print("arm64: peer spb planned on the migrated mikopbx.db (provider", text.split("SIP-TRUNK-")[1][:10] + ")")
PY
echo "arm64: took $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (under qemu-user, about 15x slower than natively)"
