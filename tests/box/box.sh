#!/usr/bin/env bash
# Runs a command on the emulated station (tests/box/setup.sh builds it), inside a network namespace of
# its own (only lo) and a private mount namespace, with the repository bind-mounted read-only at
# /pbxfed-repo and a per-run scratch directory at /pbxfed-run (removed afterwards unless PBXFED_KEEP_RUN=1).
#   bash tests/box/box.sh [--no-python] [--hide BOXPATH]... [--bind HOSTDIR:BOXDIR]... -- CMD...
# --hide BOXPATH: the same tree seen through an overlay in which BOXPATH does not exist (e.g. a C extension of
#   lib-dynload: a station whose interpreter lacks it), for the install-refusal tests.
# --no-python: --hide /usr/bin/python3 --hide /usr/bin/python3.11 (a station without a usable python3).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BOX="${PBXFED_BOX:-/var/cache/pbxfed/box311}"
RUNS="${PBXFED_BOX_RUNS:-/var/cache/pbxfed/box-runs}"
die() { echo "box: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
[ -f "$BOX/.pbxfed-box-ready" ] || die "$BOX is not set up (bash tests/box/setup.sh)"

hides=()
binds=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-python) hides+=(/usr/bin/python3 /usr/bin/python3.11); shift ;;
        --hide) hides+=("$2"); shift 2 ;;
        --bind) binds+=("$2"); shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || die "usage: box.sh [--no-python] [--hide BOXPATH]... [--bind HOST:BOX]... -- CMD..."

id="box-r$$-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
run="$RUNS/$id"
mkdir -p "$run/scratch"
ns="pbxfed-$id"
cleanup() {
    ip netns delete "$ns" 2>/dev/null || true
    if [ "${PBXFED_KEEP_RUN:-0}" = 1 ]; then echo "box: kept $run" >&2; else rm -rf "${run:?}"; fi
}
trap cleanup EXIT
ip netns add "$ns" || die "cannot create network namespace $ns"
ip netns exec "$ns" ip link set lo up
if ip netns exec "$ns" ip -o link show | grep -v ': lo:' | grep -q .; then die "netns $ns has more than lo"; fi

root="$BOX"
prep="mount --make-rprivate / "
if [ "${#hides[@]}" -gt 0 ]; then
    mkdir -p "$run/work" "$run/root"
    # Overlay whiteouts: these names do not exist in the merged tree.
    for f in "${hides[@]}"; do
        [ -e "$BOX$f" ] || [ -L "$BOX$f" ] || die "--hide $f: not in the box"
        mkdir -p "$run/upper$(dirname "$f")"
        mknod "$run/upper$f" c 0 0
    done
    prep="$prep && mount -t overlay overlay -o lowerdir='$BOX',upperdir='$run/upper',workdir='$run/work' '$run/root'"
    root="$run/root"
fi
mkdir -p "$BOX/pbxfed-repo" "$BOX/pbxfed-run"
prep="$prep && mount -t proc proc '$root/proc' && mount --bind '$REPO' '$root/pbxfed-repo' && mount -o remount,bind,ro '$root/pbxfed-repo'"
prep="$prep && mount --bind '$run/scratch' '$root/pbxfed-run'"
for b in "${binds[@]}"; do
    src="${b%%:*}"; dst="${b#*:}"
    mkdir -p "$BOX$dst"
    prep="$prep && mount --bind '$src' '$root$dst'"
done
rc=0
ip netns exec "$ns" unshare -m --propagation private sh -c "$prep"' && exec chroot "$@"' sh "$root" \
    /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    "$@" || rc=$?
exit $rc
