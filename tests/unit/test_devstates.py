"""Device states over the sync channel, the pure part: what a sender sends and what a receiver sets (core/devstates)."""

from __future__ import annotations

import pytest

from python_worker.core.devstates import (
    DOWN,
    MAX_STATES,
    OwnStates,
    PeerStates,
    RemoteStates,
    Watches,
    from_hint_state,
    valid_states,
)

P = "Custom:FED-AAAAAAAAAA-"


def test_hint_states_become_the_device_states_that_light_the_same_lamp() -> None:
    assert from_hint_state("Idle", "0") == "NOT_INUSE"
    assert from_hint_state("InUse", "1") == "INUSE"
    assert from_hint_state("Busy", "2") == "BUSY"
    assert from_hint_state("Unavailable", "4") == DOWN
    assert from_hint_state("Ringing", "8") == "RINGING"
    assert from_hint_state("InUse&Ringing", "9") == "RINGINUSE"
    assert from_hint_state("Hold", "16") == "ONHOLD"
    assert from_hint_state("", "-1") == DOWN  # hint removed
    assert from_hint_state("Whatever", "9") == "RINGINUSE"  # an unknown text: the number decides
    assert from_hint_state("Whatever", "x") is None


def test_received_states_are_checked() -> None:
    assert valid_states({"301": "INUSE"}) == {"301": "INUSE"}
    for bad in ({"30a": "INUSE"}, {"301": "SHELL(rm)"}, {"301": 3}, ["301"], {"": "INUSE"}):
        with pytest.raises(ValueError):
            valid_states(bad)
    with pytest.raises(ValueError):
        valid_states({str(i): "INUSE" for i in range(MAX_STATES + 1)})


def test_receiver_sets_only_the_numbers_the_peer_may_set() -> None:
    r = RemoteStates()
    assert r.set_filters({"spb": (P, frozenset({"301", "302"}))}) == ([], [])
    sets = r.receive("spb", True, {"301": "INUSE", "250": "BUSY", "999": "INUSE"})  # 250 is ours, 999 not its
    assert sets == [(P + "301", "INUSE"), (P + "302", DOWN)]  # a number it did not list reads Unavailable
    assert r.receive("spb", False, {"301": "INUSE"}) == []  # no change: nothing set
    assert r.receive("spb", False, {"302": "NOT_INUSE", "250": "INUSE"}) == [(P + "302", "NOT_INUSE")]
    assert r.receive("nsk", True, {"401": "INUSE"}) == []  # not a peer whose states we carry


def test_peer_down_makes_every_lamp_unavailable_and_its_next_snapshot_heals_them() -> None:
    r = RemoteStates()
    r.set_filters({"spb": (P, frozenset({"301", "302"}))})
    r.receive("spb", True, {"301": "INUSE", "302": "NOT_INUSE"})
    assert r.peer_down("spb") == [(P + "301", DOWN), (P + "302", DOWN)]
    assert r.peer_down("spb") == []
    assert r.receive("spb", True, {"301": "NOT_INUSE", "302": "NOT_INUSE"}) == [
        (P + "301", "NOT_INUSE"), (P + "302", "NOT_INUSE")]


def test_a_number_announced_before_the_filter_allows_it_is_set_when_it_does() -> None:
    r = RemoteStates()
    r.set_filters({"spb": (P, frozenset({"301"}))})
    r.receive("spb", True, {"301": "INUSE", "303": "BUSY"})
    sets, gone = r.set_filters({"spb": (P, frozenset({"301", "303"}))})  # its new directory arrived
    assert sets == [(P + "303", "BUSY")] and gone == []
    sets, gone = r.set_filters({"spb": (P, frozenset({"303"}))})
    assert sets == [] and gone == [P + "301"]
    sets, gone = r.set_filters({})
    assert gone == [P + "303"]


