#!/bin/sh
# ModulePbxFederation safe-script, run by cron every minute (createCronTasks):
# starts the Python worker when it is not running. The command line and the pid file must stay
# identical to Lib/WorkerClient.php (runArgs, pidFile); tests/php checks that they are.
#   safe.sh          start the worker if it is not running
#   safe.sh status   exit 0 when running, 1 when not
MODULE_DIR=$(cd "$(dirname "$0")/.." && pwd)
STATE_DIR="$MODULE_DIR/db/state"
PYTHON="$MODULE_DIR/venv/bin/python"
PID_FILE="$STATE_DIR/worker.pid"
LOG_FILE="$STATE_DIR/worker.log"
MIKOPBX_DB="${PBXFED_MIKOPBX_DB:-/cf/conf/mikopbx.db}"

is_running() {
    [ -f "$PID_FILE" ] || return 1
    pid=$(cat "$PID_FILE" 2>/dev/null)
    case "$pid" in ''|*[!0-9]*) return 1 ;; esac
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\000' ' ' < "/proc/$pid/cmdline" | grep -q 'python_worker'
}

if is_running; then
    [ "$1" = "status" ] && echo "running"
    exit 0
fi
if [ "$1" = "status" ]; then
    echo "stopped"
    exit 1
fi
if [ ! -x "$PYTHON" ]; then
    echo "ModulePbxFederation: $PYTHON is missing; enable the module again to rebuild it" >&2
    exit 1
fi
mkdir -p "$STATE_DIR"
nohup "$PYTHON" -m python_worker run \
    --mikopbx-db "$MIKOPBX_DB" \
    --module-db "$MODULE_DIR/db/module.db" \
    --state-dir "$STATE_DIR" \
    --reload-cmd php-core \
    --sync-bind 0.0.0.0 --sync-port 7787 \
    --status-cmd "/usr/sbin/asterisk -rx 'pjsip show contacts'" \
    --hints-cmd "/usr/sbin/asterisk -rx 'core show hints'" \
    --devstate-cmd "/usr/sbin/asterisk -rx 'devstate change {device} {state}'" \
    </dev/null >>"$LOG_FILE" 2>&1 &
echo $! > "$PID_FILE"
exit 0
