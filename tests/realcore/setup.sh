#!/usr/bin/env bash
# Idempotent setup of the real-Core harness inside the shared Debian sid chroot:
#  - the chroot itself (tests/e2e/setup_asterisk.sh) and PHP 8.4 + phpunit + redis-server + beanstalkd
#    (apt-get install only, never a removal);
#  - Phalcon 5.18.1: the prebuilt extension when the chroot's PHP API is 20240924, else built from the
#    pinned C sources (about 32 minutes on 2 cores), cached by the tarball's sha256 + PHP's extension dir;
#  - MikoPBX Core 2026.1.223 (booted by the tests) and 2024.1.114 (read and linted only) unpacked, plus the
#    pinned Composer packages and a generated vendor/autoload.php;
#  - Core's default mikopbx.db migrated once by Core's own UpdateDatabase, cached.
# Every slow step is keyed by the content of its inputs; a re-run with nothing changed takes about a second.
# When the pinned sources (../shared/vendor) are absent it prints SKIPPED with the reason and exits 0.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

if why="$(rc_inputs_missing)"; then
    echo "SKIPPED realcore setup: $why"
    exit 0
fi
[ "$(id -u)" = 0 ] || rc_die "must run as root (chroot, apt-get in the chroot, network namespaces)"
t0=$(date +%s.%N)
step() { rc_log "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%6.1fs", b-a}') $*"; }

# 1. The shared sid chroot.
if [ ! -f "$RC_CHROOT/.pbxfed-ready" ]; then
    step "creating the sid chroot (tests/e2e/setup_asterisk.sh)"
    PBXFED_CHROOT="$RC_CHROOT" bash "$RC_REPO/tests/e2e/setup_asterisk.sh"
fi
# Shared with other runs: mount /proc when missing and leave it mounted.
mountpoint -q "$RC_CHROOT/proc" || mount -t proc proc "$RC_CHROOT/proc"

# 2. Packages (install only).
missing=""
# shellcheck disable=SC2086
installed="$(rc_in_chroot dpkg-query -W -f='${Package} ${Status}\n' $RC_PACKAGES 2>/dev/null || true)"
for p in $RC_PACKAGES; do
    echo "$installed" | grep -qx "$p install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    step "apt-get install$missing (in the chroot)"
    if ! rc_in_chroot apt-cache policy php8.4-cli 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        timeout 600 chroot "$RC_CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -o DPkg::Lock::Timeout=600 \
            >"$RC_CHROOT.realcore-apt.log" 2>&1 || rc_die "apt-get update failed, see $RC_CHROOT.realcore-apt.log"
    fi
    # shellcheck disable=SC2086
    timeout 900 chroot "$RC_CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=600 $missing >>"$RC_CHROOT.realcore-apt.log" 2>&1 \
        || rc_die "apt-get install failed, see $RC_CHROOT.realcore-apt.log"
fi
mkdir -p "$RC_CACHE"

# 3. Phalcon.
php_api="$(rc_in_chroot php -i | sed -n 's/^PHP API => //p')"
ext_dir="$(rc_in_chroot php -r 'echo ini_get("extension_dir");')"
prebuilt="$RC_VENDOR/phalcon-$RC_PHALCON_VERSION-php8.4-x86_64.so.xz"
if [ "$php_api" = "$RC_PHP_API" ] && [ "$(uname -m)" = x86_64 ] && [ -r "$prebuilt" ]; then
    ph_key="prebuilt-$(rc_sha12 "$prebuilt")"
    ph_dir="$RC_CACHE/phalcon/$ph_key"
    if [ ! -f "$ph_dir/.ready" ]; then
        step "Phalcon: the prebuilt extension (PHP API $php_api)"
        mkdir -p "$ph_dir"
        xz -dc "$prebuilt" >"$ph_dir/phalcon.so"
        touch "$ph_dir/.ready"
    fi
