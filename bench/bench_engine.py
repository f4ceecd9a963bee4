"""Benchmark: plan + render for 1, 10 and 50 peers with 100 and 2,000 extensions each.

Run: .venv/bin/python bench/bench_engine.py [--repeat 5] [--write docs/performance.md]
Each case runs in a fresh subprocess so that its peak RSS is its own. Target: 50 peers x 2,000
extensions under 1 s and under 100 MB peak memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = [(peers, ext) for ext in (100, 2000) for peers in (1, 10, 50)]


def patterns_for(index: int, size: int) -> str:
    """Disjoint patterns: 100 numbers `PPXX`, 2,000 numbers `PP[0-1]XXX` with PP = 10 + index."""
    prefix = str(10 + index)
    return f"{prefix}XX" if size == 100 else f"{prefix}[0-1]XXX"


def one_case(peers: int, ext: int, repeat: int) -> dict[str, float]:
    from python_worker.core.config import ModuleConfig, PeerConfig, Settings
    from python_worker.core.patterns import parse_pattern
    from python_worker.core.runtime import Runtime
    from python_worker.core.station import Extension, StationSnapshot
    from python_worker.pipeline import compute
    from python_worker.statedir import to_json

    own_pattern = "9XX" if ext == 100 else "9[0-1]XXX"
    own = parse_pattern(own_pattern).expand()
    snap = StationSnapshot(
        name="bench", sip_port=5060, tls_port=5061, language="en-en", version="2026.1",
        own_addresses=("127.0.0.2",), extensions=tuple(Extension(n, f"User {n}", "SIP") for n in own),
        providers=(), outgoing_routes=(), sip_columns=frozenset())
    cfg = ModuleConfig(
        Settings(station_name="bench", own_patterns=own_pattern),
        tuple(PeerConfig(name=f"peer{i}", host=f"127.0.1.{i + 1}", patterns=patterns_for(i, ext),
                         secret="BenchSecretBenchSecret") for i in range(peers)))
    times = []
    size = 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = compute(snap, cfg, Runtime(drives_lamps=True))  # as the worker renders on a box (hints with lamp devices)
        text = to_json(out.hooks) + to_json(out.records)
        times.append(time.perf_counter() - start)
        size = len(text.encode())
        assert len(out.plan.peers) == peers and not out.plan.errors, out.plan.problems
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"median_s": statistics.median(times), "max_s": max(times), "peak_rss_mb": rss_mb, "output_mb": size / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--case", help="internal: PEERS,EXT")
    parser.add_argument("--write", type=Path, help="write the table into this Markdown file's Engine section")
    args = parser.parse_args()
    if args.case:
        peers, ext = (int(x) for x in args.case.split(","))
        print(json.dumps(one_case(peers, ext, args.repeat)))
        return 0
    rows = []
    for peers, ext in CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", f"{peers},{ext}", "--repeat", str(args.repeat)],
                              capture_output=True, text=True, timeout=600, check=True)
        r = json.loads(proc.stdout)
        rows.append((peers, ext, r))
        print(f"{peers:>3} peers x {ext:>5} ext: median {r['median_s'] * 1000:8.1f} ms, "
              f"max {r['max_s'] * 1000:8.1f} ms, peak RSS {r['peak_rss_mb']:6.1f} MB, output {r['output_mb']:.2f} MB")
    if args.write:
        table = ["| peers | extensions each | median | max | peak RSS | output |", "|---|---|---|---|---|---|"]
        table += [f"| {p} | {e} | {r['median_s'] * 1000:.1f} ms | {r['max_s'] * 1000:.1f} ms | "
                  f"{r['peak_rss_mb']:.1f} MB | {r['output_mb']:.2f} MB |" for p, e, r in rows]
        section = "\n".join([
            "<!-- engine-bench:start -->",
            "## Engine: plan + render",
            "",
            f"Command: `.venv/bin/python bench/bench_engine.py --repeat {args.repeat} --write {args.write}`",
            f"Machine: {platform.machine()}, Python {platform.python_version()}, 2 cores; "
            f"date {time.strftime('%Y-%m-%d')}. Target: 50 x 2,000 under 1 s and 100 MB.",
            "Peak RSS is the whole Python process (interpreter, SQLAlchemy and Jinja2 imported).",
            "",
            *table,
            "<!-- engine-bench:end -->",
        ])
        text = args.write.read_text(encoding="utf-8") if args.write.exists() else "# Performance\n"
        if "<!-- engine-bench:start -->" in text:
            head, rest = text.split("<!-- engine-bench:start -->", 1)
            text = head + section + rest.split("<!-- engine-bench:end -->", 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