def test_a_snapshot_that_arrives_before_the_plan_carries_the_peer_is_used_when_it_does() -> None:
    # Right after pairing the new peer's link sends its snapshot (once per connection) before our plan carries it.
    r = RemoteStates()
    assert r.receive("nsk", True, {"401": "INUSE", "402": "NOT_INUSE"}) == []
    assert r.receive("nsk", False, {"402": "RINGING"}) == []
    sets, gone = r.set_filters({"nsk": (P, frozenset({"401", "402", "403"}))})
    assert sets == [(P + "401", "INUSE"), (P + "402", "RINGING"), (P + "403", DOWN)] and gone == []
    assert r.pending == {}
    # a peer that went down before it was carried: its old snapshot is not used
    r.receive("ekb", True, {"501": "INUSE"})
    r.peer_down("ekb")
    r.set_filters({"nsk": (P, frozenset({"401", "402", "403"})), "ekb": ("Custom:FED-E-", frozenset({"501"}))})
    assert r.peers["ekb"].applied == {} and not r.peers["ekb"].heard


def test_a_peer_seen_down_by_our_heartbeats_only_gets_its_lamps_back_when_our_link_answers_again() -> None:
    # Our heartbeats to spb were late (a busy box) while spb's own link to us, which carries its states, stayed up:
    # spb sends no new snapshot, but every change reached us, so what we heard last is set again.
    r = RemoteStates()
    r.set_filters({"spb": (P, frozenset({"301", "302"}))})
    r.receive("spb", True, {"301": "INUSE", "302": "NOT_INUSE"})
    assert r.peer_down("spb") == [(P + "301", DOWN), (P + "302", DOWN)]
    assert r.peer_up("spb") == [(P + "301", "INUSE"), (P + "302", "NOT_INUSE")]
    assert r.peer_up("spb") == []
    # ... or a change arrives first: all of them come back, not only the changed one
    r.peer_down("spb")
    assert r.receive("spb", False, {"301": "BUSY"}) == [(P + "301", "BUSY"), (P + "302", "NOT_INUSE")]
    assert r.peer_up("spb") == [] and r.peer_up("nsk") == []


def test_reapply_sets_everything_again() -> None:
    r = RemoteStates()
    r.set_filters({"spb": (P, frozenset({"301"}))})
    r.receive("spb", True, {"301": "RINGING"})
    assert r.reapply() == [(P + "301", "RINGING")]


def test_sender_reports_changes_once_and_numbers_gone_as_unavailable() -> None:
    own = OwnStates()
    own.load({"201": "NOT_INUSE", "202": "INUSE"})
    assert own.take_changes() == {"201": "NOT_INUSE", "202": "INUSE"} and own.take_changes() == {}
    assert own.update("201", "BUSY") and not own.update("201", "BUSY")
    own.load({"201": "BUSY"})  # a full look after a reconnect: 202 is gone
    assert own.take_changes() == {"201": "BUSY", "202": DOWN}
    assert own.states == {"201": "BUSY", "202": DOWN}


def test_watches_say_nothing_until_a_list_is_read_then_follow_lists_events_and_plans() -> None:
    peers = {"spb": PeerStates("Custom:FED-AA-", frozenset({"301", "302"})),
             "nsk": PeerStates("Custom:FED-BB-", frozenset({"401"}))}
    w = Watches()
    w.start()
    for n in ("301", "401", "999"):  # 999: a hint of nobody's we carry
        w.listed(n)
    assert w.seen("302", peers) is False and w.by_peer is None  # not read whole yet: nothing said
    assert w.finish(peers) is True
    assert w.by_peer == {"nsk": frozenset({"401"}), "spb": frozenset({"301"})}  # 302's event came before the end
    assert w.seen("302", peers) is True and w.by_peer["spb"] == {"301", "302"}
    assert w.seen("302", peers) is False
    w.start()
    w.listed("302")
    assert w.finish(peers) is True and w.by_peer == {"nsk": frozenset(), "spb": frozenset({"302"})}
    peers["spb"] = PeerStates("Custom:FED-AA-", frozenset({"301"}))  # a new plan: 302 no longer spb's
    assert w.update(peers) is True and w.by_peer["spb"] == frozenset()
