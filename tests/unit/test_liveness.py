"""Peer liveness and the lamp schedule as pure state machines: tables of observations and what must follow."""

from __future__ import annotations

import pytest

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.lamps import DOWN, UP, LampSchedule, hints_show, steps_to
from python_worker.core.liveness import Liveness, Watched
from python_worker.core.planner import build_plan, provider_id
from python_worker.core.runtime import Runtime
from tests.conftest import make_snapshot

SPB = Watched("spb", provider_id("spb"), True, ("301", "302"))
NSK = Watched("nsk", provider_id("nsk"), True, ("401",))
PEERS = (SPB, NSK)
A, U, K = "reachable", "unreachable", "unknown"


def reach(spb: str | None = None, nsk: str | None = None) -> dict[str, str]:
    out = {}
    if spb is not None:
        out[SPB.provider_id] = spb
    if nsk is not None:
        out[NSK.provider_id] = nsk
    return out


# Each row: contacts polls in order -> after each, (changed, dead trunks, publication epochs).
QUALIFY_CASES = {
    "all up: nothing changes": [(reach(A, A), False, set(), {})],
    "unknown first: nothing known yet": [(reach(K, K), False, set(), {})],
    "down, then garbage keeps it down": [
        (reach(U, A), True, {"spb"}, {}),
        ({}, False, {"spb"}, {}),
        (reach(K, A), False, {"spb"}, {}),
    ],
    "down then back renews the publication": [
        (reach(U, A), True, {"spb"}, {}),
        (reach(A, A), True, set(), {"spb": 1}),
    ],
    "two outages: the epoch moves on each return": [
        (reach(U, A), True, {"spb"}, {}),
        (reach(A, A), True, set(), {"spb": 1}),
        (reach(U, U), True, {"spb", "nsk"}, {"spb": 1}),
        (reach(A, U), True, {"nsk"}, {"spb": 2}),
        (reach(A, A), True, set(), {"spb": 2, "nsk": 1}),
    ],
    "a contact missing from the poll keeps a dead peer dead": [
        (reach(U, A), True, {"spb"}, {}),
        (reach(None, A), False, {"spb"}, {}),
    ],
}


@pytest.mark.parametrize("steps", QUALIFY_CASES.values(), ids=QUALIFY_CASES.keys())
def test_qualify_polls(steps: list[tuple[dict[str, str], bool, set[str], dict[str, int]]]) -> None:
    live = Liveness()
    for polled, changed, down, epochs in steps:
        assert live.on_qualify(PEERS, polled) is changed
        assert live.trunk_down == down and live.down == down
        assert live.epochs == epochs


def test_epochs_cycle_through_nine_names() -> None:
    live = Liveness()
    for _ in range(10):
        live.renew(["spb"])
    assert live.epochs == {"spb": 1}


# Sync heartbeats: (down reported, changed, down, epochs in the runtime made next).
SYNC_CASES = {
    "down": [({"spb"}, True, {"spb"}, {})],
    "down then back: renewed at the next plan": [({"spb"}, True, {"spb"}, {}), (set(), True, set(), {"spb": 1})],
    "same report twice": [({"spb"}, True, {"spb"}, {}), ({"spb"}, False, {"spb"}, {})],
}


@pytest.mark.parametrize("steps", SYNC_CASES.values(), ids=SYNC_CASES.keys())
def test_sync_heartbeats(steps: list[tuple[set[str], bool, set[str], dict[str, int]]]) -> None:
    live = Liveness()
    for reported, changed, down, epochs in steps:
        assert live.on_sync(reported) is changed
        runtime = live.runtime(drives_lamps=True)
        assert runtime.down == down and dict(runtime.publish_epochs) == epochs and runtime.drives_lamps


def test_trunk_and_sync_both_count_as_down() -> None:
    live = Liveness()
    live.on_qualify(PEERS, reach(U, A))
    live.on_sync({"nsk"})
    assert live.runtime(drives_lamps=False).down == {"spb", "nsk"}


# Remote lamps: (hint states, whether a look is needed first, peers newly seen publishing, epochs, BLF dots).
HINT_CASES = {
    "nobody publishes yet": [({"301": "Unavailable"}, True, set(), {}, {"spb": "waiting", "nsk": "waiting"})],
    "spb publishes at the first look: renewed once": [
        ({"301": "Idle"}, True, {"spb"}, {"spb": 1}, {"spb": "ok", "nsk": "waiting"}),
        ({"301": "Idle", "302": "Busy"}, True, set(), {"spb": 1}, {"spb": "ok", "nsk": "waiting"}),
        ({"301": "Idle", "401": "Idle"}, True, {"nsk"}, {"spb": 1, "nsk": 1}, {"spb": "ok", "nsk": "ok"}),
        ({}, False, set(), {"spb": 1, "nsk": 1}, {"spb": "ok", "nsk": "ok"}),  # everybody seen: no more looks
    ],
}


