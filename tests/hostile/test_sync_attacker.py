"""An attacker on the sync port, live on loopback: with a throw-away CURVE key (the handshake succeeds: any key may
pair) and with no key at all. zlib bombs, damaged zlib, deep JSON, non-objects, several frames, floods of
pairing challenges, oversized frames, plain-TCP garbage. The service answers or drops each message, its thread
stays alive, nothing is stored, and the paired peer still syncs; a sync thread that dies anyway is restarted."""

from __future__ import annotations

import json
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from python_worker.core.config import Settings
from python_worker.db.moduledb import init_db, read_config, write_settings
from python_worker.demo.stationdb import Phone, StationSpec, build_station_db
from python_worker.sync.pairing import load_or_create_keys
from python_worker.sync.server import SyncServer
from python_worker.sync.wire import decode, encode
from tests.hostile.conftest import Tally
from tests.unit.applyhelpers import wait_until
from tests.unit.test_sync import Node, free_port

BOMB = b"Z" + zlib.compress(b" " * (32 * 1024 * 1024), 9)  # ~32 KB on the wire, 32 MB inflated


def _frames_for(peer_name: str) -> list[tuple[str, list[bytes]]]:
    return [
        ("zlib bomb", [BOMB]),
        ("damaged zlib", [b"Z\x78\x9c\xde\xad\xbe\xef" * 8]),
        ("truncated zlib", [b"Z" + zlib.compress(json.dumps({"v": 1, "type": "pair-hello"}).encode())[:-4]]),
        ("deep JSON", [b"J" + b"[" * 100_000 + b"]" * 100_000]),
        ("deep JSON, compressed", [b"Z" + zlib.compress(b"[" * 1_000_000 + b"]" * 1_000_000)]),
        ("not an object", [b'J"hello"']),
        ("not JSON", [b"Jhello"]),
        ("unknown kind", [b"Q{}"]),
        ("empty", [b""]),
        ("two frames", [encode({"v": 1, "type": "pair-hello"}), encode({"v": 1, "type": "pair-hello"})]),
        ("claims the peer", [encode({"v": 1, "type": "dir", "from": peer_name,
                                     "directory": {"entries": [["201", "x", "SIP"]], "patterns": "2XX",
                                                   "module_version": "0.1.0"}})]),
        ("v: true", [encode({"v": True, "type": "pair-hello"})]),
        ("lone surrogate", [b'J{"v":1,"type":"ping","from":"\\ud800"}']),
        ("wide object", [b"J{" + b",".join(b'"k%d":0' % i for i in range(100)) + b"}"]),
    ]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    nodes = []
    for name, address, pattern, numbers in (("moscow", "127.0.0.2", "2XX", ("201",)),
                                            ("spb", "127.0.0.3", "3XX", ("301",))):
        folder = tmp_path / name
        build_station_db(folder / "mikopbx.db", StationSpec(name=name, lan_ip=address,
                                                              phones=[Phone(n, f"User {n}") for n in numbers]))
        init_db(folder / "module.db")
        write_settings(folder / "module.db", Settings(station_name=name, own_patterns=pattern))
        nodes.append(Node(name, address, pattern, folder, free_port(address)))
    moscow, spb = nodes
    moscow.start()
    spb.start()
    spb.accept(moscow.invite())
    moscow.changed()
    wait_until(lambda: spb.svc.status()["peers"].get("moscow", {}).get("in_sync"), 10, "spb in sync")
    try:
        yield moscow, spb
    finally:
        for node in nodes:
            node.stop()


def _dealer(ctx: Any, target: Node, keys: Any | None) -> Any:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_secretkey, sock.curve_publickey = keys.secret.encode(), keys.public.encode()
        sock.curve_serverkey = target.svc.keys.public.encode()
    sock.connect(f"tcp://{target.address}:{target.port}")
    return sock


