#!/usr/bin/env bash
# Idempotent setup of an emulated MikoPBX station's Python: a Debian 12 (bookworm) minbase chroot whose
# python3 is ONLY python3.11-minimal (MikoPBX Core's docs at 2026.1.223 describe the image's Python as "a
# minimal Python 3.11 installation without the full standard library", no pip), plus the C extension
# modules of the 3.11 stdlib (lib-dynload/*.so, taken from the libpython3.11-stdlib .deb and nothing else of
# it) and the shared libraries those extensions link to (the .deb's own Depends: libsqlite3-0, libffi8, ...).
# The pure-Python part of that .deb is kept beside the chroot (never inside it) as the source the probe
# draws missing modules from.
# Env: PBXFED_BOX (default /var/cache/pbxfed/box311), PBXFED_MIRROR (default: the host's Debian mirror).
set -euo pipefail
BOX="${PBXFED_BOX:-/var/cache/pbxfed/box311}"
STAMP="$BOX/.pbxfed-box-ready"
STDLIB_SRC="$BOX.stdlib-deb"          # the unpacked libpython3.11-stdlib .deb (outside the chroot)
log() { echo "box: $*" >&2; }
die() { echo "box: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
t0=$(date +%s.%N)
step() { log "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%6.1fs", b-a}') $*"; }

# The stamp records what was built; a re-run with the stamp present costs nothing.
if [ -f "$STAMP" ] && [ -x "$BOX/usr/bin/python3.11" ] && [ -d "$STDLIB_SRC/usr/lib/python3.11" ]; then
    step "ready: $BOX ($(cat "$STAMP"))"
    exit 0
fi

host_mirror() {
    # The host's own first Debian (non-security) URI; never guess another host.
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri="$(grep -hoE '(https?://[^ ]*/debian)/?( |$)' "$f" 2>/dev/null | grep -v security | head -n1 | tr -d ' ' || true)"
        if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
    done
    return 1
}
MIRROR="${PBXFED_MIRROR:-$(host_mirror || true)}"
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list*; set PBXFED_MIRROR"
command -v debootstrap >/dev/null 2>&1 || timeout 300 apt-get install -y -o DPkg::Lock::Timeout=300 debootstrap >/dev/null \
    || die "cannot install debootstrap on the host"

if [ ! -f "$BOX/.pbxfed-debootstrap" ]; then
    step "debootstrap --variant=minbase bookworm $BOX from $MIRROR"
    rm -rf "$BOX" && mkdir -p "$BOX"
    timeout 900 debootstrap --variant=minbase bookworm "$BOX" "$MIRROR" >"$BOX.debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $BOX.debootstrap.log"
    touch "$BOX/.pbxfed-debootstrap"
fi
printf '#!/bin/sh\nexit 101\n' >"$BOX/usr/sbin/policy-rc.d"
chmod 755 "$BOX/usr/sbin/policy-rc.d"
echo 'Acquire::Check-Valid-Until "false";' >"$BOX/etc/apt/apt.conf.d/99pbxfed-no-valid-until"
mountpoint -q "$BOX/proc" || mount -t proc proc "$BOX/proc"
aptc() { timeout 900 chroot "$BOX" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }

if ! chroot "$BOX" dpkg-query -W -f='${Status}' python3.11-minimal 2>/dev/null | grep -q 'install ok installed'; then
    step "apt-get install --no-install-recommends python3.11-minimal"
    aptc update >"$BOX.apt.log" 2>&1 || die "apt-get update failed, see $BOX.apt.log"
    aptc install -y --no-install-recommends python3.11-minimal >>"$BOX.apt.log" 2>&1 \
        || die "apt-get install python3.11-minimal failed, see $BOX.apt.log"
fi
# The station calls it python3 (python3-minimal, which would only add this link, is not installed).
ln -sfn python3.11 "$BOX/usr/bin/python3"

# The C extension modules of the 3.11 stdlib, and only them, from the libpython3.11-stdlib .deb.
step "libpython3.11-stdlib: lib-dynload/*.so only"
ver="$(chroot "$BOX" dpkg-query -W -f='${Version}' python3.11-minimal)"
rm -rf "$BOX/tmp/pbxfed-deb" && mkdir -p "$BOX/tmp/pbxfed-deb"
(cd "$BOX/tmp/pbxfed-deb" && chroot "$BOX" sh -c "cd /tmp/pbxfed-deb && apt-get download libpython3.11-stdlib=$ver" >>"$BOX.apt.log" 2>&1) \
    || die "apt-get download libpython3.11-stdlib=$ver failed, see $BOX.apt.log"
deb="$(ls "$BOX"/tmp/pbxfed-deb/libpython3.11-stdlib_*.deb)"
rm -rf "$STDLIB_SRC.tmp" && mkdir -p "$STDLIB_SRC.tmp"
dpkg-deb -x "$deb" "$STDLIB_SRC.tmp"
dyn="usr/lib/python3.11/lib-dynload"
mkdir -p "$BOX/$dyn"
cp -a "$STDLIB_SRC.tmp/$dyn/"*.so "$BOX/$dyn/"
# The shared libraries those extensions link to: the .deb's own dependencies, minus Python's own parts.
deps="$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/([^)]*)//; s/|.*//; s/ //g' \
    | grep -vE '^(libpython3\.11-minimal|media-types|mime-support|tzdata|netbase)$' | grep -v '^$' | tr '\n' ' ')"
step "shared libraries for lib-dynload: $deps"
# shellcheck disable=SC2086
aptc install -y --no-install-recommends $deps >>"$BOX.apt.log" 2>&1 || die "apt-get install $deps failed, see $BOX.apt.log"
missing="$(chroot "$BOX" sh -c "for f in /$dyn/*.so; do ldd \$f | grep 'not found' | sed \"s|^|\$f: |\"; done" || true)"
[ -z "$missing" ] || die "lib-dynload modules with missing libraries: $missing"
rm -rf "$BOX/tmp/pbxfed-deb"
rm -rf "$STDLIB_SRC" && mv "$STDLIB_SRC.tmp" "$STDLIB_SRC"

# Nothing of the pure-Python stdlib beyond what python3.11-minimal installed may be in the box.
for m in json sqlite3 ctypes venv zipfile dataclasses hmac; do
    if chroot "$BOX" python3 -c "import $m" 2>/dev/null; then
        die "the box's python3 imports '$m': not a minimal Python"
    fi
done
echo "python3.11-minimal $ver + $(ls "$BOX/$dyn" | wc -l) lib-dynload modules; $(date -u +%FT%TZ)" >"$STAMP"
step "ready: $BOX ($(cat "$STAMP"))"
