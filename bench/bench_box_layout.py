"""Which layout of the worker's runtime starts fastest on the station's minimal python3, and what it costs in files.

Run from the repository root, as root (tests/box/box.sh: the bookworm box with python3.11-minimal):
    .venv/bin/python bench/bench_box_layout.py [--rounds 7]
From the built zip (build/dist, scripts/build_zip.py) it makes four station trees that differ only in how the
pure-Python part (python/cp311 and python/cp311-stdlib: SQLAlchemy, Jinja2, MarkupSafe, watchdog,
typing_extensions, pyzmq's Python part, the stdlib supplement) is laid out; python/boot.py takes a directory where
the zip is absent:
  zip-pyc    as shipped: zips of CPython 3.11 bytecode (unchecked-hash .pyc), uncompressed
  dirs-pyc   the same .pyc files unpacked into directories
  zip-src    zips of the sources only (every process start compiles what it imports, in memory)
  dirs-src   the sources in directories (the first start compiles and writes __pycache__; later ones read it)
Then, rounds interleaved, each command in a fresh interpreter as PHP and cron start them: `--help`, `status` (no
worker: the light client path), `plan --json` on a real mikopbx.db (the engine), `doctor`. Also the number of files
and 2024.1's permission pass (one chmod process per file) over each tree, the peak RSS of one `--help`, `plan --json`
and `doctor` (getrusage of the child), and the worker itself (`bin/pbxfed start`): the time until `status` first
answers and its RSS after 10 s idle (3 rounds). Prints Markdown tables (medians of the timed rounds).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
MODULE = "ModulePbxFederation"
VARIANTS = ("zip-pyc", "dirs-pyc", "zip-src", "dirs-src")
COMMANDS = {
    "help": ["--help"],
    "status": ["status", "--json", "--timeout", "0.2"],
    "plan": ["plan", "--json"],
    "doctor": ["doctor"],
}
REALCORE_ENV = Path("/var/cache/pbxfed/sid/opt/pbxfed-realcore/current.env")


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_zip", REPO / "scripts/build_zip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_zip"] = module
    spec.loader.exec_module(module)
    return module


def sources(dest: Path) -> tuple[Path, Path]:
    """The sources the shipped bytecode was compiled from (same inputs as scripts/build_zip.py)."""
    b = builder()
    rt = b.read_lock()["cp311"]
    pure: dict[str, bytes] = {}
    for entry in rt.wheels["x86_64"]:
        b.unpack_wheel(b.fetch_wheel(entry, REPO / "build/wheels-cache", True), pure, {}, {})
    b.write_tree(pure, dest / "cp311")
    b.unpack_stdlib(b.fetch_deb(rt.stdlib, REPO / "build/stdlib-cache", True), "cp311", dest / "cp311-stdlib", {})
    return dest / "cp311", dest / "cp311-stdlib"


def zip_tree(root: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())


def make_variants(zip_path: Path, work: Path, src: tuple[Path, Path]) -> dict[str, Path]:
    trees = {}
    for variant in VARIANTS:
        module = work / variant / "storage/usbdisk1/mikopbx/custom_modules" / MODULE
        module.mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(module)
        (module / "bin/pbxfed").chmod(0o755)
        py = module / "python"
        for name, source in (("cp311", src[0]), ("cp311-stdlib", src[1])):
            shipped = py / f"{name}.zip"
            if variant == "dirs-pyc":
                with zipfile.ZipFile(shipped) as zf:
                    zf.extractall(py / name)
                shipped.unlink()
            elif variant == "zip-src":
                shipped.unlink()
                zip_tree(source, shipped)
            elif variant == "dirs-src":
                shipped.unlink()
                shutil.copytree(source, py / name)
        trees[variant] = module
    return trees


def station_db(dest: Path) -> None:
    for line in (REALCORE_ENV.read_text().splitlines() if REALCORE_ENV.exists() else []):
        if line.startswith("MIGRATED_DB="):
            shutil.copyfile("/var/cache/pbxfed/sid" + line.split("=", 1)[1], dest)
            return
    sys.path.insert(0, str(REPO))
    from tests.e2e.mikopbx_station import create_db

    create_db(dest).close()


SCRIPT = r"""
set -u
N=$1; shift
ms() { echo $(( $(date +%s%N) / 1000000 )); }
export PBXFED_MIKOPBX_DB=/pbxfed-work/mikopbx.db
for v in "$@"; do
    P="sh /pbxfed-work/$v/storage/usbdisk1/mikopbx/custom_modules/ModulePbxFederation/bin/pbxfed"
    t0=$(ms); $P init >/dev/null 2>&1 || echo "FAIL $v init"; t1=$(ms)
    echo "FIRST $v $((t1 - t0))"
    $P settings set --station-name moscow --own-patterns 2XX >/dev/null 2>&1 || echo "FAIL $v settings"
    printf a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6 | $P peers add --name spb --host 127.0.0.3 --patterns 3XX --secret - \
        >/dev/null 2>&1 || echo "FAIL $v peers"
done
for i in $(seq 1 "$N"); do
    for v in "$@"; do
        P="sh /pbxfed-work/$v/storage/usbdisk1/mikopbx/custom_modules/ModulePbxFederation/bin/pbxfed"
        line="RUN $v"
        for c in help status plan doctor; do
            case $c in
                help) args="--help" ;; status) args="status --json --timeout 0.2" ;;
                plan) args="plan --json" ;; doctor) args="doctor" ;;
            esac
            t0=$(ms)
            $P $args >/dev/null 2>&1; rc=$?
            t1=$(ms)
            [ "$c" = status ] || [ "$rc" = 0 ] || echo "FAIL $v $c exit $rc"
            line="$line $c $((t1 - t0))"
        done
        echo "$line"
    done