def test_a_throwaway_key_gets_nothing_and_breaks_nothing(tally: Tally, pair: tuple[Node, Node],
                                                         tmp_path: Path) -> None:
    moscow, spb = pair
    before = moscow.module_db.read_bytes()
    stored_before = moscow.directory_of("spb")
    rogue = load_or_create_keys(tmp_path / "rogue")
    ctx = zmq.Context()
    sock = _dealer(ctx, moscow, rogue)
    try:
        for what, frames in _frames_for("spb"):
            sock.send_multipart(frames)
            answered = sock.poll(3000)
            answer = decode(sock.recv()) if answered else None
            try:
                if answer is not None:
                    assert answer["type"] in ("refused", "pair-challenge"), (what, answer)
                assert moscow.svc.is_alive(), f"the sync thread died on: {what}"
            except AssertionError:
                tally.add("sync.attacker", "unsafe")
                raise
            tally.add("sync.attacker", "refused")
        for _ in range(600):  # a flood of pairing challenges: bounded (the oldest are dropped)
            sock.send(encode({"v": 1, "type": "pair-hello"}))
        wait_until(lambda: len(moscow.svc.server._nonces) > 0, 10, "the flood served")
        assert len(moscow.svc.server._nonces) <= 256
        tally.add("sync.attacker", "refused")
    finally:
        sock.close(0)
        ctx.term()
    assert moscow.svc.is_alive() and moscow.svc.health.restarts == 0
    assert moscow.directory_of("spb") == stored_before  # nothing stored from the attacker
    assert moscow.svc.counters["refused_messages"] > 0
    # the paired peer still syncs: a new extension reaches it
    moscow.add_phone("202", "Мария")
    moscow.changed()
    wait_until(lambda: spb.directory_of("moscow").get("202") == "Мария", 10, "the paired peer's sync")
    assert [p.name for p in read_config(moscow.module_db).peers] == ["spb"]
    assert before  # module.db existed all along


def test_no_key_plain_tcp_and_oversized_frames_are_dropped(tally: Tally, pair: tuple[Node, Node]) -> None:
    moscow, spb = pair
    for garbage in (b"\xff" * 64, b"GET / HTTP/1.0\r\n\r\n", b"\x00" * 10_000, bytes(range(256)) * 40):
        with socket.create_connection((moscow.address, moscow.port), timeout=5) as s:
            s.sendall(garbage)
        tally.add("sync.no-key", "refused")
    ctx = zmq.Context()
    try:
        plain = _dealer(ctx, moscow, None)  # NULL mechanism against a CURVE server: the handshake fails
        plain.send(encode({"v": 1, "type": "pair-hello"}))
        assert not plain.poll(1000)
        plain.close(0)
        tally.add("sync.no-key", "refused")
        rogue = load_or_create_keys(Path(moscow.folder) / "rogue2")
        big = _dealer(ctx, moscow, rogue)
        big.send(b"J" + b" " * (9 * 1024 * 1024))  # over MAXMSGSIZE: zmq drops the connection
        assert not big.poll(1500)
        big.close(0)
        tally.add("sync.no-key", "refused")
    finally:
        ctx.term()
    assert moscow.svc.is_alive()
    spb.svc.notify()
    wait_until(lambda: spb.svc.status()["peers"]["moscow"]["state"] == "up", 10, "the link is still up")


def test_a_sync_thread_that_dies_is_restarted_by_the_worker_and_answers_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from python_worker.apply.reconciler import ApplyOptions
    from python_worker.apply.system import NoReload
    from python_worker.service.worker import Worker, WorkerOptions
    from python_worker.sync.links import SyncOptions
    from tests.unit.applyhelpers import make_station, running

    paths = make_station(tmp_path, "2026.1")
    port = free_port("127.0.0.2")
    worker = Worker(paths, NoReload(), ApplyOptions(), WorkerOptions(
        reachability_interval=0, sync=SyncOptions(bind="127.0.0.2", port=port, heartbeat=0.2)))
    real = SyncServer.serve
    died: list[int] = []

    def serve(self: SyncServer, server: Any, now: float) -> None:
        if not died:
            died.append(1)
            raise SystemExit("a fault nobody thought of")
        real(self, server, now)

    monkeypatch.setattr(SyncServer, "serve", serve)
    rogue = load_or_create_keys(tmp_path / "rogue")
    ctx = zmq.Context()
    with running(worker) as thread:
        wait_until(lambda: worker.sync is not None and worker.sync.ready.is_set(), 20, "the sync service")
        assert worker.sync is not None
        target = Node("moscow", "127.0.0.2", "2XX", tmp_path, port, worker.sync)
        sock = _dealer(ctx, target, rogue)
        try:
            sock.send(encode({"v": 1, "type": "pair-hello"}))  # the first message kills the thread
            wait_until(lambda: worker.supervisor.status()["sync"]["restarts"] == 1
                       and worker.supervisor.status()["sync"]["alive"], 15, "the restart")
            assert "SystemExit" in str(worker.status()["threads"]["sync"]["last_error"])
            sock.close(0)
            sock = _dealer(ctx, target, rogue)
            sock.send(encode({"v": 1, "type": "pair-hello"}))
            assert sock.poll(5000) and decode(sock.recv())["type"] == "pair-challenge"
        finally:
            sock.close(0)
    ctx.term()
    assert not thread.is_alive()
