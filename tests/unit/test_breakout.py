"""PSTN fallback, transit and routes through a peer (issue #15): exact plans, exact refusals, rendered text."""

from __future__ import annotations

import re

import pytest

from python_worker import FALLBACK_NOTE_PREFIX
from python_worker.box import CONTRACT
from python_worker.core.breakout import (
    CallerRewrite,
    FallbackPlan,
    FallbackRoute,
    TransitPlan,
    rewritten_pattern,
)
from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.planner import RoutePlan, build_plan, provider_id
from python_worker.core.station import OutgoingRoute, Provider, StationSnapshot
from python_worker.render.hooks import render_hooks
from python_worker.render.records import build_records
from tests.conftest import make_snapshot
from tests.unit.lint import lint, wrap_dialplan

SECRET = "s3cret-s3cret-s3cret"
PSTN = "SIP-PROVIDER-PSTN1"
PUBLIC = {"public_number": "74951234000", "public_prepend": "74951234"}


def station(*routes: OutgoingRoute, providers: tuple[Provider, ...] | None = None) -> StationSnapshot:
    provs = providers if providers is not None else (Provider(PSTN, "127.0.0.50", 5060, "none", "PSTN operator",
                                                              False, False),)
    return make_snapshot(providers=provs, routes=routes or (
        OutgoingRoute(1, "PSTN 11 digits", PSTN, 5, "", 11, False),))


def spb(**changes: object) -> PeerConfig:
    base: dict[str, object] = dict(name="spb", host="127.0.0.3", patterns="3XX", secret=SECRET)
    base.update(changes)
    return PeerConfig(**base)  # type: ignore[arg-type]


def config(*peers: PeerConfig, **settings: object) -> ModuleConfig:
    s: dict[str, object] = dict(station_name="moscow", own_patterns="2XX", **PUBLIC)
    s.update(settings)
    return ModuleConfig(Settings(**s), peers)  # type: ignore[arg-type]


def codes(plan) -> list[tuple[str | None, str, str]]:  # type: ignore[no-untyped-def]
    return [(p.peer, p.code, p.field) for p in plan.problems]


FALLBACK = {"fallback_provider": PSTN, "fallback_prepend": "78125550"}
TRANSIT = {"transit_patterns": "8495XXXXXXX", "transit_provider": PSTN, "transit_limit": 2}


# ---------------------------------------------------------------- exact plans

def test_fallback_plan_is_exact_and_follows_the_providers_route() -> None:
    plan = build_plan(station(), config(spb(**FALLBACK)))
    assert plan.problems == ()
    peer = plan.peers[0]
    assert peer.fallback == FallbackPlan(PSTN, "PSTN operator", (
        FallbackRoute("3XX", "3", 2, 0, "78125550", "PSTN 11 digits", ("300", "78125550300")),))
    assert plan.caller_rewrite == CallerRewrite("2[0-9][0-9]", 0, "74951234", "74951234000")
    assert plan.caller_rewrite.apply("201") == "74951234201"
    assert peer.transit is None and peer.via_routes == ()
    row = [r for r in build_records(plan)["outgoing_routes"] if r["providerid"] == PSTN]
    assert row == [{"peer": "spb", "rulename": "Federation: spb 3XX fallback", "providerid": PSTN, "priority": "1",
                    "numberbeginswith": "3", "restnumbers": "2", "trimfrombegin": "0", "prepend": "78125550",
                    "note": "ModulePbxFederation: fallback peer spb pattern 3XX"}]
    # The PHP host tells the fallback routes from every other route by this prefix (contract.json).
    assert row[0]["note"].startswith(CONTRACT["fallback_route_note_prefix"]) and FALLBACK_NOTE_PREFIX
    trunk = [r for r in build_records(plan)["outgoing_routes"] if r["providerid"] == provider_id("spb")]
    assert not any(r["note"].startswith(FALLBACK_NOTE_PREFIX) for r in trunk)