done
# peak RSS of one command (resource.getrusage of the child, in kB), after the timed rounds
for v in "$@"; do
    M=/pbxfed-work/$v/storage/usbdisk1/mikopbx/custom_modules/ModulePbxFederation
    line="PEAK $v"
    for c in help plan doctor; do
        case $c in help) args="--help" ;; plan) args="plan --json" ;; doctor) args="doctor" ;; esac
        kb=$(python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' sh "$M/bin/pbxfed" $args)
        line="$line $c $kb"
    done
    echo "$line"
done
# the worker itself: start -> first answered status, then its RSS after 10 s idle (VmRSS, VmHWM from /proc)
for r in 1 2 3; do for v in "$@"; do
    M=/pbxfed-work/$v/storage/usbdisk1/mikopbx/custom_modules/ModulePbxFederation
    P="sh $M/bin/pbxfed"
    t0=$(ms); $P start; i=0; up=""
    while [ "$i" -lt 120 ]; do   # at most ~60 s
        if $P status --json --timeout 0.5 >/dev/null 2>&1; then up=$(( $(ms) - t0 )); break; fi
        sleep 0.2; i=$((i + 1))
    done
    [ -n "$up" ] || { echo "FAIL $v worker did not answer"; $P stop; continue; }
    sleep 10
    pid=$(cat "$M/db/state/worker.pid")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"); hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    $P stop
    echo "WORKER $v up $up rss $rss hwm $hwm"
done; done
"""


def chmod_pass(tree: Path) -> tuple[int, float]:
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    proc = subprocess.run(["bash", "-c", f"TIMEFORMAT=%R; time (find '{tree}' -type f -exec chmod 644 {{}} \\;)"],
                          capture_output=True, text=True, check=True)
    return files, float(proc.stderr.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    version = json.loads((REPO / "module.json").read_text())["version"]
    zip_path = REPO / "build/dist" / f"{MODULE}-{version}.zip"
    if not zip_path.is_file():
        subprocess.run([sys.executable, str(REPO / "scripts/build_zip.py"), "--out", str(zip_path.parent)], check=True)
    runs = Path(os.environ.get("PBXFED_BOX_RUNS", "/var/cache/pbxfed/box-runs"))
    runs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="layout-", dir=runs) as tmp:
        work = Path(tmp)
        trees = make_variants(zip_path, work, sources(work / "src"))
        station_db(work / "mikopbx.db")
        (work / "bench.sh").write_text(SCRIPT)
        passes = {v: chmod_pass(trees[v]) for v in VARIANTS}  # as installed, before any run writes a cache
        load = os.getloadavg()[0]
        proc = subprocess.run(["bash", str(REPO / "tests/box/box.sh"), "--bind", f"{work}:/pbxfed-work", "--",
                               "sh", "/pbxfed-work/bench.sh", str(args.rounds), *VARIANTS],
                              capture_output=True, text=True, timeout=3600, check=False)
        load_after = os.getloadavg()[0]
        lines = proc.stdout.splitlines()
        failures = [ln for ln in lines if ln.startswith("FAIL")]
        if proc.returncode != 0 or failures:
            raise SystemExit(f"bench failed: {failures or proc.stderr[-1500:]}")
        times: dict[str, dict[str, list[int]]] = {v: {c: [] for c in COMMANDS} for v in VARIANTS}
        first = {}
        peak: dict[str, dict[str, int]] = {v: {} for v in VARIANTS}
        worker: dict[str, dict[str, list[int]]] = {v: {"up": [], "rss": [], "hwm": []} for v in VARIANTS}
        for ln in lines:
            parts = ln.split()
            if parts[0] == "FIRST":
                first[parts[1]] = int(parts[2])
            elif parts[0] == "PEAK":
                peak[parts[1]] = {c: int(kb) for c, kb in zip(parts[2::2], parts[3::2], strict=True)}
            elif parts[0] == "WORKER":
                for k, x in zip(parts[2::2], parts[3::2], strict=True):
                    worker[parts[1]][k].append(int(x))
            elif parts[0] == "RUN":
                for c, value in zip(parts[2::2], parts[3::2], strict=True):
                    times[parts[1]][c].append(int(value))
        print(f"{args.rounds} rounds, interleaved; load average {load:.1f} before, {load_after:.1f} after\n")
        print("| layout | files installed | 2024.1 chmod pass s | first `init` ms | "
              + " | ".join(f"`{c}` ms" for c in COMMANDS) + " |")
        print("|---|---:|---:|---:|" + "---:|" * len(COMMANDS))
        for v in VARIANTS:
            files, chmod_s = passes[v]
            cells = " | ".join(f"{statistics.median(times[v][c]):.0f}" for c in COMMANDS)
            print(f"| {v} | {files} | {chmod_s:.2f} | {first[v]} | {cells} |")
        print("\n| layout | peak RSS `--help` MB | peak RSS `plan --json` MB | peak RSS `doctor` MB | "
              "worker start -> first `status` answer ms, median of 3 (min–max) | worker RSS after 10 s idle MB, median "
              "(peak) |")
        print("|---|---:|---:|---:|---:|---:|")
        for v in VARIANTS:
            p, w = peak[v], {k: statistics.median(x) for k, x in worker[v].items()}
            print(f"| {v} | {p['help'] / 1024:.1f} | {p['plan'] / 1024:.1f} | {p['doctor'] / 1024:.1f} | "
                  f"{w['up']:.0f} ({min(worker[v]['up'])}–{max(worker[v]['up'])}) | "
                  f"{w['rss'] / 1024:.1f} ({w['hwm'] / 1024:.1f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
