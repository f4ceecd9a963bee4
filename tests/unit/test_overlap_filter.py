"""A number that is both ours and inside a peer's pattern (250 on both stations) stays ours for BLF: no hint
for the peer's one and its state never accepted (Asterisk merges same-named devices of all stations)."""

from __future__ import annotations

import random
import re

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.patterns import numbers_regex
from python_worker.core.planner import Plan, build_plan
from python_worker.render.hooks import render_hooks
from tests.conftest import make_snapshot


def _plan_for(local: list[str], patterns: str = "2XX") -> Plan:
    snap = make_snapshot(tuple(local), name="spb", addresses=("127.0.0.3",))
    config = ModuleConfig(Settings(station_name="spb", own_patterns="3XX"),
                          (PeerConfig(name="moscow", host="127.0.0.2", port=5060, transport="udp",
                                      patterns=patterns, secret="Moscow-Secret-0123456789"),))
    return build_plan(snap, config)


def test_numbers_regex_matches_exactly_the_set() -> None:
    assert numbers_regex(frozenset(str(n) for n in range(200, 300)) - {"250"}) == "2[0-46-9][0-9]|25[1-9]"
    rng = random.Random(7)
    universe = [str(n) for n in range(1000, 1300)] + [str(n) for n in range(40, 60)]
    for _ in range(100):
        chosen = frozenset(rng.sample(universe, rng.randint(1, len(universe))))
        rx = re.compile(numbers_regex(chosen))
        assert all(bool(rx.fullmatch(n)) == (n in chosen) for n in [*universe, "999", "12345"])
    assert re.fullmatch(r"[0-9\[\]|-]+", numbers_regex(frozenset({"201", "203", "299"})))


def test_local_250_is_left_out_of_the_peers_hints_and_filter() -> None:
    plan = _plan_for(["301", "250"])
    peer = plan.peers[0]
    assert "250" not in peer.hint_numbers and "251" in peer.hint_numbers and len(peer.hint_numbers) == 99
    rx = re.compile(peer.accept_regex)
    assert not rx.fullmatch("250") and rx.fullmatch("249") and rx.fullmatch("251")
    hooks = render_hooks(plan)
    assert "exten => 250,hint" not in hooks["extensionGenHints"]
    assert f"device_state_filter = ^PJSIP/({peer.accept_regex})$" in hooks["generatePeersPj"]


def test_without_overlap_the_filter_is_the_pattern_regex() -> None:
    plan = _plan_for(["301", "302"])
    assert plan.peers[0].accept_regex == "2[0-9][0-9]" and len(plan.peers[0].hint_numbers) == 100


def test_peer_range_entirely_ours_accepts_nothing() -> None:
    plan = _plan_for(["301", "250"], patterns="250")
    peer = plan.peers[0]
    assert peer.hint_numbers == () and peer.accept_regex == "-"
    assert "device_state_filter = ^PJSIP/(-)$" in render_hooks(plan)["generatePeersPj"]
