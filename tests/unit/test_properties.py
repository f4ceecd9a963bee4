"""Property tests: determinism, order independence, exact removal, valid names, no injection."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.pipeline import compute
from python_worker.render.hooks import render_hooks
from python_worker.statedir import to_json
from tests.conftest import make_snapshot

SNAP = make_snapshot(("201", "202", "250"))
NAME_OK = re.compile(r"^[A-Za-z0-9_-]+$")

names = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
digits_first = st.sampled_from("13456789")


@st.composite
def peer_sets(draw: st.DrawFn) -> list[PeerConfig]:
    """Up to 6 peers with distinct names, addresses and first digits (so most of them plan)."""
    count = draw(st.integers(0, 6))
    peer_names = draw(st.lists(names, min_size=count, max_size=count, unique_by=str.lower))
    firsts = draw(st.lists(digits_first, min_size=count, max_size=count, unique=True))
    peers = []
    for i, (name, first) in enumerate(zip(peer_names, firsts, strict=True)):
        tail = draw(st.sampled_from(["XX", "[0-4]X", "XXX", "Z"]))
        peers.append(PeerConfig(
            name=name, host=f"127.0.1.{i + 1}", port=5060, patterns=first + tail,
            secret=draw(st.from_regex(r"[A-Za-z0-9]{16,24}", fullmatch=True)),
            blf=draw(st.none() | st.booleans()), transfers=draw(st.none() | st.booleans()),
            overlap_fix=draw(st.none() | st.booleans()), note=draw(st.text(max_size=20)),
        ))
    return peers


def _lines(text: str) -> Counter[str]:
    """Non-blank lines as a multiset (blank separators between blocks are layout, not objects)."""
    return Counter(line for line in text.splitlines() if line.strip())


def cfg(peers: list[PeerConfig]) -> ModuleConfig:
    return ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"), tuple(peers))


def rendered(peers: list[PeerConfig]) -> tuple[str, str]:
    out = compute(SNAP, cfg(peers))
    return to_json(out.hooks), to_json(out.records)


@settings(max_examples=40, deadline=None)
@given(peer_sets(), st.randoms())
def test_deterministic_and_order_independent(peers: list[PeerConfig], rnd) -> None:  # type: ignore[no-untyped-def]
    first = rendered(peers)
    assert rendered(peers) == first
    shuffled = list(peers)
    rnd.shuffle(shuffled)
    assert rendered(shuffled) == first


@settings(max_examples=40, deadline=None)
@given(peer_sets(), st.data())
def test_removing_a_peer_removes_exactly_its_objects(peers: list[PeerConfig], data: st.DataObject) -> None:
    if not peers:
        return
    victim = data.draw(st.sampled_from(peers))
    before = compute(SNAP, cfg(peers))
    after = compute(SNAP, cfg([p for p in peers if p is not victim]))
    assert [p for p in before.plan.peers if p.name != victim.name] == list(after.plan.peers)
    for key in ("providers", "outgoing_routes", "incoming_routes", "network_filters"):
        assert [r for r in before.records[key] if r["peer"] != victim.name] == after.records[key]
    planned = before.plan.peer(victim.name)
    only_victim = render_hooks(replace(before.plan, peers=(planned,) if planned else ()))
    for hook, text in before.hooks.items():
        lines_before, lines_after = _lines(text), _lines(after.hooks[hook])
        assert lines_after - lines_before == Counter()
        assert lines_before - lines_after == _lines(only_victim[hook]), hook


@settings(max_examples=40, deadline=None)
@given(peer_sets())
def test_every_object_name_is_valid(peers: list[PeerConfig]) -> None:
    out = compute(SNAP, cfg(peers))
    for hook in ("generatePeersPj", "extensionGenContexts"):
        for section in re.findall(r"^\[([^\]]*)\]", out.hooks[hook], flags=re.M):
            assert NAME_OK.match(section), section
    for prov in out.records["providers"]:
        assert re.fullmatch(r"SIP-TRUNK-[0-9A-F]{10}", prov["m_Sip"]["uniqid"])


hostile = st.text(alphabet=st.sampled_from([*"ab;[]\n\r\t\x00=#\"\\ ,()$", "\u2028"]), min_size=1, max_size=30)


@settings(max_examples=100, deadline=None)
@given(hostile, hostile, hostile, hostile, hostile)
def test_no_injection_through_any_text_field(name: str, host: str, patterns: str, secret: str, note: str) -> None:
    peers = [
        PeerConfig(name="spb", host="127.0.0.3", patterns="3XX", secret="A" * 16),
        PeerConfig(name=name, host=host, patterns=patterns, secret=secret, note=note),
    ]
    settings_row = Settings(station_name="moscow", display_name=note, own_patterns="2XX")
    out = compute(SNAP, ModuleConfig(settings_row, tuple(peers)))
    for hook, text in out.hooks.items():
        for line in text.splitlines():
            assert "\x00" not in line and "\r" not in line
            if line.startswith("["):
                assert NAME_OK.match(line[1:-1].removesuffix("-incoming-custom").removesuffix("-outgoing-custom")), (
                    hook, line)
        sections = re.findall(r"^\[([^\]]*)\]", text, flags=re.M)
        allowed = {"spb", "SIP-TRUNK-B4FBFB7E21-FED-IN", "SIP-TRUNK-B4FBFB7E21-FED-OUT", "SIP-TRUNK-B4FBFB7E21-FED-PUB",
                   "SIP-TRUNK-B4FBFB7E21-incoming-custom"}
        planned = {p.name for p in out.plan.peers}
        if planned == {"spb"}:
            assert set(sections) <= allowed


def test_peer_with_errors_keeps_others_planned() -> None:
    good = PeerConfig(name="spb", host="127.0.0.3", patterns="3XX", secret="A" * 16)
    bad = replace(good, name="bad", host="127.0.0.4", patterns="4X!")
    out = compute(SNAP, cfg([good, bad]))
    assert [p.name for p in out.plan.peers] == ["spb"]
    assert [p.code for p in out.plan.problems] == ["E_PATTERN_INVALID"]
