#!/bin/sh
# ModulePbxFederation safe-script, run by cron every minute (createCronTasks): starts the worker when it is not
# running (bin/pbxfed start does nothing when it runs) and the module is enabled.
#   safe.sh          start the worker if it is not running and the module is enabled
#   safe.sh status   exit 0 when running, 1 when not
# Core rebuilds the crontab without the module's line only some time after a disable (WorkerModelsEvents), and an
# upgrade keeps the federation's rows while the module is disabled: so the module's state is read first, from
# m_PbxExtensionModules with the station's sqlite3 (read-only). Without sqlite3 the worker refuses to run itself.
PBXFED="$(cd "$(dirname "$0")" && pwd)/pbxfed"
DB="${PBXFED_MIKOPBX_DB:-/cf/conf/mikopbx.db}"  # python_worker/contract.json "mikopbx_db"
if [ "$1" = "status" ]; then
    if "$PBXFED" running; then echo "running"; exit 0; fi
    echo "stopped"
    exit 1
fi
if command -v sqlite3 >/dev/null 2>&1; then
    state=$(sqlite3 -readonly -cmd ".timeout 3000" "$DB" \
        "SELECT disabled FROM m_PbxExtensionModules WHERE uniqid = 'ModulePbxFederation'" 2>/dev/null)
    # '0' = enabled; '1', no row (being installed or removed) or an unreadable DB: not now.
    [ "$state" = "0" ] || exit 0
fi
exec "$PBXFED" start
