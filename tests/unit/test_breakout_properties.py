"""Property tests of fallback and transit (issue #15): no short number ever passes, the number rewrite composes
exactly, hostile values never reach the dialplan, and the features never change what a peer without them gets."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.patterns import parse_pattern_list, patterns_regex
from python_worker.core.planner import build_plan
from python_worker.core.public_fields import MIN_TRANSIT_DIGITS, check_transit_fields
from python_worker.core.station import OutgoingRoute, Provider
from python_worker.render.hooks import render_hooks
from tests.conftest import make_snapshot

PSTN = "SIP-PROVIDER-PSTN1"
SNAP = make_snapshot(providers=(Provider(PSTN, "127.0.0.50", 5060, "none", "PSTN", False, False),),
                     routes=(OutgoingRoute(1, "PSTN 11 digits", PSTN, 5, "", 11, False),))
EMERGENCY = ("01", "02", "03", "04", "101", "102", "103", "104", "112", "911", "999", "000", "110", "118", "119")

position = st.sampled_from(["X", "Z", "N", "0", "1", "7", "8", "9", "[0-4]", "[135-7]"])
patterns = st.lists(position, min_size=1, max_size=15).map("".join)


@given(st.lists(patterns, min_size=1, max_size=4))
def test_an_accepted_transit_grant_matches_no_short_number(texts: list[str]) -> None:
    raw = ",".join(texts)
    peer = PeerConfig("spb", "127.0.0.3", patterns="3XX", secret="x" * 20, transit_patterns=raw, transit_provider=PSTN)
    if check_transit_fields(peer):
        return  # refused: nothing is granted
    rx = re.compile(f"^({patterns_regex(parse_pattern_list(raw))})$")
    for number in EMERGENCY:
        assert not rx.match(number)
    for length in range(1, MIN_TRANSIT_DIGITS):
        assert not rx.match("1" * length) and not rx.match("0" * length) and not rx.match("9" * length)


digits = st.text("0123456789", max_size=8)


@given(st.integers(0, 6), st.tuples(st.sampled_from(["", "+"]), digits).map("".join), st.integers(0, 6),
       st.tuples(st.sampled_from(["", "+"]), st.text("0123456789", max_size=6)).map("".join),
       st.text("0123456789", min_size=3, max_size=8))
def test_composing_our_rewrite_with_the_providers_route_is_applying_both(trim: int, prepend: str, route_trim: int,
                                                                         route_prepend: str, number: str) -> None:
    route = OutgoingRoute(1, "r", PSTN, 1, "", -1, False, trimfrombegin=route_trim, prepend=route_prepend)
    t, p = route.after(trim, prepend)
    dialled = (prepend + number[trim:]).removeprefix("+")  # what a phone dialling it would send down the route
    assert route.rewrite(dialled) == p + number[t:]


hostile = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150)
@given(hostile, hostile, hostile, hostile, hostile)
def test_no_injection_through_the_new_fields(provider: str, prepend: str, transit: str, callerid: str,
                                            public: str) -> None:
    peer = PeerConfig("spb", "127.0.0.3", patterns="3XX", secret="x" * 20, fallback_provider=provider or PSTN,
                      fallback_prepend=prepend, transit_patterns=transit, transit_provider=PSTN,
                      transit_callerid=callerid)
    config = ModuleConfig(Settings(station_name="moscow", own_patterns="2XX", public_number=public,
                                   public_prepend="74951234"), (peer,))
    hooks = render_hooks(build_plan(SNAP, config))  # never raises: a value that is not clean never reaches here
    text = "".join(hooks.values())
    for value in (provider, prepend, transit, callerid, public):
        if value and not re.fullmatch(r"[A-Za-z0-9+_-]+", value):
            assert value not in text or len(value) < 2


@given(st.sampled_from(["", "78125550"]), st.sampled_from(["", "8495XXXXXXX"]))
def test_a_peer_without_the_features_renders_the_same_as_before(fallback: str, grant: str) -> None:
    spb = PeerConfig("spb", "127.0.0.3", patterns="3XX", secret="x" * 20,
                     fallback_provider=PSTN if fallback else "", fallback_prepend=fallback,
                     transit_patterns=grant, transit_provider=PSTN if grant else "")
    kzn = PeerConfig("kazan", "127.0.0.5", patterns="5XX", secret="y" * 20)
    settings_ = Settings(station_name="moscow", own_patterns="2XX", public_number="74951234000")
    with_spb = render_hooks(build_plan(SNAP, ModuleConfig(settings_, (spb, kzn))))["extensionGenContexts"]
    alone = render_hooks(build_plan(SNAP, ModuleConfig(settings_, (kzn,))))["extensionGenContexts"]
    assert alone in with_spb  # kazan's text is unchanged by what spb has
