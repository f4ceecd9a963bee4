"""A minimal Asterisk Manager Interface client and the device-state prototypes of issue 14 (run in the namespace).

    ip netns exec NS python bench/ami_tool.py set    --ami 127.0.1.11 --devices Custom:P --count 2000
    ip netns exec NS python bench/ami_tool.py watch  --ami 127.0.1.12 --prefix P --count 2000 --seconds 300
    ip netns exec NS python bench/ami_tool.py learn  --ami 127.0.1.11 ...

- `set`: one persistent AMI connection; for each of --count devices `Custom:<prefix><n>` an action
  `Setvar Variable=DEVICE_STATE(Custom:<prefix><n>) Value=<state>` (no Channel: a global write, which the
  DEVICE_STATE function turns into a device-state change), pipelined (--window actions in flight) or
  one at a time; prints per-action latency (send -> Response) and states/s; CPU of this process and of the
  target Asterisk (--asterisk-pid) over the run.
- `watch`: one persistent AMI connection with `Events: on`; records the arrival time of every
  `DeviceStateChange` (res_manager_devicestate) and `ExtensionStatus` event whose device / extension starts with
  --prefix (filtered by NAME: the event's entity ID field exists only from Asterisk 22.13) until --count distinct
  ones reached --state, or --seconds passed; prints JSON with the first/last arrival times.
Every socket has a timeout; every loop is bounded in count or time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Ami:
    def __init__(self, host: str, port: int = 5038, user: str = "bench", secret: str = "bench",
                 events: str = "off", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.sock.recv(1024)  # banner
        self.send({"Action": "Login", "Username": user, "Secret": secret, "Events": events, "ActionID": "login"})
        for _ in range(100):
            msg = self.read()
            if msg.get("ActionID") == "login":
                if msg.get("Response") != "Success":
                    raise RuntimeError(f"AMI login refused: {msg}")
                break

    def send(self, fields: dict[str, str]) -> None:
        self.sock.sendall("".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n")

    def read(self) -> dict[str, str]:
        for _ in range(100000):
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                raw, self.buf = self.buf[:end], self.buf[end + 4:]
                msg = {}
                for line in raw.decode(errors="replace").split("\r\n"):
                    k, _, v = line.partition(": ")
                    msg.setdefault(k, v)
                return msg
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("AMI closed")
            self.buf += chunk
        raise RuntimeError("AMI message too long")


def cmd_set(args: argparse.Namespace) -> dict[str, object]:
    ami = Ami(args.ami)
    names = [f"{args.prefix}{i % args.slices}x{i}" if args.slices else f"{args.prefix}{i}"
             for i in range(args.start, args.start + args.count)]
    t_cpu, a_cpu = cpu_of(os.getpid()), cpu_of(args.asterisk_pid) if args.asterisk_pid else 0.0
    sent: dict[str, float] = {}
    lat: list[float] = []
    t0 = time.perf_counter()
    i = 0
    ami.sock.settimeout(30)
    sent_at: list[float] = []
    while len(lat) < len(names):
        while i < len(names) and i - len(lat) < args.window:
            if args.rate and time.perf_counter() < t0 + i / args.rate:
                break
            aid = str(i)
            sent[aid] = time.perf_counter()
            sent_at.append(time.time())
            ami.send({"Action": "Setvar", "Variable": f"DEVICE_STATE(Custom:{names[i]})", "Value": args.state,
                      "ActionID": aid})
            i += 1
        if args.rate and i < len(names) and i - len(lat) < args.window and not ami.buf:
            ami.sock.settimeout(max(0.0005, t0 + i / args.rate - time.perf_counter()))
            try:
                msg = ami.read()
            except TimeoutError:
                continue
            finally:
                ami.sock.settimeout(30)
        else:
            msg = ami.read()
        aid = msg.get("ActionID", "")
        if aid in sent and "Response" in msg:
            if msg["Response"] != "Success":
                raise RuntimeError(f"Setvar refused: {msg}")
            lat.append(time.perf_counter() - sent.pop(aid))
    wall = time.perf_counter() - t0
    lat.sort()
    return {"states": len(names), "window": args.window, "wall_s": round(wall, 3),
            "states_per_s": round(len(names) / wall, 1), "latency_ms": {
                "p50": round(lat[len(lat) // 2] * 1000, 3), "p99": round(lat[int(len(lat) * 0.99)] * 1000, 3)},
            "tool_cpu_s": round(cpu_of(os.getpid()) - t_cpu, 2),
            "asterisk_cpu_s": round(cpu_of(args.asterisk_pid) - a_cpu, 2) if args.asterisk_pid else None,
            "t_start": time.time() - wall, "t_end": time.time(), "sent_at": sent_at if args.all_times else None}


def cmd_watch(args: argparse.Namespace) -> dict[str, object]:
    ami = Ami(args.ami, events="on")
    ami.send({"Action": "Ping", "ActionID": "ready"})
    if args.ready_file:
        Path(args.ready_file).write_text("ready")
    seen: dict[str, float] = {}
    kinds: dict[str, int] = {}
    deadline = time.time() + args.seconds
    ami.sock.settimeout(1.0)
    want = args.state.upper()
    for _ in range(10_000_000):
        if len(seen) >= args.count or time.time() > deadline:
            break
        try:
            msg = ami.read()
        except TimeoutError:
            continue
        ev = msg.get("Event", "")
        if ev == "DeviceStateChange":
            dev, state = msg.get("Device", ""), msg.get("State", "")
            if dev.startswith(f"Custom:{args.prefix}") or dev.startswith(args.prefix):
                kinds[ev] = kinds.get(ev, 0) + 1
                if args.source == "device" and state.upper() == want and dev not in seen:
                    seen[dev] = time.time()
        elif ev == "ExtensionStatus":
            exten, state = msg.get("Exten", ""), msg.get("StatusText", "")
            if exten.startswith(args.exten_prefix):
                kinds[ev] = kinds.get(ev, 0) + 1
                if args.source == "exten" and state.upper() == args.exten_state.upper() and exten not in seen:
                    seen[exten] = time.time()
    times = sorted(seen.values())
    return {"distinct": len(seen), "events": kinds, "first": times[0] if times else None,
            "last": times[-1] if times else None, "times": seen if args.all_times else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set")
    s.add_argument("--ami", required=True)
    s.add_argument("--prefix", default="P")
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--count", type=int, default=2000)
    s.add_argument("--state", default="INUSE")
    s.add_argument("--slices", type=int, default=0, help="name devices <prefix><n mod K>x<n> (K filter slices)")
    s.add_argument("--window", type=int, default=1, help="actions in flight (1 = one at a time)")
    s.add_argument("--asterisk-pid", type=int, default=0)
    s.add_argument("--rate", type=float, default=0.0, help="states per second (0 = as fast as the window allows)")
    s.add_argument("--all-times", action="store_true")
    w = sub.add_parser("watch")
    w.add_argument("--ami", required=True)
    w.add_argument("--prefix", default="P")
    w.add_argument("--exten-prefix", default="")
    w.add_argument("--source", choices=("device", "exten"), default="device")
    w.add_argument("--state", default="INUSE")
    w.add_argument("--exten-state", default="InUse")
    w.add_argument("--count", type=int, default=2000)
    w.add_argument("--seconds", type=float, default=300)
    w.add_argument("--ready-file")
    w.add_argument("--all-times", action="store_true")
    args = ap.parse_args()
    out = cmd_set(args) if args.cmd == "set" else cmd_watch(args)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
