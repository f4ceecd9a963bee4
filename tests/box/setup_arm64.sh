#!/usr/bin/env bash
# Idempotent setup of the emulated station's Python on aarch64: Debian 12 (bookworm) arm64's python3.11-minimal and
# the C extension modules of its libpython3.11-stdlib (lib-dynload/*.so only, as on the x86_64 box of setup.sh),
# with the shared libraries they and pyzmq's bundled libzmq link to, unpacked into a sysroot; run on this x86_64
# machine by qemu-user (qemu-aarch64-static -L <sysroot>, taken out of Debian's qemu-user-static .deb: no binfmt
# registration, nothing installed on the host). The arm64 package lists come from the host's own Debian mirror
# through a private apt state (nothing of the host's apt changes).
# Env: PBXFED_BOX_ARM64 (default /var/cache/pbxfed/box311-arm64), PBXFED_MIRROR (default: the host's Debian mirror).
set -euo pipefail
SR="${PBXFED_BOX_ARM64:-/var/cache/pbxfed/box311-arm64}"
STAMP="$SR/.pbxfed-box-ready"
QEMU_DIR="$SR.qemu"
APT_DIR="$SR.apt"
PACKAGES="python3.11-minimal libpython3.11-minimal libc6 libexpat1 zlib1g libssl3 libsqlite3-0 libffi8 libuuid1
          libstdc++6 libgcc-s1 libbz2-1.0 liblzma5 libcrypt1"
log() { echo "box-arm64: $*" >&2; }
die() { echo "box-arm64: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
if [ -f "$STAMP" ] && [ -x "$QEMU_DIR/qemu-aarch64-static" ] && [ -x "$SR/usr/bin/python3.11" ]; then
    log "ready: $SR ($(cat "$STAMP"))"
    exit 0
fi
host_mirror() {
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
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "no $KEYRING (package debian-archive-keyring)"

rm -rf "$APT_DIR" && mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
echo "deb [arch=arm64 signed-by=$KEYRING] $MIRROR bookworm main" >"$APT_DIR/sources.list"
APT=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/nonexistent
     -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache" -o Dir::State::status=/dev/null
     -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1)
log "arm64 package lists of bookworm from $MIRROR"
timeout 600 apt-get "${APT[@]}" update >"$APT_DIR/apt.log" 2>&1 || die "apt-get update (arm64) failed, see $APT_DIR/apt.log"
arm=()
for p in $PACKAGES libpython3.11-stdlib; do arm+=("$p:arm64"); done
(cd "$APT_DIR/debs" && timeout 600 apt-get "${APT[@]}" download "${arm[@]}" >>"$APT_DIR/apt.log" 2>&1) \
    || die "apt-get download (arm64) failed, see $APT_DIR/apt.log"
log "qemu-user-static (amd64) from the host's apt"
rm -rf "$QEMU_DIR" && mkdir -p "$QEMU_DIR/deb"
(cd "$QEMU_DIR/deb" && timeout 600 apt-get download qemu-user-static >>"$APT_DIR/apt.log" 2>&1) \
    || die "apt-get download qemu-user-static failed, see $APT_DIR/apt.log"
dpkg-deb -x "$QEMU_DIR"/deb/qemu-user-static_*.deb "$QEMU_DIR/x"
cp "$QEMU_DIR/x/usr/bin/qemu-aarch64-static" "$QEMU_DIR/"
rm -rf "$QEMU_DIR/x" "$QEMU_DIR/deb"

rm -rf "$SR" && mkdir -p "$SR"
for deb in "$APT_DIR"/debs/*.deb; do
    case "$(basename "$deb")" in
        libpython3.11-stdlib_*)
            rm -rf "$APT_DIR/stdlib" && dpkg-deb -x "$deb" "$APT_DIR/stdlib"
            mkdir -p "$SR/usr/lib/python3.11/lib-dynload"
            cp -a "$APT_DIR/stdlib/usr/lib/python3.11/lib-dynload/"*.so "$SR/usr/lib/python3.11/lib-dynload/" ;;
        *) dpkg-deb -x "$deb" "$SR" ;;
    esac
done
ln -sfn python3.11 "$SR/usr/bin/python3"
# qemu -L looks a path up in the sysroot first and falls back to the host's: these must exist (empty) in the
# sysroot, so Debian's site.py never puts the host's dist-packages on the emulated interpreter's sys.path.
mkdir -p "$SR/usr/lib/python3/dist-packages" "$SR/usr/local/lib/python3.11/dist-packages" "$SR/usr/lib/python3.11/site-packages"
py=("$QEMU_DIR/qemu-aarch64-static" -L "$SR" "$SR/usr/bin/python3.11")
[ "$("${py[@]}" -c 'import os; print(os.uname().machine)')" = aarch64 ] || die "the emulated python3 does not run"
for m in json sqlite3 ctypes venv dataclasses hmac; do
    if "${py[@]}" -I -c "import $m" 2>/dev/null; then die "the arm64 python3 imports '$m': not a minimal Python"; fi
done
ver="$(dpkg-deb -f "$(ls "$APT_DIR"/debs/python3.11-minimal_*.deb)" Version)"
echo "arm64 python3.11-minimal $ver + $(ls "$SR/usr/lib/python3.11/lib-dynload" | wc -l) lib-dynload modules under $("$QEMU_DIR/qemu-aarch64-static" --version | head -n1); $(date -u +%FT%TZ)" >"$STAMP"
log "ready: $SR ($(cat "$STAMP"))"