else
    ph_key="build-$(rc_sha12 "$RC_VENDOR/cphalcon-ext.tar.xz")-$(echo -n "$ext_dir" | sha256sum | cut -c1-12)"
    ph_dir="$RC_CACHE/phalcon/$ph_key"
    if [ ! -f "$ph_dir/.ready" ]; then
        step "Phalcon: building from cphalcon-ext.tar.xz for PHP API $php_api ($ext_dir): about 32 minutes on 2 cores"
        timeout 900 chroot "$RC_CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            -o DPkg::Lock::Timeout=600 php8.4-dev make gcc >>"$RC_CHROOT.realcore-apt.log" 2>&1 \
            || rc_die "apt-get install php8.4-dev make gcc failed"
        rm -rf "$ph_dir.build" && mkdir -p "$ph_dir.build"
        tar -xJf "$RC_VENDOR/cphalcon-ext.tar.xz" -C "$ph_dir.build"
        bdir_in="${ph_dir#"$RC_CHROOT"}.build/cphalcon-5.x/ext"
        timeout 3600 chroot "$RC_CHROOT" sh -c "cd '$bdir_in' && phpize && ./configure --enable-phalcon && make -j$(nproc)" \
            >"$ph_dir.build.log" 2>&1 || rc_die "Phalcon build failed, see $ph_dir.build.log"
        mkdir -p "$ph_dir"
        cp "$ph_dir.build/cphalcon-5.x/ext/modules/phalcon.so" "$ph_dir/phalcon.so"
        strip --strip-debug "$ph_dir/phalcon.so" || true
        rm -rf "$ph_dir.build"
        touch "$ph_dir/.ready"
    fi
fi
ph_dir_in="${ph_dir#"$RC_CHROOT"}"
# PDO's ini is 10-pdo.ini: 50- sorts after it, so PDO is loaded before Phalcon.
echo "extension=$ph_dir_in/phalcon.so" >"$ph_dir/50-phalcon.ini"
got="$(rc_in_chroot env PHP_INI_SCAN_DIR=":$ph_dir_in" php -r 'echo (new Phalcon\Support\Version())->get();' 2>&1)"
[ "$got" = "$RC_PHALCON_VERSION" ] || rc_die "Phalcon does not load: $got"

# 4. Core sources + Composer packages + autoloader.
core_key="$RC_CORE_TAG-$(rc_sha12_of "$RC_VENDOR/mikopbx-core-$RC_CORE_TAG.tar.xz" "$RC_VENDOR/mikopbx-core-vendor-php.tar.xz" "$RC_HERE/lib/make_autoload.php")"
core_dir="$RC_CACHE/core/$core_key"
if [ ! -f "$core_dir/.ready" ]; then
    step "unpacking Core $RC_CORE_TAG and the Composer packages into $core_dir"
    rm -rf "$core_dir" && mkdir -p "$core_dir"
    tar -xJf "$RC_VENDOR/mikopbx-core-$RC_CORE_TAG.tar.xz" -C "$core_dir" --strip-components=1
    tar -xJf "$RC_VENDOR/mikopbx-core-vendor-php.tar.xz" -C "$core_dir"
    cp "$RC_HERE/lib/make_autoload.php" "$core_dir/make_autoload.php"
    rc_in_chroot php "${core_dir#"$RC_CHROOT"}/make_autoload.php" "${core_dir#"$RC_CHROOT"}/vendor" >&2
    touch "$core_dir/.ready"
fi
old_key="$RC_OLD_TAG-$(rc_sha12 "$RC_VENDOR/mikopbx-core-$RC_OLD_TAG.tar.xz")"
old_dir="$RC_CACHE/core/$old_key"
if [ ! -f "$old_dir/.ready" ]; then
    step "unpacking Core $RC_OLD_TAG (read and lint only) into $old_dir"
    rm -rf "$old_dir" && mkdir -p "$old_dir"
    tar -xJf "$RC_VENDOR/mikopbx-core-$RC_OLD_TAG.tar.xz" -C "$old_dir" --strip-components=1
    touch "$old_dir/.ready"
