"""The nudge: changes sent at once are sent again NUDGE_S later (sync/links.py), so that over a lossy WAN their
segment is never the lone last one in flight (TCP repairs a lost lone segment only at its tail-loss probe, ~300 ms
at 50 ms RTT; one with a segment behind it about one RTT after). First the link's bookkeeping with a recording
socket and an explicit clock, then between two real sync services: the receiver gets the changes twice, in order,
and the second copy never undoes a newer state.

Waits poll with a deadline, never sleep-then-assert.
"""

from __future__ import annotations

from python_worker.sync.states import NUDGE_S, TRICKLE_S
from tests.unit.applyhelpers import wait_until
from tests.unit.test_sync import Node, nodes  # noqa: F401  (the fixture)
from tests.unit.test_sync_states import FakePort, _start
from tests.unit.test_sync_watch import _link


def test_changes_sent_at_once_go_again_after_the_nudge_delay_and_only_once() -> None:
    link, sock, port = _link({"201": "NOT_INUSE", "202": "NOT_INUSE"})
    link.queue_states({"201": "RINGING"}, frozenset({"201"}))
    link.flush_states(port, "moscow", 1.0, frozenset({"201"}))
    assert sock.states() == [(False, {"201": "RINGING"})]
    link.nudge(1.0 + NUDGE_S / 2)
    assert sock.states() == []  # not yet
    link.nudge(1.0 + NUDGE_S)
    assert sock.states() == [(False, {"201": "RINGING"})]
    assert link.counters["states_nudged"] == 1
    link.nudge(2.0)
    assert sock.states() == []  # once


def test_the_copy_is_always_the_latest_changes() -> None:
    link, sock, port = _link({"201": "NOT_INUSE"})
    watched = frozenset({"201"})
    link.queue_states({"201": "RINGING"}, watched)
    link.flush_states(port, "moscow", 1.0, watched)
    link.queue_states({"201": "NOT_INUSE"}, watched)  # before the nudge: the copy must not bring RINGING back
    link.flush_states(port, "moscow", 1.0 + NUDGE_S / 2, watched)
    link.nudge(1.0 + NUDGE_S)
    assert sock.states() == [(False, {"201": "RINGING"}), (False, {"201": "NOT_INUSE"})]  # the second: too soon
    link.nudge(1.0 + 2 * NUDGE_S)
    assert sock.states() == [(False, {"201": "NOT_INUSE"})]


def test_coalesced_changes_alone_are_not_nudged() -> None:
    link, sock, port = _link({"201": "NOT_INUSE", "202": "NOT_INUSE"})
    watched = frozenset({"201"})
    link.queue_states({"202": "INUSE"}, watched)
    link.flush_states(port, "moscow", TRICKLE_S + 0.1, watched)
    assert sock.states() == [(False, {"202": "INUSE"})]
    link.nudge(TRICKLE_S + 1)
    assert sock.states() == [] and link.counters.get("states_nudged", 0) == 0


def test_no_copy_after_a_whole_map_or_a_lost_connection() -> None:
    link, sock, port = _link({"201": "NOT_INUSE"})
    link.queue_states({"201": "RINGING"}, None)
    link.flush_states(port, "moscow", 1.0, None)
    link.states_full = True  # a handshake: the whole map goes next, and is newer than that change
    port.change("201", "INUSE")
    link.flush_states(port, "moscow", 1.001, None)
    link.nudge(2.0)
    assert sock.states() == [(False, {"201": "RINGING"}), (True, {"201": "INUSE"})]
    link.queue_states({"201": "NOT_INUSE"}, None)
    link.flush_states(port, "moscow", 3.0, None)
    link.connected = False
    link.flush_states(port, "moscow", 3.001, None)
    link.nudge(4.0)
    assert sock.states() == [(False, {"201": "NOT_INUSE"})]  # the copy is not sent on a lost connection


def test_between_two_services_the_receiver_gets_each_change_twice_in_order(nodes: list[Node]) -> None:  # noqa: F811
    moscow, spb, _ = nodes
    pm, ps = FakePort({"201": "NOT_INUSE"}), FakePort({"301": "NOT_INUSE"})
    _start(moscow, pm)
    _start(spb, ps)
    spb.accept(moscow.invite())
    wait_until(lambda: ("moscow", True, {"201": "NOT_INUSE"}) in ps.got(), 5, "moscow's map at spb")
    for state in ("RINGING", "INUSE"):
        pm.change("201", state)
        moscow.svc.notify_states()
        wait_until(lambda s=state: ps.got().count(("moscow", False, {"201": s})) == 2, 3, f"{state} twice at spb")
    changes = [r for r in ps.got() if r[0] == "moscow" and not r[1]]
    assert changes == [("moscow", False, {"201": "RINGING"})] * 2 + [("moscow", False, {"201": "INUSE"})] * 2
    assert moscow.svc.counters["states_nudged"] >= 2
