"""Device states on the sync channel between real sync services (CurveZMQ on 127.0.0.x), with fake AMI sides.

Waits poll with a deadline, never sleep-then-assert.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace

from python_worker.sync.service import SyncService
from tests.unit.applyhelpers import wait_until
from tests.unit.test_sync import FAST, Node, nodes  # noqa: F401  (the fixture)


class FakePort:
    """The AMI side as the sync thread sees it (sync/states.py StatePort)."""

    def __init__(self, own: Mapping[str, str] | None) -> None:
        self.lock = threading.Lock()
        self.own = None if own is None else dict(own)
        self.changes: dict[str, str] = {}
        self.remote: list[tuple[str, bool, dict[str, str]]] = []
        self.down: list[str] = []
        self.up: list[str] = []
        self.watches: dict[str, frozenset[str]] | None = None  # what our phones watch, per peer (None: not read)

    def own_snapshot(self) -> Mapping[str, str] | None:
        with self.lock:
            return None if self.own is None else dict(self.own)

    def take_own_changes(self) -> dict[str, str]:
        with self.lock:
            out, self.changes = self.changes, {}
            return out

    def on_remote(self, peer: str, full: bool, states: Mapping[str, str]) -> None:
        with self.lock:
            self.remote.append((peer, full, dict(states)))

    def on_peer_down(self, peer: str) -> None:
        with self.lock:
            self.down.append(peer)

    def on_peer_up(self, peer: str) -> None:
        with self.lock:
            self.up.append(peer)

    def watching(self) -> Mapping[str, frozenset[str]] | None:
        with self.lock:
            return self.watches

    def change(self, number: str, state: str) -> None:
        with self.lock:
            assert self.own is not None
            self.own[number] = state
            self.changes[number] = state

    def got(self) -> list[tuple[str, bool, dict[str, str]]]:
        with self.lock:
            return list(self.remote)


def _start(node: Node, port: FakePort | None) -> SyncService:
    svc = SyncService(node.state_dir, node.station(), replace(FAST, bind=node.address, port=node.port), port=port)
    svc.start()
    assert svc.ready.wait(5)
    node.service = svc
    if port is not None:
        svc.notify_states()
    return svc


def test_states_travel_whole_after_the_handshake_then_as_changes(nodes: list[Node]) -> None:  # noqa: F811
    moscow, spb, _ = nodes
    pm, ps = FakePort({"201": "NOT_INUSE", "202": "INUSE"}), FakePort({"301": "BUSY"})
    _start(moscow, pm)
    svc_spb = _start(spb, ps)
    spb.accept(moscow.invite())
    wait_until(lambda: ("moscow", True, {"201": "NOT_INUSE", "202": "INUSE"}) in ps.got(), 5, "moscow's states at spb")
    wait_until(lambda: ("spb", True, {"301": "BUSY"}) in pm.got(), 5, "spb's states at moscow")
    pm.change("201", "RINGING")
    moscow.svc.notify_states()
    wait_until(lambda: ("moscow", False, {"201": "RINGING"}) in ps.got(), 2, "the change at spb")
    wait_until(lambda: moscow.svc.status()["peers"]["spb"]["carries_states"] is True, 5, "spb's feature seen")
    assert moscow.svc.legacy() == frozenset() and svc_spb.legacy() == frozenset()
    assert pm.down == [] and ps.down == []


def test_a_peer_that_stops_answering_is_reported_down_and_resends_everything_when_back(
        nodes: list[Node]) -> None:  # noqa: F811
    moscow, spb, _ = nodes
    pm, ps = FakePort({"201": "NOT_INUSE"}), FakePort({"301": "INUSE"})
    _start(moscow, pm)
    _start(spb, ps)
    spb.accept(moscow.invite())
    wait_until(lambda: any(r[0] == "spb" and r[1] for r in pm.got()), 15, "spb's first snapshot")
    # Down now = one more down than up reported (a loaded machine may miss a 0.8 s heartbeat timeout and report a
    # down and an up before the stop; those pairs do not count).
    spb.stop()
    wait_until(lambda: set(pm.down) == {"spb"} and len(pm.down) == len(pm.up) + 1, 15,
               f"moscow to report spb down ({pm.down} {pm.up} {moscow.svc.status()['peers'].get('spb')})")
    before = len(pm.got())
    ps.change("301", "NOT_INUSE")  # changed while away: nobody heard it
    _start(spb, ps)
    wait_until(lambda: ("spb", True, {"301": "NOT_INUSE"}) in pm.got()[before:], 15, "spb's snapshot after restart")
    wait_until(lambda: set(pm.up) == {"spb"} and len(pm.up) == len(pm.down), 15, "moscow to report spb up again")


def test_states_wait_for_asterisk_to_be_read(nodes: list[Node]) -> None:  # noqa: F811
    moscow, spb, _ = nodes
    pm, ps = FakePort(None), FakePort({"301": "INUSE"})
    _start(moscow, pm)
    _start(spb, ps)
    spb.accept(moscow.invite())
    wait_until(lambda: moscow.svc.status()["peers"].get("spb", {}).get("state") == "up", 5, "the link up")
    assert not any(r[0] == "moscow" for r in ps.got())  # nothing known yet: nothing sent
    with pm.lock:
        pm.own = {"201": "BUSY"}
    moscow.svc.notify_states()
    wait_until(lambda: ("moscow", True, {"201": "BUSY"}) in ps.got(), 5, "the first snapshot once known")


def test_a_worker_without_states_is_seen_as_legacy_and_its_peer_keeps_publications(
        nodes: list[Node]) -> None:  # noqa: F811
    moscow, spb, _ = nodes
    pm = FakePort({"201": "NOT_INUSE"})
    _start(moscow, pm)
    _start(spb, None)  # an older module: no state port, its pongs carry no feature
    spb.accept(moscow.invite())
    wait_until(lambda: moscow.svc.legacy() == frozenset({"spb"}), 5, "spb seen without the feature")
    assert moscow.svc.status()["peers"]["spb"]["carries_states"] is False