fi
# Where Core's installer puts a module's asset and view links: empty mount points here, each run
# bind-mounts its own directories over them (rc_run_in_runtime), so the shared copy never changes.
for d in $RC_CORE_WRITABLE; do mkdir -p "$core_dir/$d"; done
ln -sfn "core/$core_key" "$RC_CACHE/core-current"

# PHP's settings on a station: Core's RootFS/etc/php.d/50-mikopbx.ini (include_path with Core's Config dir,
# where every worker and script finds Globals.php; warnings and notices not reported; no time limit),
# with the paths of this Core tree. MikoPBX's own mikopbx.so extension, sessions and uploads are left out.
conf_dir="$RC_CACHE/conf.d"
mkdir -p "$conf_dir"
echo "extension=$ph_dir_in/phalcon.so" >"$conf_dir/50-phalcon.ini"
station_ini="$core_dir/src/Core/System/RootFS/etc/php.d/50-mikopbx.ini"
[ -f "$station_ini" ] || rc_die "Core has no $station_ini"
core_in="${core_dir#"$RC_CHROOT"}"
grep -E '^(include_path|display_errors|log_errors|error_reporting|html_errors|max_execution_time|register_argc_argv|default_charset) *=' "$station_ini" \
    | sed "s|/usr/www/|$core_in/|g" >"$conf_dir/60-mikopbx-station.ini"
grep -q '^include_path' "$conf_dir/60-mikopbx-station.ini" || rc_die "no include_path in $station_ini"

write_env() {
    cat >"$RC_CACHE/current.env.tmp" <<EOF
# written by tests/realcore/setup.sh
CORE_DIR=${core_dir#"$RC_CHROOT"}
CORE_OLD_DIR=${old_dir#"$RC_CHROOT"}
PHP_CONF_DIR=${conf_dir#"$RC_CHROOT"}
MIGRATED_DB=$1
EOF
    mv "$RC_CACHE/current.env.tmp" "$RC_CACHE/current.env"
}

# 5. The migrated default DB.
db_key="$(rc_sha12_of "$RC_VENDOR/mikopbx-core-$RC_CORE_TAG-default.db.xz" "$RC_HERE/lib/migrate_db.php" "$RC_HERE/bootstrap.php" "$RC_HERE/lib/RealCore.php" <(echo "$core_key $ph_key"))"
db_dir="$RC_CACHE/db/$db_key"
if [ ! -f "$db_dir/.ready" ]; then
    step "migrating Core's default mikopbx.db with Core's UpdateDatabase"
    write_env ""
    rt_in="$(rc_new_runtime)"
    trap 'rc_remove_runtime "$rt_in"' EXIT
    read -r rp bp < <(rc_ports)
    rc_write_settings "$rt_in" "$rp" "$bp"
    xz -dc "$RC_VENDOR/mikopbx-core-$RC_CORE_TAG-default.db.xz" >"$RC_CHROOT$rt_in/cf/conf/mikopbx.db"
    rc_copy_harness "$rt_in"
    mkdir -p "$db_dir"
    rc_run_in_runtime "$rt_in" php "$rt_in/harness/lib/migrate_db.php" "$RC_CORE_TAG" >"$db_dir.log" 2>&1 \
        || { tail -n 30 "$db_dir.log" >&2; rc_die "DB migration failed, see $db_dir.log"; }
    if grep -q 'ERROR' "$db_dir.log"; then
        grep 'ERROR' "$db_dir.log" >&2; rc_die "Core's UpdateDatabase reported errors, see $db_dir.log"
    fi
    tail -n 1 "$db_dir.log" >&2
    cp "$RC_CHROOT$rt_in/cf/conf/mikopbx.db" "$db_dir/mikopbx.db"
    touch "$db_dir/.ready"
    rc_remove_runtime "$rt_in"
    trap - EXIT
fi
write_env "${db_dir#"$RC_CHROOT"}/mikopbx.db"
step "ready: Core $RC_CORE_TAG, Phalcon $RC_PHALCON_VERSION ($ph_key), DB $db_key"
