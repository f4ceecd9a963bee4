"""Benchmark of the running worker: peer row committed -> reload issued (median of N), and idle RSS/CPU.

Run from the repository root:
    .venv/bin/python bench/bench_worker.py [--rounds 20] [--idle-seconds 60]
It builds a two-peer station in a temporary directory, starts `python -m python_worker run` with a reload
command that appends a timestamp, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from python_worker.db.moduledb import upsert_peer  # noqa: E402
from tests.unit.applyhelpers import NSK, SPB, make_station, worker_env  # noqa: E402


def _stamps(path: Path) -> list[float]:
    if not path.exists():
        return []
    return [float(line.split()[0]) for line in path.read_text().splitlines() if line.strip()]


def _wait_count(path: Path, count: int, timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while True:
        stamps = _stamps(path)
        if len(stamps) >= count:
            return stamps
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reload within {timeout}s")
        time.sleep(0.002)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pbxfed-bench-") as tmp:
        paths = make_station(Path(tmp), "2026.1", peers=(SPB, NSK))
        reloads = Path(tmp) / "reloads.log"
        argv = [sys.executable, "-m", "python_worker", "run", "--mikopbx-db", str(paths.mikopbx_db),
                "--module-db", str(paths.module_db), "--state-dir", str(paths.state_dir),
                "--reload-cmd", f"sh -c 'echo $(date +%s.%N) \"$1\" >> {reloads}' reload {{what}}"]
        proc = subprocess.Popen(argv, env=worker_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait_count(reloads, 3, 30)  # first apply: pjsip, dialplan, firewall
            time.sleep(1.0)  # let the worker settle after its own first commit
            latencies = []
            for i in range(args.rounds):
                before = len(_stamps(reloads))
                upsert_peer(paths.module_db, replace(NSK, blf=(i % 2 == 1)))  # a hooks change: pjsip + dialplan
                committed = time.time()
                stamps = _wait_count(reloads, before + 1, 10)
                latencies.append((stamps[before] - committed) * 1000)
                _wait_count(reloads, before + 2, 10)
                time.sleep(0.5)  # the next edit starts from a quiet worker
            time.sleep(2.0)
            rss_start = _rss_mb(proc.pid)
            ticks0 = _cpu_ticks(proc.pid)
            time.sleep(args.idle_seconds)
            ticks1 = _cpu_ticks(proc.pid)
            rss_end = _rss_mb(proc.pid)
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(10)
    hz = os.sysconf("SC_CLK_TCK")
    cpu_s = (ticks1 - ticks0) / hz
    lat = sorted(latencies)
    print("| metric | value | target |")
    print("|---|---|---|")
    print(f"| commit -> reload issued, median of {args.rounds} | {statistics.median(lat):.0f} ms "
          f"(min {lat[0]:.0f}, max {lat[-1]:.0f}) | < 500 ms |")
    print(f"| idle RSS | {rss_end:.1f} MB (at start of idle window {rss_start:.1f} MB) | < 60 MB |")
    print(f"| idle CPU over {args.idle_seconds:.0f} s | {cpu_s:.2f} s CPU = {100 * cpu_s / args.idle_seconds:.2f} % "
          f"| ~0 % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
