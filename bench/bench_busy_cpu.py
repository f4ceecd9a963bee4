"""Where the busy hour's CPU goes on this machine, with and without the module (issue 14).

Run as root (the chroot of tests/e2e/setup_asterisk.sh):

    .venv/bin/python bench/bench_busy_cpu.py [--stations 10] [--phones 200] [--calls-per-s 4] [--seconds 60]
        [--json out.json]

The same stations twice, built by tests/e2e/wan_mesh.py (Core's stand-in, Asterisk 22 of the sid chroot, the WAN
emulator between the station addresses, 50 ms RTT and 1 % loss), every phone registered at its station's SIPp UAS:
(A) without the module: no worker, no peers. Each station's phones call each other at --calls-per-s (hold 1 s,
    as bench_wan.py's busy phase: a call is ~5 device-state changes, so 4 calls/s are its 20 changes/s).
(B) the module: each station's worker started (`run` with its sync service and AMI), the full mesh paired by
    `invite create` / `invite accept`, a phone on every station subscribed to 4 numbers on every other one
    (bench_wan.py's BLF watchers); then the same calls.
(C) the workers stopped (the module's configuration and the subscriptions stay; no AMI session, no states
    carried): the same calls again, to tell the configuration's share from the live work's.
Per case: CPU seconds per second of the Asterisks, the workers, the SIPp processes and the emulator (utime+stime
from /proc, over the calls' run), the load average, answered calls. The difference of the Asterisks' share is what
the module costs them in the busy hour; the rest of the 2 cores is what is left for everything else.

Every wait is bounded; every process is started here and stopped by its PID (WanMesh.close); every packet stays on
127.0.0.0/8 inside the harness's network namespace.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import harness as hs  # noqa: E402
from tests.e2e import wan  # noqa: E402
from tests.e2e import wan_mesh as wm  # noqa: E402

FIG: dict[str, Any] = {}


def say(what: str, value: object) -> None:
    print(f"[busy-cpu] {what}: {json.dumps(value)}", flush=True)


def pids(m: wm.WanMesh) -> dict[str, list[int]]:
    """The processes to sample, by kind."""
    stations = list(m.fed.stations.values())
    out = {
        "asterisk": [s.st.pid for s in stations if s.st.proc is not None and s.st.pid],
        "worker": [s.worker.pid for s in stations if s.worker is not None and s.worker.pid],
        "sipp": [r.proc.pid for r in m.sipps if r.proc.poll() is None],
        "emulator": [m.wan.proc.pid] if m.wan is not None and m.wan.proc is not None else [],
    }
    return {k: [int(p) for p in v] for k, v in out.items()}


def cpu(by_kind: dict[str, list[int]]) -> dict[str, float]:
    return {k: sum(wm.cpu_s(p) for p in v) for k, v in by_kind.items()}


def run_calls(m: wm.WanMesh, calls_per_s: float, seconds: float, rng: random.Random,
              perf: Path | None = None) -> dict[str, Any]:
    """Every station's phones call each other for `seconds`; CPU per kind over the run, cores (cpu s / wall s).
    `perf`: also `perf record` st0's Asterisk for half the run into that file (read it with `perf report
    --symfs <the chroot>`)."""
    half = m.phones // 2
    n_calls = int(calls_per_s * seconds)
    runs = []
    for k in range(m.n):
        callers = m.specs[k].phones[1:half]  # phone 0 is the BLF watcher
        callees = m.specs[k].phones[half + 4:]  # the first 4 of the second half are watched
        pairs = [(rng.choice(callers), rng.choice(callees)) for _ in range(n_calls)]
        runs.append(m.start_calls(k, pairs, rate=calls_per_s, hold_ms=1000, limit=50, timeout=seconds + 120))
    time.sleep(1.0)  # the callers are up: sample them too
    kinds = pids(m)
    c0, t0, load0 = cpu(kinds), time.monotonic(), wm.loadavg()
    if perf is not None:
        ast0 = m.st(0).st.pid
        subprocess.run(["perf", "record", "-q", "-N", "-B", "-F", "499", "-g", "-p", str(ast0), "-o", str(perf), "--",
                        "sleep", str(int(seconds / 2))], check=False, timeout=seconds + 300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for r in runs:
        r.wait(seconds + 150)
    wall = time.monotonic() - t0
    c1 = cpu(kinds)
    answered = sum(1 for r in runs for _c, _t, ok in wm.calls_result(r).values() if ok is not None)
    return {
        "wall_s": round(wall, 1),
        "cores": {k: round((c1[k] - c0[k]) / wall, 3) for k in kinds},
        "processes": {k: len(v) for k, v in kinds.items()},
        "calls": {"placed": n_calls * m.n, "answered": answered},
        "load_before": load0, "load_after": wm.loadavg(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=10)
    ap.add_argument("--phones", type=int, default=200)
    ap.add_argument("--calls-per-s", type=float, default=4.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--perf", type=Path, help="perf record st0's Asterisk during each case's calls: <this>-a.data, "
                    "<this>-b.data, <this>-c.data")
    args = ap.parse_args()
    if not 2 <= args.stations <= 10 or not 20 <= args.phones <= 200 or not 0 < args.calls_per_s <= 10 \
            or not 10 <= args.seconds <= 600:
        ap.error("--stations 2-10, --phones 20-200, --calls-per-s 0-10, --seconds 10-600")
    if os.geteuid() != 0 or not hs.chroot_ready():
        raise SystemExit("run as root, after tests/e2e/setup_asterisk.sh")
    m = wm.WanMesh(args.stations, args.phones, wan.PROFILE)
    FIG["machine"] = {"cores": os.cpu_count(), "load_at_start": wm.loadavg(), "stations": args.stations,
                      "phones": args.phones, "calls_per_s_per_station": args.calls_per_s, "seconds": args.seconds}
    rng = random.Random(14)
    try:
        m.build()
        m.start_asterisk(range(m.n))
        for k in range(m.n):
            assert m.register(k), f"registration on st{k}"
            m.start_uas(k)
        time.sleep(5)
        FIG["a_without_module"] = run_calls(m, args.calls_per_s, args.seconds, rng,
                                            perf=Path(f"{args.perf}-a.data") if args.perf else None)
        say("a", FIG["a_without_module"])
        t0 = time.monotonic()
        for k in range(m.n):
            m.start_worker(k)
        for i, j in itertools.combinations(range(m.n), 2):
            m.pair(i, j)
        assert m.wait_mesh(list(range(m.n)), 300), "mesh not live"
        FIG["b_setup_s"] = round(time.monotonic() - t0, 1)
        half = m.phones // 2
        for k in range(m.n):
            watcher = m.specs[k].phones[0]
            m.start_subscriptions(k, [(watcher, w) for j in range(m.n) if j != k
                                      for w in m.specs[j].phones[half:half + 4]])
        time.sleep(15)  # the mesh settles: initial NOTIFYs, snapshots
        idle_kinds = pids(m)
        c0, t_idle = cpu(idle_kinds), time.monotonic()
        time.sleep(20)
        FIG["b_idle_cores"] = {k: round((v - c0[k]) / (time.monotonic() - t_idle), 3)
                               for k, v in cpu(idle_kinds).items()}
        FIG["b_with_module"] = run_calls(m, args.calls_per_s, args.seconds, rng,
                                         perf=Path(f"{args.perf}-b.data") if args.perf else None)
        say("b", FIG["b_with_module"])
        for st in m.fed.stations.values():  # (C): the module's configuration stays, nothing drives it
            st.stop_worker()
        time.sleep(5)
        FIG["c_config_only"] = run_calls(m, args.calls_per_s, args.seconds, rng,
                                         perf=Path(f"{args.perf}-c.data") if args.perf else None)
        say("c", FIG["c_config_only"])
        a, b = FIG["a_without_module"]["cores"], FIG["b_with_module"]["cores"]
        FIG["module_share"] = {
            "asterisk_cores_added": round(b["asterisk"] - a["asterisk"], 3),
            "asterisk_ratio": round(b["asterisk"] / a["asterisk"], 2) if a["asterisk"] else None,
            "asterisk_cores_of_the_configuration": round(FIG["c_config_only"]["cores"]["asterisk"] - a["asterisk"],
                                                         3),
            "worker_cores": b["worker"],
            "all_cores_a": round(sum(a.values()), 3),
            "all_cores_b": round(sum(b.values()), 3),
        }
        say("share", FIG["module_share"])
    except BaseException as exc:
        FIG["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        FIG["machine"]["load_at_end"] = wm.loadavg()
        m.close()
        if args.json:
            args.json.write_text(json.dumps(FIG, indent=1))
        print(json.dumps(FIG, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
