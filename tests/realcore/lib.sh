# Shared by tests/realcore/setup.sh and run.sh (sourced, bash).
# The real-Core harness: MikoPBX Core's PHP at a release tag, the real Phalcon extension, redis and
# beanstalkd, all inside the Debian sid chroot the e2e suite uses. Nothing here talks to anything but
# 127.0.0.1 inside a network namespace of its own.

RC_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RC_REPO="$(cd "$RC_HERE/../.." && pwd)"
RC_CHROOT="${PBXFED_CHROOT:-/var/cache/pbxfed/sid}"
# Pinned third-party inputs (read at test time only, never copied into the repository).
RC_VENDOR="${PBXFED_VENDOR:-$(cd "$RC_REPO" && git rev-parse --show-toplevel 2>/dev/null || echo "$RC_REPO")/../shared/vendor}"
RC_CORE_TAG=2026.1.223
RC_OLD_TAG=2024.1.114
RC_PHALCON_VERSION=5.18.1
RC_PHP_API=20240924
# Cache inside the chroot (path as seen from inside, and from the host).
RC_CACHE_IN=/opt/pbxfed-realcore
RC_CACHE="$RC_CHROOT$RC_CACHE_IN"
RC_RUNS_IN=/pbxfed-run
# Directories inside Core's tree that Core's module installer writes (PbxExtensionUtils: asset and view links).
RC_CORE_WRITABLE="sites/admin-cabinet/assets/img/cache sites/admin-cabinet/assets/css/cache sites/admin-cabinet/assets/js/cache src/AdminCabinet/Views/Modules"
# python3-*: the worker runs in the runtime with the chroot's python3 and Debian's packages of its dependencies
# (PBXFED_PYTHON; the box's own Python is tests/box's subject); sqlite3: the CLI a station has (bin/safe.sh reads the
# module's state with it).
RC_PACKAGES="php8.4-cli php8.4-sqlite3 php8.4-mbstring php8.4-curl php8.4-xml php8.4-zip php8.4-redis phpunit redis-server beanstalkd python3-sqlalchemy python3-jinja2 python3-zmq python3-watchdog sqlite3"

rc_log() { echo "realcore: $*" >&2; }
rc_die() { echo "realcore: $*" >&2; exit 1; }

# Prints why the stage cannot run (and returns 1) when the pinned sources are not there.
rc_inputs_missing() {
    local f
    if [ ! -d "$RC_VENDOR" ]; then
        echo "the pinned third-party sources are absent ($RC_VENDOR does not exist: a clone without ../shared/vendor)"
        return 0
    fi
    for f in "mikopbx-core-$RC_CORE_TAG.tar.xz" "mikopbx-core-$RC_OLD_TAG.tar.xz" mikopbx-core-vendor-php.tar.xz \
             "mikopbx-core-$RC_CORE_TAG-default.db.xz" cphalcon-ext.tar.xz; do
        if [ ! -r "$RC_VENDOR/$f" ]; then
            echo "$RC_VENDOR/$f is missing"
            return 0
        fi
    done
    return 1
}

rc_sha12() { sha256sum "$1" | cut -c1-12; }

# sha256 (12 hex) of several files' contents, in the order given.
rc_sha12_of() { cat "$@" | sha256sum | cut -c1-12; }

rc_in_chroot() { chroot "$RC_CHROOT" "$@"; }

rc_env_file() { echo "$RC_CACHE/current.env"; }

# Creates a fresh runtime tree <chroot>/pbxfed-run/realcore-r<pid>-<hex> and prints its in-chroot path.
# Every directory Core's settings name is relocated into it (Core's own settings file is the template),
# the migrated mikopbx.db is copied in and the module is installed as Core expects it on disk.
rc_new_runtime() {
    local id rt_in rt
    id="realcore-r$$-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
    rt_in="$RC_RUNS_IN/$id"
    rt="$RC_CHROOT$rt_in"
    mkdir -p "$rt"
    echo "$rt_in"
}

# Writes <rt>/settings.json and creates the directories. Args: runtime (in-chroot path), redis port, beanstalk port.
rc_write_settings() {
    local rt_in="$1" redis_port="$2" bs_port="$3"
    python3 - "$RC_CHROOT" "$rt_in" "$redis_port" "$bs_port" "$RC_CACHE/core-current/src/Core/System/RootFS/etc/inc/mikopbx-settings.json" <<'PY'
import json, os, sys
chroot, rt, redis_port, bs_port, template = sys.argv[1:6]
with open(template, encoding="utf-8") as f:
    cfg = json.load(f)
dirs, files = set(), set()

def relocate(section, key, value):
    if not isinstance(value, str) or not value.startswith("/") or key == "baseUri":
        return value
    new = rt + value
    (files if os.path.splitext(value)[1] in (".db", ".log", ".sqlite3") else dirs).add(new)
    return new

for section, values in cfg.items():
    if isinstance(values, dict):
        for key, value in list(values.items()):
            values[key] = relocate(section, key, value)
# Names the harness and the tests rely on.
cfg["core"]["modulesDir"] = rt + "/custom_modules"
cfg["database"]["dbfile"] = rt + "/cf/conf/mikopbx.db"
dirs.add(rt + "/custom_modules")
cfg["redis"] = {"host": "127.0.0.1", "port": int(redis_port)}
cfg["beanstalk"] = {"host": "127.0.0.1", "port": int(bs_port)}
cfg["adminApplication"]["debugMode"] = False  # debug mode points the admin JS at a developer's address
for sect in ("database", "cdrDatabase", "recordingStorageDatabase", "modulesDatabases", "core"):
    if sect in cfg and "debugMode" in cfg[sect]:
        cfg[sect]["debugMode"] = False
cfg["sentry"]["dsn"] = ""
cfg.setdefault("gnats", {})["host"] = "127.0.0.1"
for d in dirs:
    os.makedirs(chroot + d, exist_ok=True)
for f in files:
    os.makedirs(os.path.dirname(chroot + f), exist_ok=True)
with open(chroot + rt + "/settings.json", "w", encoding="utf-8") as f:
    json.dump(cfg, f, indent=2)
PY
}