def test_fallback_number_is_sent_the_way_the_providers_own_route_sends_it() -> None:
    # The admin's route takes 8 + 10 digits and sends +7 + the 10 digits; our rewrite gives the dialled form.
    snap = station(OutgoingRoute(1, "Russia 8-10", PSTN, 3, "8", 10, False, trimfrombegin=1, prepend="+7"))
    plan = build_plan(snap, config(spb(fallback_provider=PSTN, fallback_prepend="88125550")))
    assert plan.problems == ()
    route = plan.peers[0].fallback.routes[0]  # type: ignore[union-attr]
    assert (route.trimfrombegin, route.prepend, route.follows) == (0, "+78125550", "Russia 8-10")
    assert route.example == ("300", "+78125550300")
    # Composing is what applying both in turn does, for every number of the pattern.
    for number in ("300", "345", "399"):
        dialled = "88125550" + number
        assert snap.outgoing_routes[0].rewrite(dialled) == route.prepend + number[route.trimfrombegin:]


def test_fallback_trim_replaces_leading_digits() -> None:
    plan = build_plan(station(), config(spb(fallback_provider=PSTN, fallback_trim=1, fallback_prepend="781255503")))
    route = plan.peers[0].fallback.routes[0]  # type: ignore[union-attr]
    assert (route.trimfrombegin, route.prepend, route.example) == (1, "781255503", ("300", "78125550300"))
    assert rewritten_pattern("3XX", 1, "781255503") == "781255503XX"
    assert rewritten_pattern("5[0-4]X", 1, "7") == "7[0-4]X"


def test_transit_plan_and_via_routes_are_exact() -> None:
    nsk = PeerConfig("novosibirsk", "127.0.0.4", patterns="4XX", secret=SECRET, via_patterns="8383XXXXXXX")
    plan = build_plan(station(), config(spb(**TRANSIT), nsk))
    assert plan.problems == ()
    by = {p.name: p for p in plan.peers}
    assert by["spb"].transit == TransitPlan(("8495XXXXXXX",), "8495[0-9][0-9][0-9][0-9][0-9][0-9][0-9]", PSTN,
                                            "PSTN operator", 2, "74951234000")
    assert by["spb"].fallback is None and plan.caller_rewrite is None
    assert by["novosibirsk"].via_routes == (RoutePlan("8383XXXXXXX", "8383", 7),)
    via = [r for r in build_records(plan)["outgoing_routes"] if "transit" in r["note"]]
    assert via == [{"peer": "novosibirsk", "rulename": "Federation: novosibirsk transit 8383XXXXXXX",
                    "providerid": provider_id("novosibirsk"), "priority": "0", "numberbeginswith": "8383",
                    "restnumbers": "7", "trimfrombegin": "0", "prepend": "",
                    "note": "ModulePbxFederation: peer novosibirsk transit 8383XXXXXXX"}]


def test_transit_caller_number_configured_or_the_stations() -> None:
    plan = build_plan(station(), config(spb(**TRANSIT, transit_callerid="+74951230000")))
    assert plan.peers[0].transit.callerid == "+74951230000"  # type: ignore[union-attr]


# ---------------------------------------------------------------- rendered dialplan

def test_dialplan_text_for_fallback_and_transit_passes_asterisklint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(station(), config(spb(**FALLBACK, **TRANSIT, overlap_fix=True)))
    hooks = render_hooks(plan)
    ctx = hooks["extensionGenContexts"]
    u = provider_id("spb")
    # transit first, then our own numbers only; the transit context checks again, caps, presents our number
    assert (f'exten => _.!,1,GotoIf($["${{REGEX("^(8495[0-9][0-9][0-9][0-9][0-9][0-9][0-9])$" ${{EXTEN}})}}" '
            f'== "1"]?{u}-transit,${{EXTEN}},1)\n\tsame => n,ExecIf($["${{REGEX("^(2[0-9][0-9])$" ${{EXTEN}})}}" '
            f'!= "1"]?Hangup(1))') in ctx
    transit = ctx[ctx.index(f"[{u}-transit]"):]
    assert transit.index("Set(GROUP(pbxfed-transit)") < transit.index("GROUP_COUNT") < transit.index("Dial(")
    assert f"ExecIf($[${{GROUP_COUNT({u}@pbxfed-transit)}} > 2]?Hangup(34))" in transit
    assert "Set(CALLERID(num)=74951234000)" in transit and f"Dial(PJSIP/${{EXTEN}}@{PSTN},600)" in transit
    # before the trunk's Dial: keep the caller, clear older causes, then the overlap mark
    out = ctx[ctx.index(f"[{u}-outgoing-custom]"):]
    assert out.index("Set(FED_CALLER=") < out.index("HangupCauseClear()") < out.index("CALLERID(num)=_")
    after = ctx[ctx.index(f"[{u}-outgoing-after-dial-custom]"):]
    assert 'ExecIf($["${DIALSTATUS}" != "CHANUNAVAIL" & "${DIALSTATUS}" != "CONGESTION"]?Return())' in after
    assert after.index("HANGUPCAUSE_KEYS()") < after.index("Set(FED_FALLBACK=${EXTEN})")
    assert hooks["generateOutRoutContext"] == (
        'same => n,ExecIf($["${FED_FALLBACK}" != "${EXTEN}"]?Return())\n'
        "\tsame => n,Set(FED_FALLBACK=)\n"
        '\tsame => n,ExecIf($["${REGEX("^(2[0-9][0-9])$" ${CALLERID(num)})}" == "1"]'
        "?Set(CALLERID(num)=74951234${CALLERID(num)}))\n")
    assert lint(wrap_dialplan(hooks), tmp_path) == {}


