"""The WAN emulator's own cost: UDP RTT between two station addresses in the namespace, without the emulator,
through it with delay 0 / loss 0, and at the profile (50 ms RTT, 1 % loss each way).

Run (root, the chroot of tests/e2e/setup_asterisk.sh): .venv/bin/python bench/bench_wan_emulator.py [--count 1000]

Each figure: --count pings of 600 bytes every 10 ms from 127.0.1.11 to an echo on 127.0.1.12 (bench/wan_probe.py
in the namespace). The emulator's added delay = RTT through it minus the RTT without it (two passes, one per
direction); its jitter = the spread (p99 - p50, stdev) at the profile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import harness as hs  # noqa: E402
from tests.e2e import wan  # noqa: E402

A, B = "127.0.1.11", "127.0.1.12"


def probe(h: hs.Harness, count: int) -> dict[str, object]:
    r = subprocess.run(["ip", "netns", "exec", str(h.netns), sys.executable, str(ROOT / "bench" / "wan_probe.py"),
                        "--from", A, "--to", B, "--count", str(count)], capture_output=True, text=True,
                       timeout=count * 1.2 + 30, check=True)
    return json.loads(r.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    h = hs.Harness()
    emu = None
    out: dict[str, object] = {}
    try:
        out["no emulator"] = probe(h, args.count)
        emu = wan.WanEmulator(h, [A, B], wan.ZERO)
        emu.start()
        out["emulator, delay 0, loss 0"] = probe(h, args.count)
        emu.set_default(wan.PROFILE)
        out["emulator, 25 ms each way, 1 % loss"] = probe(h, args.count)
        emu.set_default(wan.Link(25.0, 0.0, 0.0))
        out["emulator, 25 ms each way, loss 0"] = probe(h, args.count)
        out["emulator stats"] = emu.stop()
        emu = None
    finally:
        if emu is not None:
            emu.stop()
        h.close()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