# Installs the module's files from the worktree as Core keeps them: <modulesDir>/ModulePbxFederation.
rc_install_module_files() {
    local rt="$RC_CHROOT$1" dst
    dst="$rt/custom_modules/ModulePbxFederation"
    rm -rf "$dst"
    mkdir -p "$dst/db"
    (cd "$RC_REPO" && cp -a module.json Setup Lib Models App Messages public bin python_worker "$dst/")
    [ ! -d "$RC_REPO/python" ] || cp -a "$RC_REPO/python" "$dst/"
    find "$dst/python_worker" -name __pycache__ -prune -exec rm -rf {} +
}

# The harness (bootstrap, helpers, tests) as <runtime>/harness: the repository is not visible in the chroot.
rc_copy_harness() {
    local rt="$RC_CHROOT$1"
    rm -rf "$rt/harness" && mkdir -p "$rt/harness"
    cp -a "$RC_HERE/bootstrap.php" "$RC_HERE/lib" "$rt/harness/"
    [ -d "$RC_HERE/tests" ] && cp -a "$RC_HERE/tests" "$rt/harness/"
    [ -f "$RC_HERE/phpunit.xml" ] && cp -a "$RC_HERE/phpunit.xml" "$rt/harness/"
    return 0
}

# Picks a free-looking port pair; inside our own netns every port is free anyway.
rc_ports() {
    local base=$(( 20000 + ($$ % 20000) ))
    echo "$base $(( base + 1 ))"
}

# Runs a command inside the chroot, in a network namespace of its own (only lo), with the runtime's
# settings.json bind-mounted over the chroot's /etc/inc/mikopbx-settings.json in a private mount
# namespace (so concurrent runs never see each other's settings), redis-server and beanstalkd started
# for the run and stopped by PID at the end. Args: runtime (in-chroot path), command...
rc_run_in_runtime() {
    local rt_in="$1"; shift
    local ns="pbxfed-rc$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')" rc=0
    if ! ip netns add "$ns" 2>/dev/null; then
        rc_die "cannot create network namespace $ns (root and iproute2 needed)"
    fi
    ip netns exec "$ns" ip link set lo up
    # Only lo may exist in our namespace (checked, so nothing can leave the machine).
    if ip netns exec "$ns" ip -o link show | grep -v ': lo:' | grep -q .; then
        ip netns delete "$ns"; rc_die "network namespace $ns has more than lo"
    fi
    mkdir -p "$RC_CHROOT/etc/inc"
    [ -f "$RC_CHROOT/etc/inc/mikopbx-settings.json" ] || rc_write_placeholder_settings
    cp "$RC_HERE/inner.sh" "$RC_CHROOT$rt_in/inner.sh"
    # shellcheck disable=SC1090
    . "$(rc_env_file)"
    local mounts="mount --bind '$RC_CHROOT$rt_in/settings.json' '$RC_CHROOT/etc/inc/mikopbx-settings.json'" d
    for d in $RC_CORE_WRITABLE; do
        mkdir -p "$RC_CHROOT$rt_in/core-writable/$d"
        mounts="$mounts && mount --bind '$RC_CHROOT$rt_in/core-writable/$d' '$RC_CHROOT$CORE_DIR/$d'"
    done
    ip netns exec "$ns" unshare -m --propagation private \
        sh -c "$mounts"' && exec chroot "$@"' \
        sh "$RC_CHROOT" /bin/sh "$rt_in/inner.sh" "$rt_in" "$@" || rc=$?
    ip netns delete "$ns" 2>/dev/null || true
    return $rc
}

# The chroot's own /etc/inc/mikopbx-settings.json: only a mount point, overlaid per run.
rc_write_placeholder_settings() {
    mkdir -p "$RC_CHROOT/etc/inc"
    cat >"$RC_CHROOT/etc/inc/mikopbx-settings.json" <<'JSON'
{"_comment": "ModulePbxFederation tests/realcore: every run bind-mounts its own settings over this file (pbxfed-run/realcore-*/settings.json) in a private mount namespace; this copy is never read by a test", "core": {"modulesDir": "/nonexistent"}}
JSON
}

rc_remove_runtime() {
    local rt_in="$1"
    case "$rt_in" in "$RC_RUNS_IN"/realcore-r*) ;; *) rc_die "refusing to remove $rt_in" ;; esac
    if [ "${PBXFED_KEEP_RUN:-0}" = 1 ]; then
        rc_log "kept $RC_CHROOT$rt_in (PBXFED_KEEP_RUN=1)"
    else
        rm -rf "${RC_CHROOT:?}$rt_in"
    fi
}