def test_caller_rewrite_variants_render() -> None:
    plan = build_plan(station(), config(spb(**FALLBACK), public_prepend="", public_trim=0))
    assert "?Set(CALLERID(num)=74951234000))" in render_hooks(plan)["generateOutRoutContext"]
    plan = build_plan(station(), config(spb(**FALLBACK), public_prepend="749512342", public_trim=1))
    assert "?Set(CALLERID(num)=749512342${CALLERID(num):1}))" in render_hooks(plan)["generateOutRoutContext"]


def test_without_the_features_nothing_changes() -> None:
    plain = render_hooks(build_plan(station(), config(spb())))
    assert "generateOutRoutContext" not in plain  # only present when a fallback route exists
    assert "-transit]" not in plain["extensionGenContexts"] and "after-dial" not in plain["extensionGenContexts"]
    assert "outgoing-custom]" not in plain["extensionGenContexts"]


# ---------------------------------------------------------------- refusals, each naming its field

@pytest.mark.parametrize(("changes", "expected"), [
    ({"fallback_prepend": "78125550"}, ("E_FALLBACK_PROVIDER_MISSING", "fallback_provider")),
    ({"fallback_provider": "SIP-NOPE"}, ("E_FALLBACK_PROVIDER_UNKNOWN", "fallback_provider")),
    ({"fallback_provider": "bad id;"}, ("E_FALLBACK_PROVIDER_UNKNOWN", "fallback_provider")),
    ({"fallback_provider": PSTN, "fallback_trim": 16}, ("E_FALLBACK_TRIM_INVALID", "fallback_trim")),
    ({"fallback_provider": PSTN, "fallback_trim": -1}, ("E_FALLBACK_TRIM_INVALID", "fallback_trim")),
    ({"fallback_provider": PSTN, "fallback_trim": 3, "fallback_prepend": "78125550301"},
     ("E_FALLBACK_TRIM_INVALID", "fallback_trim")),  # nothing of the number would be left
    ({"fallback_provider": PSTN, "fallback_prepend": "7812 555"}, ("E_FALLBACK_PREPEND_INVALID", "fallback_prepend")),
    ({"fallback_provider": PSTN, "fallback_prepend": "7" * 17}, ("E_FALLBACK_PREPEND_INVALID", "fallback_prepend")),
    ({"fallback_provider": PSTN, "fallback_prepend": "7812555"},  # 10 digits: outside "11 digits"
     ("E_FALLBACK_REWRITE_OUTSIDE_ROUTES", "fallback_prepend")),
    ({"transit_patterns": "8495XXXXXXX"}, ("E_TRANSIT_PROVIDER_MISSING", "transit_provider")),
    ({"transit_provider": PSTN}, ("E_TRANSIT_PATTERNS_MISSING", "transit_patterns")),
    ({"transit_patterns": "8495XXXXXXX", "transit_provider": "SIP-NOPE"},
     ("E_TRANSIT_PROVIDER_UNKNOWN", "transit_provider")),
    ({"transit_patterns": "112", "transit_provider": PSTN}, ("E_TRANSIT_PATTERN_SHORT", "transit_patterns")),
    ({"transit_patterns": "9XX", "transit_provider": PSTN}, ("E_TRANSIT_PATTERN_SHORT", "transit_patterns")),
    ({"transit_patterns": "8495.", "transit_provider": PSTN}, ("E_TRANSIT_PATTERN_INVALID", "transit_patterns")),
    ({"transit_patterns": ",".join(f"849{i:02d}XXXXXX" for i in range(21)), "transit_provider": PSTN},
     ("E_TRANSIT_PATTERN_INVALID", "transit_patterns")),
    ({"transit_patterns": "8495XXXXXXX", "transit_provider": PSTN, "transit_limit": 0},
     ("E_TRANSIT_LIMIT_INVALID", "transit_limit")),
    ({"transit_patterns": "8495XXXXXXX", "transit_provider": PSTN, "transit_limit": 1001},
     ("E_TRANSIT_LIMIT_INVALID", "transit_limit")),
    ({"transit_patterns": "8495XXXXXXX", "transit_provider": PSTN, "transit_callerid": "7495 123"},
     ("E_TRANSIT_CALLERID_INVALID", "transit_callerid")),
    ({"via_patterns": "8XX"}, ("E_VIA_PATTERN_SHORT", "via_patterns")),
    ({"via_patterns": "8495[a]XXXXXX"}, ("E_VIA_PATTERN_INVALID", "via_patterns")),
])
def test_each_bad_value_is_refused_on_its_field_and_the_trunk_still_plans(changes: dict[str, object],
                                                                         expected: tuple[str, str]) -> None:
    plan = build_plan(station(), config(spb(**changes)))
    found = [(p.code, p.field) for p in plan.errors if p.peer == "spb"]
    assert expected in found, found
    for pr in plan.errors:
        assert pr.message("en") and pr.message("ru") and pr.message("en") != pr.message("ru")
    peer = plan.peer("spb")
    assert peer is not None and peer.routes  # the office link itself stays up
    assert peer.fallback is None if expected[1].startswith("fallback") else True
    assert peer.transit is None if expected[1].startswith("transit") else True
    assert peer.via_routes == () if expected[1].startswith("via") else True


