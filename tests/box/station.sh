#!/usr/bin/env bash
# The built marketplace zip installed on an emulated MikoPBX station, by MikoPBX Core's own PHP:
# tests/box/lib/install_on_box.php runs in the real-Core harness (Core 2026.1.223 + Phalcon in the sid chroot,
# tests/realcore) with core.modulesDir = /storage/usbdisk1/mikopbx/custom_modules, and every python3 the module
# starts is the emulated station's: the bookworm box of tests/box/setup.sh (python3.11-minimal + lib-dynload only),
# seen at /pbxfed-box inside the sid chroot through an overlay (so nothing writes into it; --hide whiteouts make the
# refusal boxes) and entered by PBXFED_PYTHON=<runtime>/box-python (chroot /pbxfed-box python3). The station tree
# and Core's mikopbx.db (the migrated one of tests/realcore) are the same files on both sides.
#   bash tests/box/station.sh                      every case (what scripts/test.sh runs)
#   bash tests/box/station.sh install|no-python|no-python-ru|no-sqlite3|python314|measure|measure-arm64 ...
# (measure: the install's steps timed, bench/bench_box_install.py; measure-arm64: the same with every python3 the
# aarch64 one under qemu-user, an upper bound for a small ARM station's Python part)
# Needs root. Skips (exit 0, SKIPPED line) without the pinned Core sources, like tests/realcore.
# PBXFED_ZIP: the zip to install (default: build/dist/<zip>, built by scripts/build_zip.py when missing).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../realcore/lib.sh
. "$REPO/tests/realcore/lib.sh"
BOX="${PBXFED_BOX:-/var/cache/pbxfed/box311}"
STATION=/storage/usbdisk1/mikopbx
log() { echo "station: $*" >&2; }
die() { echo "station: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
if why="$(rc_inputs_missing)"; then
    echo "SKIPPED box station: $why"
    exit 0
fi
bash "$HERE/setup.sh"
bash "$RC_HERE/setup.sh" >/dev/null
# shellcheck disable=SC1090
. "$(rc_env_file)"

version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$REPO/module.json")"
ZIP="${PBXFED_ZIP:-$REPO/build/dist/ModulePbxFederation-$version.zip}"
if [ ! -f "$ZIP" ] || [ -z "${PBXFED_ZIP:-}" ]; then
    py="$REPO/.venv/bin/python"; [ -x "$py" ] || py=python3
    "$py" "$REPO/scripts/build_zip.py" --out "$(dirname "$ZIP")" >/dev/null
fi

# One case: a fresh Core runtime, a fresh station tree, the box (with HIDE whiteouts), then the driver.
#   run_case NAME PYTHON HIDE... -- DRIVER-ARGS...
run_case() {
    local name="$1" python="$2"; shift 2
    local hides=() rt_in rt rc=0 ns mounts f
    while [ "$1" != "--" ]; do hides+=("$1"); shift; done
    shift
    rt_in="$(rc_new_runtime)"
    rt="$RC_CHROOT$rt_in"
    read -r rp bp < <(rc_ports)
    rc_write_settings "$rt_in" "$rp" "$bp"
    python3 - "$rt/settings.json" "$STATION/custom_modules" <<'PY'
import json, sys
path, modules = sys.argv[1:3]
cfg = json.load(open(path))
cfg["core"]["modulesDir"] = modules
json.dump(cfg, open(path, "w"), indent=2)
PY
    cp "$RC_CHROOT$MIGRATED_DB" "$rt/cf/conf/mikopbx.db"
    if [ -n "${STATION_LANG:-}" ]; then  # the admin's language, which Core's installer shows refusals in
        python3 - "$rt/cf/conf/mikopbx.db" "$STATION_LANG" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DELETE FROM m_PbxSettings WHERE key = 'WebAdminLanguage'")
db.execute("INSERT INTO m_PbxSettings (key, value) VALUES ('WebAdminLanguage', ?)", (sys.argv[2],))
db.commit()
PY
    fi
    rc_copy_harness "$rt_in"
    mkdir -p "$rt/harness/box" "$rt/station/custom_modules" "$rt/box-bin" "$rt/box-upper" "$rt/box-work"
    cp "$HERE/lib/install_on_box.php" "$rt/harness/box/"
    cp "$ZIP" "$rt/module.zip"
    # Every python3 the module starts: the station's. Its environment is the station's too (env -i), plus what
    # bin/pbxfed hands the worker.
    cat >"$rt/box-python" <<'SH'
#!/bin/sh
exec chroot /pbxfed-box /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 HOME=/root PBXFED_MODULE_DIR="$PBXFED_MODULE_DIR" /usr/bin/python3 "$@"
SH
    # The worker asks Core to reload with `php -f <module>/Lib/ReloadCore.php -- <targets>`; the station box has
    # no PHP (Core's reload path is tests/realcore's): a recorder answers and writes what was asked.
    cat >"$rt/box-bin/php" <<SH
#!/bin/sh
echo "\$*" >>$STATION/reload-calls.log
exit 0
SH
    chmod 755 "$rt/box-python" "$rt/box-bin/php"
    for f in "${hides[@]}"; do
        [ -e "$BOX$f" ] || [ -L "$BOX$f" ] || die "$name: --hide $f is not in the box"
        mkdir -p "$rt/box-upper$(dirname "$f")"
        mknod "$rt/box-upper$f" c 0 0
    done
    cp "$RC_HERE/inner.sh" "$rt/inner.sh"
    mkdir -p "$RC_CHROOT/pbxfed-box" "$RC_CHROOT$STATION" "$RC_CHROOT/etc/inc"
    [ -f "$RC_CHROOT/etc/inc/mikopbx-settings.json" ] || rc_write_placeholder_settings
    mounts="mount --bind '$rt/settings.json' '$RC_CHROOT/etc/inc/mikopbx-settings.json'"
    for f in $RC_CORE_WRITABLE; do
        mkdir -p "$rt/core-writable/$f"
        mounts="$mounts && mount --bind '$rt/core-writable/$f' '$RC_CHROOT$CORE_DIR/$f'"
    done
    local boxroot="$RC_CHROOT/pbxfed-box"
    mounts="$mounts && mount --bind '$rt/station' '$RC_CHROOT$STATION'"
    mounts="$mounts && mount -t overlay overlay -o lowerdir='$BOX',upperdir='$rt/box-upper',workdir='$rt/box-work' '$boxroot'"
    mounts="$mounts && mkdir -p '$boxroot$STATION' '$boxroot/cf/conf' && mount -t proc proc '$boxroot/proc'"
    mounts="$mounts && mount --bind '$rt/station' '$boxroot$STATION' && mount --bind '$rt/cf/conf' '$boxroot/cf/conf'"
    mounts="$mounts && mount --bind '$rt/box-bin' '$boxroot/usr/local/bin'"
    ns="pbxfed-st$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
    ip netns add "$ns" || die "cannot create network namespace $ns"
    ip netns exec "$ns" ip link set lo up
    if ip netns exec "$ns" ip -o link show | grep -v ': lo:' | grep -q .; then
        ip netns delete "$ns"; die "network namespace $ns has more than lo"
    fi
    local pyvar="PBXFED_PYTHON=$python"
    [ "$python" = box ] && pyvar="PBXFED_PYTHON=$rt_in/box-python"
    if [ "$python" = arm64 ]; then  # the aarch64 station's python3 (tests/box/setup_arm64.sh) under qemu-user
        local sr="${PBXFED_BOX_ARM64:-/var/cache/pbxfed/box311-arm64}"
        bash "$HERE/setup_arm64.sh"
        mkdir -p "$RC_CHROOT/pbxfed-box-arm64" "$RC_CHROOT/pbxfed-box-arm64.qemu" "$sr/cf/conf"
        mounts="$mounts && mount --bind '$sr' '$RC_CHROOT/pbxfed-box-arm64' && mount --bind '$sr.qemu' '$RC_CHROOT/pbxfed-box-arm64.qemu'"
        # qemu -L finds /cf/conf in the sysroot first: the station's mikopbx.db there
        mounts="$mounts && mount --bind '$rt/cf/conf' '$RC_CHROOT/pbxfed-box-arm64/cf/conf'"
        printf '#!/bin/sh\nexec /pbxfed-box-arm64.qemu/qemu-aarch64-static -L /pbxfed-box-arm64 /pbxfed-box-arm64/usr/bin/python3.11 "$@"\n' \
            >"$rt/arm64-python"
        chmod 755 "$rt/arm64-python"
        pyvar="PBXFED_PYTHON=$rt_in/arm64-python"
    fi
    log "$name: installing $(basename "$ZIP") into $STATION/custom_modules"
    ip netns exec "$ns" unshare -m --propagation private sh -c "$mounts"' && exec chroot "$@"' \
        sh "$RC_CHROOT" /bin/sh "$rt_in/inner.sh" "$rt_in" \
        env "$pyvar" php "$rt_in/harness/box/install_on_box.php" "$1" "$rt_in/module.zip" "${@:2}" >"$rt/result.json" \
        2>"$rt/driver.err" || rc=$?
    ip netns delete "$ns" 2>/dev/null || true
    # The worker is the case's own process: stop it by its PID if the driver could not.
    local pid
    pid="$(cat "$rt/station/custom_modules/ModulePbxFederation/db/state/worker.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q python_worker; then
        kill "$pid" 2>/dev/null || true
    fi
    echo "== $name: $(tail -n 1 "$rt/result.json" 2>/dev/null)"
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$rt/driver.err" >&2 || true
        tail -n 20 "$rt/station/custom_modules/ModulePbxFederation/db/state/worker.log" >&2 2>/dev/null || true
    fi
    rc_remove_runtime "$rt_in"
    return "$rc"
}

DYN=/usr/lib/python3.11/lib-dynload
cases=("${@:-install no-python no-python-ru no-sqlite3 python314}")
# shellcheck disable=SC2206
cases=(${cases[*]})
failed=0
for c in "${cases[@]}"; do
    case "$c" in
        install) run_case install box -- install || failed=1 ;;
        measure) run_case measure box -- measure || failed=1 ;;
        measure-arm64) run_case measure-arm64 arm64 -- measure || failed=1 ;;
        no-python) run_case no-python box /usr/bin/python3 /usr/bin/python3.11 -- refuse "No python3 was found" \
            "CPython 3.11 (aarch64, x86_64)" || failed=1 ;;
        no-python-ru) STATION_LANG=ru run_case no-python-ru box /usr/bin/python3 /usr/bin/python3.11 -- refuse \
            "На станции не найден python3" "CPython 3.11 (aarch64, x86_64)" || failed=1 ;;
        no-sqlite3) run_case no-sqlite3 box "$DYN/_sqlite3.cpython-311-x86_64-linux-gnu.so" -- refuse "_sqlite3" \
            || failed=1 ;;
        python314) run_case python314 /usr/bin/python3.14 -- refuse "CPython 3.14" "CPython 3.11 (aarch64, x86_64)" \
            || failed=1 ;;
        *) die "unknown case $c" ;;
    esac
done
[ "$failed" = 0 ] && log "all cases passed" || die "a case failed"
