#!/bin/sh
# ModulePbxFederation safe-script, run by cron every minute (createCronTasks): starts the worker when it is not
# running (bin/pbxfed start does nothing when it runs).
#   safe.sh          start the worker if it is not running
#   safe.sh status   exit 0 when running, 1 when not
PBXFED="$(cd "$(dirname "$0")" && pwd)/pbxfed"
if [ "$1" = "status" ]; then
    if "$PBXFED" running; then echo "running"; exit 0; fi
    echo "stopped"
    exit 1
fi
exec "$PBXFED" start
