"""UDP round-trip probe between two addresses (run inside the namespace): an echo on --to, pings from --from.

    ip netns exec NS python bench/wan_probe.py --from 127.0.1.11 --to 127.0.1.12 --count 500 --interval 0.01

Prints JSON: sent, received, lost, and RTT p50/p90/p99/max/mean/stdev in ms. Bounded: every ping waits at most
--timeout seconds; the echo thread ends with the program.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import sys
import threading
import time


def echo(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(2048)
        except TimeoutError:
            continue
        except OSError:
            return
        sock.sendto(data, addr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--to", dest="dst", required=True)
    ap.add_argument("--port", type=int, default=9999)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=600, help="bytes per ping (a SIP PUBLISH is ~600-900)")
    args = ap.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((args.dst, args.port))
    stop = threading.Event()
    t = threading.Thread(target=echo, args=(server, stop), daemon=True)
    t.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind((args.src, 0))
    client.settimeout(args.timeout)
    rtts: list[float] = []
    pad = b"x" * max(0, args.size - 12)
    for i in range(args.count):
        t0 = time.perf_counter()
        client.sendto(struct.pack("!Id", i, t0) + pad, (args.dst, args.port))
        deadline = t0 + args.timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            client.settimeout(left)
            try:
                data, _ = client.recvfrom(4096)
            except TimeoutError:
                break
            seq, sent = struct.unpack("!Id", data[:12])
            if seq == i:
                rtts.append((time.perf_counter() - sent) * 1000)
                break
        rest = args.interval - (time.perf_counter() - t0)
        if rest > 0:
            time.sleep(rest)
    stop.set()
    t.join(timeout=2)
    rtts.sort()

    def q(p: float) -> float:
        return round(rtts[min(len(rtts) - 1, int(p * len(rtts)))], 3) if rtts else 0.0

    print(json.dumps({"sent": args.count, "received": len(rtts), "lost": args.count - len(rtts),
                      "rtt_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0),
                                 "mean": round(statistics.fmean(rtts), 3) if rtts else 0.0,
                                 "stdev": round(statistics.pstdev(rtts), 3) if rtts else 0.0}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
