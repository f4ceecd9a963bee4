"""A WAN emulator for packets between stations: delay and loss per link, in userspace, over NFQUEUE.

The kernels of these machines have no `netem` qdisc, so iptables (legacy backend) in the suite's own network
namespace sends the packets between two station addresses to an NFQUEUE, and this program, bound to that
queue over a raw NETLINK_NETFILTER socket (no library needed), holds each packet for the link's one-way delay
and then accepts it, or drops it with the link's loss probability. The addresses stay the real ones: a trunk is
identified by the peer's IP, a pairing invitation carries the station's address, and SIP, RTP and the CurveZMQ
sync channel (TCP) are all delayed alike. tests/e2e/wan.py installs the rules and starts/stops this program.

Run inside the namespace (as root):

    ip netns exec NS python bench/wan_emulator.py --queue 7 --config wan.json --stats wan-stats.json

wan.json: {"default": {"delay_ms": 25, "jitter_ms": 0, "loss": 0.01},
           "links": {"127.0.1.11>127.0.1.12": {"delay_ms": 40, "loss": 1.0}}, "seed": 1}
`delay_ms` is ONE WAY (a 50 ms RTT link is 25 ms each way); `loss` is the drop probability per packet and
direction; `jitter_ms` adds a uniform 0..jitter to each packet while keeping each link's order (FIFO).
A link is "SRC>DST"; a missing link takes "default". SIGHUP re-reads the config (used to cut a link: loss 1.0);
SIGTERM/SIGINT release every held packet and exit. Every second the counters go to --stats (JSON): packets
and drops per link, packets held now and at most, and how late each verdict was against its schedule (the
emulator's own added delay, p50/p99/max). The program ends by itself after --max-seconds (default 4 h).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND = 1, 2
NFQNL_COPY_PACKET = 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_PAYLOAD = 1, 2, 10
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * ((4 - len(raw) % 4) % 4)


def _msg(msg_type: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST, seq: int = 0) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def _attrs(buf: bytes, off: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= end:
        alen, kind = struct.unpack_from("=HH", buf, off)
        if alen < 4:
            break
        out[kind & 0x7FFF] = buf[off + 4:off + alen]
        off += (alen + 3) & ~3
    return out


class Profile:
    def __init__(self, raw: dict[str, object]) -> None:
        self.delay = float(raw.get("delay_ms", 25.0)) / 1000.0  # type: ignore[arg-type]
        self.jitter = float(raw.get("jitter_ms", 0.0)) / 1000.0  # type: ignore[arg-type]
        self.loss = float(raw.get("loss", 0.0))  # type: ignore[arg-type]


class Emulator:
    def __init__(self, queue: int, config: Path, stats: Path | None) -> None:
        self.queue = queue
        self.config_path = config
        self.stats_path = stats
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))
        self.held: list[tuple[float, int, int]] = []  # (release at, seq, packet id)
        self.seq = 0
        self.link_last: dict[tuple[bytes, bytes], float] = {}
        self.counts: dict[str, list[int]] = {}  # "src>dst" -> [packets, dropped]
        self.late: list[float] = []  # verdict time - scheduled time, seconds (last 20,000)
        self.max_held = 0
        self.reload = True
        self.stop = False
        self.default = Profile({})
        self.links: dict[tuple[bytes, bytes], Profile] = {}
        self.rng = random.Random(1)
        self.started = time.monotonic()

    def load(self) -> None:
        raw = json.loads(self.config_path.read_text())
        self.default = Profile(raw.get("default", {}))
        self.links = {}
        for key, prof in raw.get("links", {}).items():
            src, _, dst = key.partition(">")
            self.links[(socket.inet_aton(src.strip()), socket.inet_aton(dst.strip()))] = Profile(prof)
        if "seed" in raw:
            self.rng.seed(raw["seed"])
        self.reload = False

    def bind(self) -> None:
        cmd = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
        self._request(_msg(NFQNL_MSG_CONFIG, self.queue, _attr(NFQA_CFG_CMD, cmd), NLM_F_REQUEST | NLM_F_ACK, 1))
        params = struct.pack(">IB", 64, NFQNL_COPY_PACKET) + b"\0\0\0"  # the IP header is enough
        self._request(_msg(NFQNL_MSG_CONFIG, self.queue, _attr(NFQA_CFG_PARAMS, params[:5]),
                           NLM_F_REQUEST | NLM_F_ACK, 2))
        self._request(_msg(NFQNL_MSG_CONFIG, self.queue, _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", 65536)),
                           NLM_F_REQUEST | NLM_F_ACK, 3))

    def _request(self, msg: bytes) -> None:
        self.sock.send(msg)
        self.sock.settimeout(5.0)
        try:
            for _ in range(50):
                buf = self.sock.recv(65536)
                off = 0
                while off + 16 <= len(buf):
                    length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", buf, off)
                    if kind == NLMSG_ERROR:
                        err = struct.unpack_from("=i", buf, off + 16)[0]
                        if err != 0:
                            raise OSError(-err, f"nfqueue config refused: {os.strerror(-err)}")
                        return
                    off += (length + 3) & ~3
        finally:
            self.sock.settimeout(None)

    def verdict(self, packet_id: int, verdict: int) -> None:
        hdr = struct.pack(">II", verdict, packet_id)
        self.sock.send(_msg(NFQNL_MSG_VERDICT, self.queue, _attr(NFQA_VERDICT_HDR, hdr)))

    def on_packet(self, packet_id: int, payload: bytes, now: float) -> None:
        if len(payload) < 20 or payload[0] >> 4 != 4:
            self.verdict(packet_id, NF_ACCEPT)
            return
        src, dst = payload[12:16], payload[16:20]
        if src == dst:
            self.verdict(packet_id, NF_ACCEPT)
            return
        key = f"{socket.inet_ntoa(src)}>{socket.inet_ntoa(dst)}"
        count = self.counts.setdefault(key, [0, 0])
        count[0] += 1
        prof = self.links.get((src, dst), self.default)
        if prof.loss > 0 and self.rng.random() < prof.loss:
            count[1] += 1
            self.verdict(packet_id, NF_DROP)
            return
        at = now + prof.delay + (self.rng.random() * prof.jitter if prof.jitter else 0.0)
        at = max(at, self.link_last.get((src, dst), 0.0))  # keep the link's order
        self.link_last[(src, dst)] = at
        if at <= now:
            self.verdict(packet_id, NF_ACCEPT)
            self.late.append(0.0)
            return
        self.seq += 1
        heapq.heappush(self.held, (at, self.seq, packet_id))
        self.max_held = max(self.max_held, len(self.held))

    def receive(self) -> None:
        now = time.monotonic()
        for _ in range(10000):
            try:
                buf = self.sock.recv(262144, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            off = 0
            while off + 16 <= len(buf):
                length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", buf, off)
                if length < 16:
                    break
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    attrs = _attrs(buf, off + 20, off + length)
                    hdr = attrs.get(NFQA_PACKET_HDR)
                    if hdr:
                        self.on_packet(struct.unpack_from(">I", hdr)[0], attrs.get(NFQA_PAYLOAD, b""), now)
                off += (length + 3) & ~3

    def release(self, everything: bool = False) -> None:
        now = time.monotonic()
        while self.held and (everything or self.held[0][0] <= now):
            at, _seq, packet_id = heapq.heappop(self.held)
            self.verdict(packet_id, NF_ACCEPT)
            self.late.append(max(0.0, now - at))
        if len(self.late) > 40000:
            del self.late[:20000]

    def write_stats(self) -> None:
        if self.stats_path is None:
            return
        late = sorted(self.late[-20000:])

        def q(p: float) -> float:
            return round(late[min(len(late) - 1, int(p * len(late)))] * 1000, 3) if late else 0.0

        data = {"pid": os.getpid(), "uptime_s": round(time.monotonic() - self.started, 1), "held": len(self.held),
                "max_held": self.max_held, "late_ms": {"p50": q(0.5), "p99": q(0.99), "max": q(1.0) if late else 0.0,
                                                       "n": len(late)},
                "links": {k: {"packets": v[0], "dropped": v[1]} for k, v in sorted(self.counts.items())},
                "cpu_s": round(sum(os.times()[:2]), 2)}
        tmp = self.stats_path.with_name(self.stats_path.name + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.stats_path)

    def run(self, max_seconds: float) -> None:
        self.load()
        self.bind()
        self.write_stats()
        next_stats = time.monotonic() + 1.0
        deadline = time.monotonic() + max_seconds
        while not self.stop and time.monotonic() < deadline:
            if self.reload:
                try:
                    self.load()
                except (OSError, ValueError) as exc:
                    print(f"wan_emulator: config not reloaded: {exc}", file=sys.stderr)
                    self.reload = False
            now = time.monotonic()
            wait = min(next_stats, self.held[0][0] if self.held else next_stats) - now
            try:
                ready, _, _ = select.select([self.sock], [], [], max(0.0, wait))
            except InterruptedError:
                continue
            if ready:
                self.receive()
            self.release()
            if time.monotonic() >= next_stats:
                self.write_stats()
                next_stats = time.monotonic() + 1.0
        self.release(everything=True)
        self.write_stats()
        cmd = struct.pack("=BBH", NFQNL_CFG_CMD_UNBIND, 0, socket.htons(socket.AF_INET))
        with contextlib.suppress(OSError):
            self.sock.send(_msg(NFQNL_MSG_CONFIG, self.queue, _attr(NFQA_CFG_CMD, cmd)))
        self.sock.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--stats", type=Path)
    ap.add_argument("--max-seconds", type=float, default=4 * 3600.0)
    args = ap.parse_args()
    emu = Emulator(args.queue, args.config, args.stats)

    def on_stop(_s: int, _f: object) -> None:
        emu.stop = True

    def on_hup(_s: int, _f: object) -> None:
        emu.reload = True

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    emu.run(args.max_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
