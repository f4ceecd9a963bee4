#!/usr/bin/env bash
# Runs the real-Core suite: PHPUnit inside the sid chroot against MikoPBX Core 2026.1.223 under the
# real Phalcon 5.18.1, with the module installed from this worktree into a fresh runtime tree.
#   bash tests/realcore/run.sh                 # setup (cached) + the whole suite
#   bash tests/realcore/run.sh --filter Volt   # extra arguments go to phpunit
#   bash tests/realcore/run.sh --exec CMD...   # run CMD in a fresh runtime instead (debugging)
#   bash tests/realcore/run.sh --render DB HOOKS OUTDIR   # Core renders pjsip.conf + extensions.conf from
#        that mikopbx.db and the module's hooks.json (module installed and enabled) into OUTDIR
# PBXFED_KEEP_RUN=1 keeps the runtime tree (<chroot>/pbxfed-run/realcore-r*) for inspection.
# Exits 0 with a SKIPPED line when the pinned sources (../shared/vendor) are absent.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

if why="$(rc_inputs_missing)"; then
    echo "SKIPPED realcore: $why"
    exit 0
fi
bash "$RC_HERE/setup.sh"
# shellcheck disable=SC1090
. "$(rc_env_file)"

rt_in="$(rc_new_runtime)"
trap 'rc_remove_runtime "$rt_in"' EXIT
read -r rp bp < <(rc_ports)
rc_write_settings "$rt_in" "$rp" "$bp"
cp "$RC_CHROOT$MIGRATED_DB" "$RC_CHROOT$rt_in/cf/conf/mikopbx.db"
rc_install_module_files "$rt_in"
rc_copy_harness "$rt_in"

if [ "${1:-}" = "--render" ]; then
    [ $# -eq 4 ] || rc_die "usage: run.sh --render <mikopbx.db> <hooks.json> <out dir>"
    mkdir -p "$RC_CHROOT$rt_in/render-in" "$4"
    cp "$2" "$RC_CHROOT$rt_in/render-in/mikopbx.db"
    cp "$3" "$RC_CHROOT$rt_in/render-in/hooks.json"
    rc=0
    rc_run_in_runtime "$rt_in" sh -c 'php "$PBXFED_RUNTIME/harness/lib/render_configs.php"' || rc=$?
    cp "$RC_CHROOT$rt_in"/render-in/out-*.conf "$4/" 2>/dev/null || true
    exit $rc
fi
if [ "${1:-}" = "--exec" ]; then
    shift
    rc_run_in_runtime "$rt_in" "$@"
    exit $?
fi
started=$(date +%s.%N)
rc=0
rc_run_in_runtime "$rt_in" timeout 900 phpunit -c "$rt_in/harness/phpunit.xml" "$@" || rc=$?
rc_log "phpunit exit $rc in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
exit $rc