@pytest.mark.parametrize("steps", HINT_CASES.values(), ids=HINT_CASES.keys())
def test_remote_lamps_reaching_us(steps: list[tuple[dict[str, str], bool, set[str], dict[str, int],
                                                    dict[str, str]]]) -> None:
    live = Liveness()
    assert live.blf_state("spb", True) == "unknown" and live.blf_state("spb", False) == "disabled"
    for states, needed, new, epochs, dots in steps:
        assert live.needs_hints(PEERS) is needed
        if needed:
            assert live.on_hints(PEERS, states) == new
        assert live.epochs == epochs
        assert {p.name: live.blf_state(p.name, p.is_blf) for p in PEERS} == dots


def test_a_peer_planned_down_is_not_looked_for() -> None:
    live = Liveness()
    down_spb = Watched("spb", SPB.provider_id, True, SPB.hint_numbers, is_up=False)
    assert live.on_hints((down_spb,), {"301": "Busy"}) == frozenset()  # its hints are on its lamp device


# ---- the lamp schedule ----

def _plan(*, down: set[str] | None = None) -> object:
    cfg = ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"),
                       (PeerConfig("spb", "127.0.0.3", patterns="30[12]", secret="s" * 32),))
    return build_plan(make_snapshot(), cfg, Runtime.of(down=down or set(), drives_lamps=True))


def _shown(peer: object, devices: str) -> dict[str, tuple[str, str]]:
    return {n: (devices.replace("{n}", n)[:60], "Idle") for n in peer.hint_numbers}  # type: ignore[attr-defined]


def test_steps_always_pass_through_the_other_state() -> None:
    assert steps_to(UP) == (DOWN, UP) and steps_to(DOWN) == (UP, DOWN)


def test_lamp_waits_for_its_hints_then_is_set_once() -> None:
    plan = _plan(down={"spb"})
    spb = plan.peers[0]  # type: ignore[attr-defined]
    device = f"Custom:{spb.lamp_device}"
    sched = LampSchedule()
    sched.after_reconcile(["spb"], frozenset({"spb"}), now=100.0, wait=30.0)
    assert sched.due == {"spb": (DOWN, 130.0)}
    # Asterisk still shows the hints of the peer being up (the reload is queued): wait
    assert sched.ready(spb, _shown(spb, "PJSIP/{n}&" + device), now=101.0) is None
    # half reloaded: still wait
    half = {**_shown(spb, "PJSIP/{n}&" + device), "301": (device, "Busy")}
    assert sched.ready(spb, half, now=102.0) is None
    assert hints_show(spb, _shown(spb, device))
    assert sched.ready(spb, _shown(spb, device), now=103.0) == (DOWN, True)
    sched.done("spb", DOWN, ok=True)
    assert sched.due == {} and sched.given == {"spb": DOWN}
    sched.after_reconcile(["spb"], frozenset({"spb"}), now=110.0, wait=30.0)
    assert sched.due == {}  # already given: nothing to do


def test_lamp_is_set_at_the_deadline_when_the_hints_never_show() -> None:
    spb = _plan().peers[0]  # type: ignore[attr-defined]
    sched = LampSchedule(given={"spb": DOWN})
    sched.after_reconcile(["spb"], frozenset(), now=0.0, wait=1.5)
    assert sched.ready(spb, {}, now=1.0) is None
    assert sched.ready(spb, {}, now=1.5) == (UP, False)


def test_a_failed_set_stays_due_at_the_next_reconcile_and_keeps_its_deadline() -> None:
    sched = LampSchedule()
    sched.after_reconcile(["spb"], frozenset(), now=0.0, wait=30.0)
    sched.done("spb", UP, ok=False)
    assert sched.given == {}
    sched.after_reconcile(["spb"], frozenset(), now=5.0, wait=30.0)
    assert sched.due == {"spb": (UP, 35.0)}
    sched.after_reconcile(["spb"], frozenset(), now=6.0, wait=30.0)
    assert sched.due == {"spb": (UP, 35.0)}  # the same change keeps its deadline
    sched.after_reconcile([], frozenset(), now=7.0, wait=30.0)
    assert sched.due == {}  # the peer is no longer a BLF peer


def test_without_a_way_to_see_the_hints_the_lamp_is_set_at_once() -> None:
    spb = _plan().peers[0]  # type: ignore[attr-defined]
    sched = LampSchedule()
    sched.after_reconcile(["spb"], frozenset(), now=0.0, wait=30.0)
    assert sched.ready(spb, None, now=0.0) == (UP, True)
