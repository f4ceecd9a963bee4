#!/usr/bin/env bash
# Idempotent installer of real Asterisk 22 + SIPp in a Debian sid chroot (minbase).
# Every step is skipped when already done, so a re-run costs next to nothing.
# Env: PBXFED_CHROOT (default /var/cache/pbxfed/sid), PBXFED_MIRROR (default: the host's Debian mirror).
set -euo pipefail

CHROOT="${PBXFED_CHROOT:-/var/cache/pbxfed/sid}"
STAMP="$CHROOT/.pbxfed-ready"

die() { echo "setup_asterisk: $*" >&2; exit 1; }
log() { echo "setup_asterisk: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot)"

if [ -f "$STAMP" ] && [ -x "$CHROOT/usr/sbin/asterisk" ] && [ -x "$CHROOT/usr/bin/sipp" ]; then
    log "ready: $CHROOT ($(cat "$STAMP"))"
    exit 0
fi

host_mirror() {
    # First Debian (non-security) URI configured on the host; never guess another host.
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

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap on the host"
    timeout 300 apt-get install -y debootstrap >/dev/null 2>&1 \
        || { timeout 300 apt-get update >/dev/null 2>&1 && timeout 300 apt-get install -y debootstrap >/dev/null; } \
        || die "cannot install debootstrap"
fi

if [ ! -x "$CHROOT/usr/bin/apt-get" ] || [ ! -f "$CHROOT/.pbxfed-debootstrap" ]; then
    log "debootstrap sid into $CHROOT from $MIRROR"
    mkdir -p "$CHROOT"
    timeout 900 debootstrap --variant=minbase sid "$CHROOT" "$MIRROR" >"$CHROOT.debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $CHROOT.debootstrap.log"
    touch "$CHROOT/.pbxfed-debootstrap"
fi

echo 'Acquire::Check-Valid-Until "false";' >"$CHROOT/etc/apt/apt.conf.d/99pbxfed-no-valid-until"
printf '#!/bin/sh\nexit 101\n' >"$CHROOT/usr/sbin/policy-rc.d"
chmod 755 "$CHROOT/usr/sbin/policy-rc.d"

mounted_proc=0
if ! mountpoint -q "$CHROOT/proc"; then
    mount -t proc proc "$CHROOT/proc"
    mounted_proc=1
fi
cleanup() { if [ "$mounted_proc" = 1 ]; then umount "$CHROOT/proc" || true; fi; }
trap cleanup EXIT

have_publish_module() {
    ls "$CHROOT"/usr/lib/*/asterisk/modules/res_pjsip_publish_asterisk.so >/dev/null 2>&1
}
if [ ! -x "$CHROOT/usr/sbin/asterisk" ] || [ ! -x "$CHROOT/usr/bin/sipp" ] || ! have_publish_module; then
    log "apt-get install asterisk asterisk-modules sip-tester in the chroot"
    timeout 600 chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get update >"$CHROOT.apt.log" 2>&1 \
        || die "apt-get update failed in chroot, see $CHROOT.apt.log"
    timeout 900 chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends asterisk asterisk-modules sip-tester >>"$CHROOT.apt.log" 2>&1 \
        || die "apt-get install failed in chroot, see $CHROOT.apt.log"
fi

[ -x "$CHROOT/usr/sbin/asterisk" ] || die "asterisk missing in $CHROOT"
[ -x "$CHROOT/usr/bin/sipp" ] || die "sipp missing in $CHROOT"
have_publish_module || die "res_pjsip_publish_asterisk.so missing in $CHROOT"

ver="$(chroot "$CHROOT" /usr/sbin/asterisk -V 2>/dev/null || true)"
sipp_ver="$(chroot "$CHROOT" /usr/bin/sipp -v 2>/dev/null | grep -oE 'v[0-9][0-9.]*' | head -n1 || true)"
echo "$ver; sipp $sipp_ver" >"$STAMP"
log "ready: $CHROOT ($ver; sipp $sipp_ver)"
