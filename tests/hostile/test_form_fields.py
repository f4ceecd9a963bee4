"""Every field of the peer form and the settings form (the CLI's options go through the same boundary), fuzzed.

Each input ends either in a clean refusal naming the field, or in a saved configuration that renders safely and
takes no working peer out of the plan.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.inputs import InputError, form_object, peer_from_form, settings_from_form
from python_worker.core.planner import build_plan, provider_id
from python_worker.core.station import OutgoingRoute, Provider
from python_worker.core.validation import peer_problems, settings_problems
from python_worker.pipeline import compute
from tests.conftest import make_snapshot
from tests.hostile.conftest import Tally, examples
from tests.hostile.oracle import HOSTS, check_hooks, check_nothing_lost, check_records, hostile_json, hostile_text

SECRET = "Sup3rSecretTrunkPass"
SPB = PeerConfig(name="spb", host="127.0.0.3", patterns="3XX", secret=SECRET)
NSK = PeerConfig(name="nsk", host="127.0.0.4", patterns="4XX", secret=SECRET, paired=True,
                 public_key="rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", sync_port=7787)
ADMIN = Provider("SIP-1611151795", "sip.example.net", 5060, "outbound", "ISP", False, False)
# The admin's route through ADMIN takes 11-digit numbers starting 7 or 8: a fallback to 78125550+3XX and a transit
# of 8495XXXXXXX fit it, so good values of the new fields (issue #15) are accepted and rendered too.
SNAP = make_snapshot(("201", "202"), addresses=("127.0.0.2",), providers=(ADMIN,),
                     routes=(OutgoingRoute(1, "PSTN", ADMIN.uniqid, 1, "(7|8)", 10, False),))
CONFIG = ModuleConfig(Settings(station_name="moscow", own_patterns="2XX", public_number="74951234000"), (SPB, NSK))
NEW = {"name": "kzn", "host": "127.0.0.5", "port": "5060", "transport": "udp", "patterns": "5XX",
       "secret": SECRET, "note": "Казань"}
FALLBACK_FIELDS = ("fallback_provider", "fallback_trim", "fallback_prepend")
TRANSIT_FIELDS = ("transit_patterns", "transit_provider", "transit_limit", "transit_callerid")
PEER_FIELDS = ("name", "host", "port", "transport", "patterns", "secret", "note", "blf", "transfers", "overlap_fix",
               "enabled", *FALLBACK_FIELDS, *TRANSIT_FIELDS, "via_patterns")
SETTINGS_FIELDS = ("station_name", "display_name", "own_patterns", "blf_default", "transfers_default",
                   "overlap_fix_default", "public_number", "public_trim", "public_prepend")
# Fields judged together: a fallback trim without a provider is refused on the provider's field
RELATED = {**{f: FALLBACK_FIELDS for f in FALLBACK_FIELDS}, **{f: TRANSIT_FIELDS for f in TRANSIT_FIELDS}}
PROVIDERS = st.sampled_from([ADMIN.uniqid, ADMIN.uniqid, "SIP-NOPE", provider_id("nsk"), f"{ADMIN.uniqid}\n",
                             f" {ADMIN.uniqid}", "", None, "x" * 65, "[evil]", "SIP-1611151795;x", 7, True])
COUNTS = st.sampled_from(["0", "1", "2", "15", "16", "1000", "1001", "-1", "٣", "1e3", "", " 2 ", "2\n", "0x1",
                          None, 0, 3, 2**40, -5, True, 1.5, [1], {"n": 1}, "9" * 5000])
PREFIXES = st.sampled_from(["78125550", "+78125550", "", "7812;555", "78125550\n", "7" * 17, "٧٨", "+", "7812[5]",
                            "8812555", None, 78125550])
PUBLIC_PATTERNS = st.one_of(
    st.sampled_from(["8495XXXXXXX", "8495XXXXXXX", "112", "9XX", "8495.", "8495XXXXXXX,8499XXXXXXX", "2XX",
                     "8495XXXXXXX\n[evil]", ",".join(f"849{i:02d}XXXXXX" for i in range(21)), "8495XXXXXXX;x",
                     "849[5-9]XXXXXX", "84951234567", "3XXXXXXX", "", None, "8" * 17]),
    st.lists(st.from_regex(r"8[0-9XZN]{6,10}", fullmatch=True), min_size=1, max_size=25).map(",".join))
NUMBERS = st.sampled_from(["74951234000", "+74951234000", "7495 123", "", "7" * 17, "7495\n", "٧٤٩٥١٢٣٤٠٠٠",
                           "74951234000\x00", None, 74951234000])


@functools.cache  # one strategy object: Hypothesis re-validates new ones
def field_values(field: str) -> st.SearchStrategy[Any]:
    """Hostile and valid values for one field, of every JSON type."""
    common = st.one_of(hostile_text(), hostile_json(), st.none(), st.booleans(), st.integers(-10**6, 10**12),
                       st.floats(allow_nan=True, allow_infinity=True))
    specific: dict[str, st.SearchStrategy[Any]] = {
        "name": st.sampled_from(["kzn", "spb", "SPB", "spb ", "spb\u00a0", "moscow", "Moscow", "nsk", "k" * 32,
                                 "k" * 33, "9kzn", "kzn\n", "kzn-1", "kzn_1", "-kzn", "ķzn", "kzn\x00"]),
        "host": st.sampled_from([*HOSTS, "127.0.0.3", "127.0.0.4", "127.0.0.2", "sip.example.net",
                                 "SIP.EXAMPLE.NET"]),
        "port": st.sampled_from(["5060", "٥٠٦٠", " 5060", "5060\n", "5_060", "0x13c4", "1e3", "0", "65536", "-1",
                                 5060, 0, 65535, 65536, True, False, 5060.0, "", None, [5060], {"p": 1}]),
        "transport": st.sampled_from(["udp", "UDP", "tcp", "tls", "ws", "udp\n", "", None, 1, "ｕｄｐ"]),
        "patterns": st.one_of(
            st.sampled_from(["5XX", "٣XX", "5X.", "5X!", "[", "5[9-0]X", "3XX", "2XX", "5XX,6XX", "5XX\n6XX",
                             "_5XX", "5" * 16, "5[0-4]X", "ZXX", "NXX", ",".join(f"5{i:02d}" for i in range(100)),
                             ",".join(["5XX"] * 3000), "5XX;6XX", "5XX, 6XX"]),
            st.lists(st.from_regex(r"[0-9XZN]{1,4}", fullmatch=True), min_size=1, max_size=80).map(",".join)),
        "secret": st.sampled_from([SECRET, SECRET + "\n", "short", "", " " + SECRET, "x" * 100_000, "a;b" * 8,
                                   "пароль-пароль-пароль", SECRET + "\x00", "x" * 128, "x" * 129, None]),
        "note": st.one_of(st.just("x" * 257), st.just("line\nbreak")),
        "blf": st.sampled_from(["on", "off", "1", "0", "yes", "maybe", 2, True, None, "", [], {}]),
        "fallback_provider": PROVIDERS, "transit_provider": PROVIDERS,
        "fallback_trim": COUNTS, "transit_limit": COUNTS, "public_trim": COUNTS,
        "fallback_prepend": PREFIXES, "public_prepend": PREFIXES,
        "transit_patterns": PUBLIC_PATTERNS, "via_patterns": PUBLIC_PATTERNS,
        "transit_callerid": NUMBERS, "public_number": NUMBERS,
    }
    return st.one_of(specific.get(field, common), common) if field in specific else st.one_of(
        st.sampled_from(["on", "off", "maybe", 7, None]), common)


@st.composite
def peer_forms(draw: st.DrawFn) -> tuple[dict[str, Any], set[str], bool]:
    editing = draw(st.booleans())
    base = ({"name": "spb", "host": "127.0.0.3", "port": 5060, "transport": "udp", "patterns": "3XX",
             "secret": SECRET} if editing else dict(NEW))
    mutated = set(draw(st.lists(st.sampled_from(PEER_FIELDS), min_size=1, max_size=3, unique=True)))
    for f in mutated:
        base[f] = draw(field_values(f))
    return base, mutated, editing


def judge_peer(data: dict[str, Any], mutated: set[str], editing: bool) -> str:
    config = replace(CONFIG, peers=(NSK,)) if editing else CONFIG  # an edit replaces its row (the form's id)
    before = build_plan(SNAP, config)
    try:
        peer = replace(peer_from_form({k: data.get(k) for k in PEER_FIELDS if k != "enabled"}), enabled=True)
    except InputError as exc:
        assert exc.problems and {p.field for p in exc.problems} <= mutated, exc.problems
        return "refused"
    errors, _warnings = peer_problems(SNAP, config, peer, is_new=True)
    if errors:
        named = {p.field for p in errors}
        judged = mutated | {"name"} | {r for f in mutated for r in RELATED.get(f, ())}
        assert named & judged, (errors, mutated)
        return "refused"
    out = compute(SNAP, config.with_peer(peer))
    check_hooks(out.hooks, out.plan)
    check_records(out.records)
    check_nothing_lost(before, out.plan)
    assert out.plan.peer(peer.name) is not None, "accepted but not planned"
    return "accepted"


@settings(max_examples=examples(400))
@given(peer_forms())
def test_every_peer_field_is_refused_by_name_or_renders_safely(tally: Tally, form: tuple[dict[str, Any], set[str],
                                                                                           bool]) -> None:
    data, mutated, editing = form
    try:
        outcome = judge_peer(data, mutated, editing)
    except AssertionError:
        tally.add("form.peer", "unsafe")
        raise
    except Exception:
        tally.add("form.peer", "crash")
        raise
    tally.add("form.peer", outcome)


# A new peer with a working PSTN fallback and transit grant (issue #15): mutated from here, most of the fuzz lands
# next to a valid breakout, so the accepted ones render the fallback and transit sections.
BREAKOUT = {**NEW, "fallback_provider": ADMIN.uniqid, "fallback_prepend": "78125550", "transit_patterns": "8495XXXXXXX",
            "transit_provider": ADMIN.uniqid, "transit_limit": "2", "via_patterns": "8499XXXXXXX"}
BREAKOUT_FIELDS = (*FALLBACK_FIELDS, *TRANSIT_FIELDS, "via_patterns")


def test_the_breakout_base_is_accepted_with_its_fallback_and_transit() -> None:
    """The fuzz below starts from a form that is accepted as is: otherwise "refused" would prove nothing."""
    assert judge_peer(dict(BREAKOUT), set(BREAKOUT_FIELDS), editing=False) == "accepted"
    planned = compute(SNAP, CONFIG.with_peer(peer_from_form(BREAKOUT))).plan.peer("kzn")
    assert planned is not None and planned.fallback is not None and planned.transit is not None
    assert planned.transit.limit == 2 and [r.pattern for r in planned.via_routes] == ["8499XXXXXXX"]


@st.composite
def breakout_forms(draw: st.DrawFn) -> tuple[dict[str, Any], set[str], bool]:
    base = dict(BREAKOUT)
    mutated = set(draw(st.lists(st.sampled_from(BREAKOUT_FIELDS), min_size=1, max_size=3, unique=True)))
    for f in mutated:
        base[f] = draw(field_values(f))
    return base, mutated, False


@settings(max_examples=examples(300))
@given(breakout_forms())
def test_every_fallback_and_transit_field_is_refused_by_name_or_renders_safely(
        tally: Tally, form: tuple[dict[str, Any], set[str], bool]) -> None:
    data, mutated, editing = form
    try:
        outcome = judge_peer(data, mutated, editing)
    except AssertionError:
        tally.add("form.breakout", "unsafe")
        raise
    except Exception:
        tally.add("form.breakout", "crash")
        raise
    tally.add("form.breakout", outcome)


@settings(max_examples=examples(200))
@given(st.fixed_dictionaries({}, optional={f: field_values(f) for f in SETTINGS_FIELDS}))
def test_every_settings_field_is_refused_by_name_or_keeps_every_peer(tally: Tally, data: dict[str, Any]) -> None:
    before = build_plan(SNAP, CONFIG)
    try:
        try:
            new = settings_from_form(data, CONFIG.settings)
        except InputError as exc:
            assert {p.field for p in exc.problems} <= set(data)
            tally.add("form.settings", "refused")
            return
        errors = settings_problems(SNAP, CONFIG, new)
        if errors:
            assert all(p.field for p in errors)
            tally.add("form.settings", "refused")
            return
        out = compute(SNAP, replace(CONFIG, settings=new))
        check_hooks(out.hooks, out.plan)
        check_records(out.records)
        check_nothing_lost(before, out.plan)
    except AssertionError:
        tally.add("form.settings", "unsafe")
        raise
    except Exception:
        tally.add("form.settings", "crash")
        raise
    tally.add("form.settings", "accepted")


@settings(max_examples=examples(150))
@given(st.one_of(hostile_json(6).map(lambda v: __import__("json").dumps(v)), hostile_text(200),
                 st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
                 st.integers(1, 200).map(lambda n: "[" * n + "]" * n),
                 st.integers(1, 200).map(lambda n: '{"a":' * n + "1" + "}" * n),
                 st.just("{" + '"name":"x",' * 20000 + '"a":1}')))
def test_the_form_json_itself_is_an_object_of_bounded_size_and_depth(tally: Tally, text: str) -> None:
    try:
        data = form_object(text)
    except InputError as exc:
        assert [p.field for p in exc.problems] == ["json"]
        tally.add("form.json", "refused")
        return
    except Exception:
        tally.add("form.json", "crash")
        raise
    assert isinstance(data, dict)
    tally.add("form.json", "accepted")


@pytest.mark.parametrize(("value", "canonical"), [
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("PBX.Example.COM.", "pbx.example.com"), ("127.0.0.3", "127.0.0.3")])
def test_equal_addresses_in_other_spellings_are_duplicates(value: str, canonical: str) -> None:
    """Another spelling of an existing peer's address is that address (stored canonical, compared canonical)."""
    existing = replace(SPB, host=canonical)
    config = replace(CONFIG, peers=(existing,))
    peer = peer_from_form({**NEW, "host": value})
    assert peer.host == canonical
    errors, _ = peer_problems(SNAP, config, peer, is_new=True)
    assert "E_DUPLICATE_HOST_PORT" in {p.code for p in errors}


@pytest.mark.parametrize("name", ["SPB", "spb ", "spb\u00a0", "Spb"])
def test_a_name_that_folds_to_an_existing_peers_is_refused(name: str) -> None:
    try:
        peer = peer_from_form({**NEW, "name": name})
    except InputError:  # pragma: no cover - names are texts: the shape is fine
        raise
    errors, _ = peer_problems(SNAP, CONFIG, peer, is_new=True)
    assert {p.code for p in errors} & {"E_DUPLICATE_PEER_NAME", "E_NAME_INVALID"}, errors