def test_fallback_provider_must_be_a_usable_public_provider() -> None:
    provs = (Provider(PSTN, "127.0.0.50", 5060, "none", "PSTN operator", False, False),
             Provider("SIP-OFF", "127.0.0.51", 5060, "none", "old", True, False),
             Provider("SIP-IN", "127.0.0.52", 5060, "inbound", "registers to us", False, False),
             Provider(provider_id("kazan"), "127.0.0.5", 5060, "none", "Federation: kazan", False, True))
    snap = station(OutgoingRoute(1, "PSTN 11 digits", PSTN, 5, "", 11, False),
                   OutgoingRoute(2, "in 11", "SIP-IN", 6, "", 11, False), providers=provs)
    kazan = PeerConfig("kazan", "127.0.0.5", patterns="5XX", secret=SECRET)
    cases = {
        "SIP-OFF": ("E_FALLBACK_PROVIDER_DISABLED", "E_TRANSIT_PROVIDER_DISABLED"),
        provider_id("kazan"): ("E_FALLBACK_PROVIDER_FEDERATION", "E_TRANSIT_PROVIDER_FEDERATION"),
        "SIP-IN": (None, "E_TRANSIT_PROVIDER_INBOUND"),  # Core's route dials it fine; our transit Dial does not
    }
    for uniqid, (fb_code, tr_code) in cases.items():
        plan = build_plan(snap, config(spb(fallback_provider=uniqid, fallback_prepend="78125550",
                                           transit_patterns="8495XXXXXXX", transit_provider=uniqid), kazan))
        got = {p.code for p in plan.errors if p.peer == "spb"}
        assert tr_code in got, (uniqid, got)
        assert (fb_code in got) if fb_code else not any(c.startswith("E_FALLBACK") for c in got), (uniqid, got)
    # A federation trunk planned for a peer but not written yet counts as one too.
    plan = build_plan(station(), config(spb(fallback_provider=provider_id("kazan"), fallback_prepend="78125550"),
                                        kazan))
    assert ("spb", "E_FALLBACK_PROVIDER_FEDERATION", "fallback_provider") in codes(plan)


