#!/bin/sh
# Runs inside the sid chroot, in the run's own network namespace (only lo) and mount namespace.
# Starts redis-server and beanstalkd on 127.0.0.1 at the ports the run's settings name, records their
# PIDs, runs the command with PHP set up for Core (Phalcon loaded after PDO), then stops both by PID.
# Usage: inner.sh <runtime dir> <command...>
set -u
RT="$1"; shift
. /opt/pbxfed-realcore/current.env

settings_port() {
    php -r '$c = json_decode(file_get_contents("/etc/inc/mikopbx-settings.json"), true); echo $c[$argv[1]]["port"];' "$1"
}
REDIS_PORT=$(settings_port redis)
BS_PORT=$(settings_port beanstalk)
case "$REDIS_PORT$BS_PORT" in *[!0-9]*|"") echo "inner: bad ports in settings" >&2; exit 1 ;; esac

mkdir -p "$RT/services"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --dir "$RT/services" --logfile "$RT/services/redis.log" &
REDIS_PID=$!
echo "$REDIS_PID" >"$RT/services/redis.pid"
beanstalkd -l 127.0.0.1 -p "$BS_PORT" >"$RT/services/beanstalkd.log" 2>&1 &
BS_PID=$!
echo "$BS_PID" >"$RT/services/beanstalkd.pid"

stop_services() {
    for pid in "$REDIS_PID" "$BS_PID"; do
        kill "$pid" 2>/dev/null || true
    done
    i=0
    while [ $i -lt 50 ] && { kill -0 "$REDIS_PID" 2>/dev/null || kill -0 "$BS_PID" 2>/dev/null; }; do
        sleep 0.1; i=$((i + 1))
    done
    for pid in "$REDIS_PID" "$BS_PID"; do
        kill -9 "$pid" 2>/dev/null || true
    done
}
trap 'stop_services; exit 130' INT TERM

# Bounded wait (5 s) until both answer.
i=0
until redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG \
    && php -r 'exit(@fsockopen("127.0.0.1", (int)$argv[1]) ? 0 : 1);' "$BS_PORT"; do
    i=$((i + 1))
    if [ $i -ge 50 ]; then
        echo "inner: redis/beanstalkd did not start (see $RT/services)" >&2
        stop_services; exit 1
    fi
    sleep 0.1
done

export PBXFED_RUNTIME="$RT" PBXFED_CORE_DIR="$CORE_DIR" PBXFED_CORE_OLD_DIR="$CORE_OLD_DIR" \
    PBXFED_MIGRATED_DB="$MIGRATED_DB" PHP_INI_SCAN_DIR=":$PHP_CONF_DIR" \
    PBXFED_REDIS_PORT="$REDIS_PORT" PBXFED_BEANSTALK_PORT="$BS_PORT"
cd "$RT" || exit 1
"$@"
rc=$?
stop_services
exit $rc
