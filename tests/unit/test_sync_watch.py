"""Interest: a peer gets the changes of the numbers its phones watch at once and the rest coalesced every
TRICKLE_S (sync/states.py). First the link's bookkeeping with a recording socket and an explicit clock, then the
watch message between two real sync services (CurveZMQ on 127.0.0.x): sent, echoed in the pong, sent again when
the peer lost it.

Waits poll with a deadline, never sleep-then-assert.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from python_worker.sync import links as links_mod
from python_worker.sync.links import Link
from python_worker.sync.messages import MessageError, checked_request
from python_worker.sync.states import TRICKLE_S, WATCH, read_watch, watch_message, watch_version
from python_worker.sync.wire import PEER, decode
from tests.unit.applyhelpers import wait_until
from tests.unit.test_sync import FAST, Node, nodes  # noqa: F401  (the fixture)
from tests.unit.test_sync_states import FakePort, _start


class RecordingSocket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def send(self, frame: bytes, flags: int = 0) -> None:
        self.frames.append(decode(frame, PEER))

    def states(self) -> list[tuple[bool, dict[str, str]]]:
        out = [(f["full"], f["states"]) for f in self.frames if f["type"] == "states"]
        self.frames = [f for f in self.frames if f["type"] != "states"]
        return out


def _link(own: dict[str, str]) -> tuple[Link, RecordingSocket, FakePort]:
    sock = RecordingSocket()
    link = Link(name="spb", host="127.0.0.3", port=7787, key="k", sock=sock, mon=None, created=0.0,
                counters={"bytes_sent": 0}, state="up", connected=True, features=frozenset({"states", WATCH}))
    port = FakePort(own)
    link.flush_states(port, "moscow", 0.0, None)  # the whole map after the handshake
    assert sock.states() == [(True, own)]
    return link, sock, port


def test_without_a_watch_list_every_change_goes_at_once() -> None:
    link, sock, _port = _link({"201": "NOT_INUSE", "202": "NOT_INUSE"})
    link.queue_states({"201": "RINGING", "202": "INUSE"}, None)
    link.flush_states(_port, "moscow", 0.1, None)
    assert sock.states() == [(False, {"201": "RINGING", "202": "INUSE"})]


def test_a_watched_number_goes_at_once_the_others_coalesced_at_the_trickle() -> None:
    link, sock, port = _link({"201": "NOT_INUSE", "202": "NOT_INUSE"})
    watched = frozenset({"201"})
    link.flush_states(port, "moscow", 0.1, watched)
    assert sock.states() == []  # nothing newly watched since the map: nothing to send
    for t, (n, st) in enumerate([("202", "RINGING"), ("201", "RINGING"), ("202", "INUSE"), ("202", "NOT_INUSE")]):
        link.queue_states({n: st}, watched)
        link.flush_states(port, "moscow", TRICKLE_S * (0.2 + 0.1 * t), watched)
    assert sock.states() == [(False, {"201": "RINGING"})]
    link.flush_states(port, "moscow", TRICKLE_S - 0.01, watched)
    assert sock.states() == []
    link.flush_states(port, "moscow", TRICKLE_S + 0.01, watched)
    assert sock.states() == [(False, {"202": "NOT_INUSE"})]  # the last of its three states, once
    link.flush_states(port, "moscow", 2 * TRICKLE_S + 1, watched)
    assert sock.states() == []  # nothing left


def test_a_number_that_becomes_watched_gets_its_current_state_at_once() -> None:
    link, sock, port = _link({"201": "NOT_INUSE", "202": "NOT_INUSE"})
    link.flush_states(port, "moscow", 0.1, frozenset())
    port.change("202", "INUSE")
    link.queue_states(port.take_own_changes(), frozenset())
    link.flush_states(port, "moscow", 0.2, frozenset())
    assert sock.states() == []
    link.flush_states(port, "moscow", 0.3, frozenset({"202"}))  # a phone there subscribed to 202
    assert sock.states() == [(False, {"202": "INUSE"})]
    link.flush_states(port, "moscow", TRICKLE_S + 1, frozenset({"202"}))
    assert sock.states() == []  # its coalesced change went with the current state, not again


def test_a_lost_connection_drops_the_queues_and_the_next_map_is_whole() -> None:
    link, sock, port = _link({"201": "NOT_INUSE", "202": "NOT_INUSE"})
    link.queue_states({"202": "INUSE"}, frozenset())
    link.connected = False
    link.flush_states(port, "moscow", 1.0, frozenset())
    assert link.states_later == {} and link.states_full
    link.connected = True
    port.change("202", "INUSE")
    link.flush_states(port, "moscow", 2.0, frozenset())
    assert sock.states() == [(True, {"201": "NOT_INUSE", "202": "INUSE"})]


def test_the_watch_list_goes_to_a_peer_that_filters_and_again_when_its_pong_says_it_lost_it() -> None:
    link, sock, _port = _link({"201": "NOT_INUSE"})
    link.offer_watch("moscow", frozenset({"301", "302"}))
    link.offer_watch("moscow", frozenset({"301", "302"}))  # unchanged, unconfirmed: not sent twice
    sent = [f for f in sock.frames if f["type"] == "watch"]
    assert [f["numbers"] for f in sent] == [["301", "302"]]
    assert checked_request(sent[0]) == "watch" and read_watch(sent[0]) == {"301", "302"}
    link._pong({"stored": "", "watch_v": watch_version(frozenset({"301", "302"}))}, None, FAST, 1.0)
    link.offer_watch("moscow", frozenset({"301", "302"}))
    assert len([f for f in sock.frames if f["type"] == "watch"]) == 1  # it holds it
    link._pong({"stored": ""}, None, FAST, 2.0)  # it restarted: holds nothing (and its pong has no features)
    link.features = frozenset({"states", WATCH})
    link.offer_watch("moscow", frozenset({"301", "302"}))
    assert len([f for f in sock.frames if f["type"] == "watch"]) == 2
    link.features = frozenset({"states"})  # an older worker: it would refuse the message
    link.watch_sent = ""
    link.offer_watch("moscow", frozenset({"301"}))
    assert len([f for f in sock.frames if f["type"] == "watch"]) == 2


@pytest.mark.parametrize("numbers", [["30x"], "301", [301], ["1" * 21]])
def test_a_malformed_watch_list_is_refused(numbers: object) -> None:
    msg = {**watch_message("spb", frozenset({"301"})), "numbers": numbers}
    with pytest.raises((MessageError, ValueError)):
        checked_request(msg)
        read_watch(msg)


def test_a_watch_list_is_bounded() -> None:
    with pytest.raises(ValueError):
        read_watch({"numbers": [str(n) for n in range(20_001)]})


def test_two_services_filter_by_what_the_other_watches(nodes: list[Node], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(links_mod, "TRICKLE_S", 2.0)
    moscow, spb, _ = nodes
    pm, ps = FakePort({"201": "NOT_INUSE"}), FakePort({"301": "NOT_INUSE", "302": "NOT_INUSE"})
    pm.watches = {"spb": frozenset({"301"})}  # a phone in moscow watches spb's 301, nobody 302
    _start(moscow, pm)
    _start(spb, ps)
    spb.accept(moscow.invite())
    wait_until(lambda: any(r[:2] == ("spb", True) for r in pm.got()), 10, "spb's map at moscow")
    wait_until(lambda: spb.svc.server.shared.watched.get("moscow") == frozenset({"301"}), 5, "moscow's watch at spb")
    assert spb.svc.status()["counters"].get("watch_sent") is None  # spb's phones watch nothing (not read)
    before = len(pm.got())
    ps.change("302", "INUSE")
    ps.change("301", "RINGING")
    spb.svc.notify_states()
    wait_until(lambda: ("spb", False, {"301": "RINGING"}) in pm.got()[before:], 2, "the watched change at once")
    assert ("spb", False, {"302": "INUSE"}) not in pm.got()[before:]
    wait_until(lambda: ("spb", False, {"302": "INUSE"}) in pm.got()[before:], 5, "the other at the trickle")
    # A phone in moscow starts watching 302: spb hears of it, and sends 302's state at once.
    before = len(pm.got())
    with pm.lock:
        pm.watches = {"spb": frozenset({"301", "302"})}
    wait_until(lambda: spb.svc.server.shared.watched.get("moscow") == frozenset({"301", "302"}), 5, "the new watch")
    ps.change("302", "RINGING")
    spb.svc.notify_states()
    wait_until(lambda: ("spb", False, {"302": "RINGING"}) in pm.got()[before:], 2, "302 now at once")
    # spb's worker restarts and forgets what moscow watches: moscow's next pong from it says so, and it tells again.
    spb.stop()
    _start(spb, ps)
    wait_until(lambda: spb.svc.server.shared.watched.get("moscow") == frozenset({"301", "302"}), 10,
               "moscow's watch at the restarted spb")
    assert json.dumps(moscow.svc.status())