def test_no_public_number_refuses_fallback_and_transit_without_a_caller_number() -> None:
    plan = build_plan(station(), config(spb(**FALLBACK, **TRANSIT), public_number="", public_prepend=""))
    assert ("spb", "E_FALLBACK_PUBLIC_NUMBER_MISSING", "fallback_provider") in codes(plan)
    assert ("spb", "E_TRANSIT_CALLERID_MISSING", "transit_callerid") in codes(plan)
    plan = build_plan(station(), config(spb(**TRANSIT, transit_callerid="74951230000"), public_number=""))
    assert plan.errors == ()


def test_transit_and_via_numbers_never_overlap_our_own_or_each_other() -> None:
    long_own = config(spb(transit_patterns="2XXXXXX", transit_provider=PSTN), own_patterns="2XXXXXX")
    assert ("spb", "E_TRANSIT_PATTERN_OVERLAP_LOCAL", "transit_patterns") in codes(build_plan(station(), long_own))
    a = spb(via_patterns="8495XXXXXXX")
    b = PeerConfig("kazan", "127.0.0.5", patterns="5XX", secret=SECRET, via_patterns="849[5-6]XXXXXXX")
    plan = build_plan(station(), config(a, b))
    assert {(p.peer, p.code) for p in plan.errors} == {("spb", "E_VIA_PATTERN_OVERLAP_PEER"),
                                                       ("kazan", "E_VIA_PATTERN_OVERLAP_PEER")}
    assert all(p.via_routes == () and p.routes for p in plan.peers)


def test_station_public_settings_are_checked() -> None:
    for settings, code in (({"public_number": "+7 495"}, "E_PUBLIC_NUMBER_INVALID"),
                           ({"public_trim": 16}, "E_PUBLIC_TRIM_INVALID"),
                           ({"public_prepend": "7495x"}, "E_PUBLIC_PREPEND_INVALID")):
        plan = build_plan(station(), config(spb(), **settings))
        assert (None, code) in {(p.peer, p.code) for p in plan.errors}, settings


def test_fallback_route_dragged_above_the_trunk_route_is_reported() -> None:
    routes = (OutgoingRoute(1, "PSTN 11 digits", PSTN, 5, "", 11, False),
              OutgoingRoute(7, "Federation: spb 3XX fallback", PSTN, 1, "3", 2, True,
                            note=f"{FALLBACK_NOTE_PREFIX}peer spb pattern 3XX"),
              OutgoingRoute(8, "Federation: spb 3XX", provider_id("spb"), 2, "3", 2, True,
                            note="ModulePbxFederation: peer spb pattern 3XX"))
    plan = build_plan(station(*routes), config(spb(**FALLBACK)))
    assert ("spb", "W_FALLBACK_ROUTE_ORDER", "fallback_provider") in codes(plan)
    in_order = (routes[0], routes[1], OutgoingRoute(8, "Federation: spb 3XX", provider_id("spb"), 0, "3", 2, True,
                                                    note="ModulePbxFederation: peer spb pattern 3XX"))
    assert codes(build_plan(station(*in_order), config(spb(**FALLBACK)))) == []


def test_route_matching_is_cores() -> None:
    r = OutgoingRoute(1, "x", PSTN, 1, "8", 10, False)
    assert r.matches("84951234567") and not r.matches("8495123456") and not r.matches("849512345678")
    assert OutgoingRoute(1, "x", PSTN, 1, "8", -1, False).matches("849")  # -1: the prefix alone
    assert OutgoingRoute(1, "x", PSTN, 1, "112", 0, False).matches("112")
    assert not OutgoingRoute(1, "x", PSTN, 1, "112", 0, False).matches("1123")
    assert OutgoingRoute(1, "x", PSTN, 1, "+7", 10, False).matches("+74951234567")  # + escaped like Core
    assert not OutgoingRoute(1, "x", PSTN, 1, "(", 1, False).matches("1")  # a broken regex matches nothing
    assert re.escape("+") == "\\+"
