"""Prototype: carry device states over a CurveZMQ channel (pipelined TCP) and set them on the other station.

Run inside the namespace (bench/proto_devstate.py `bridge` starts both ends):

    python bench/proto_bridge.py recv --bind B --port 7790 --ami B --keys DIR --count N
    python bench/proto_bridge.py send --connect B --port 7790 --source A --ami A --keys DIR --prefix P --count N

`recv` makes a CURVE server key pair (public key to DIR/server.key), binds a ROUTER and, for every message
`{"d": "Custom:P12", "s": "INUSE"}`, sends `Setvar DEVICE_STATE(Custom:R<P12>)=INUSE` to its station's AMI without
waiting (responses are read as they come). `send` connects a DEALER from --source (so the packets carry the
station's address through the WAN emulator) with the server key pinned, listens to its station's AMI events and
forwards every `DeviceStateChange` of a `Custom:<prefix>` device at once, one message per state. Both end
after --count states or --seconds. Prints JSON (states, CPU seconds of this process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ami_tool import Ami


def recv(args: argparse.Namespace) -> dict[str, object]:
    pub, sec = zmq.curve_keypair()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.curve_server = True
    sock.curve_secretkey = sec
    sock.curve_publickey = pub
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(f"tcp://{args.bind}:{args.port}")
    ami = Ami(args.ami)
    keys = Path(args.keys)
    (keys / "server.key").write_bytes(pub)
    got = 0
    pending = 0
    deadline = time.time() + args.seconds
    ami.sock.setblocking(False)
    first = last = None
    while got < args.count and time.time() < deadline:
        if sock.poll(200):
            for _ in range(1000):
                try:
                    _ident, raw = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                msg = json.loads(raw)
                name = msg["d"].split(":", 1)[1]
                ami.sock.setblocking(True)
                ami.send({"Action": "Setvar", "Variable": f"DEVICE_STATE(Custom:R{name})", "Value": msg["s"],
                          "ActionID": str(got)})
                ami.sock.setblocking(False)
                got += 1
                pending += 1
                first = first or time.time()
                last = time.time()
        try:
            data = ami.sock.recv(262144)
            pending -= data.count(b"Response: Success")
        except BlockingIOError:
            pass
    ami.sock.setblocking(True)
    ami.sock.settimeout(5)
    for _ in range(10000):
        if pending <= 0:
            break
        try:
            pending -= ami.sock.recv(262144).count(b"Response: Success")
        except (TimeoutError, OSError):
            break
    sock.close(0)
    ctx.term()
    return {"received": got, "unanswered_setvar": pending, "cpu_s": round(sum(os.times()[:2]), 2),
            "first": first, "last": last}


def send(args: argparse.Namespace) -> dict[str, object]:
    keys = Path(args.keys)
    server = (keys / "server.key").read_bytes()
    pub, sec = zmq.curve_keypair()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.curve_serverkey = server
    sock.curve_publickey = pub
    sock.curve_secretkey = sec
    sock.setsockopt(zmq.LINGER, 2000)
    mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sock.connect(f"tcp://{args.source}:0;{args.connect}:{args.port}")
    if not mon.poll(15000):
        raise SystemExit("CURVE handshake did not succeed in 15 s")
    ami = Ami(args.ami, events="on")
    (keys / "send.ready").write_text("ready")
    sent = 0
    deadline = time.time() + args.seconds
    ami.sock.settimeout(0.5)
    want = f"Custom:{args.prefix}"
    while sent < args.count and time.time() < deadline:
        try:
            msg = ami.read()
        except TimeoutError:
            continue
        if msg.get("Event") == "DeviceStateChange" and msg.get("Device", "").startswith(want):
            sock.send(json.dumps({"d": msg["Device"], "s": msg.get("State", "")}).encode())
            sent += 1
    time.sleep(1.0)  # let the last frames leave (LINGER bounds it too)
    sock.close()
    mon.close(0)
    ctx.term()
    return {"sent": sent, "cpu_s": round(sum(os.times()[:2]), 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    s = sub.add_parser("send")
    s.add_argument("--connect", required=True)
    s.add_argument("--source", required=True)
    s.add_argument("--prefix", default="P")
    for p in (r, s):
        p.add_argument("--port", type=int, default=7790)
        p.add_argument("--ami", required=True)
        p.add_argument("--keys", required=True)
        p.add_argument("--count", type=int, default=2000)
        p.add_argument("--seconds", type=float, default=300)
    args = ap.parse_args()
    print(json.dumps(recv(args) if args.cmd == "recv" else send(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
