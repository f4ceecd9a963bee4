"""Planner: exact plans and exact problem codes on plain snapshots."""

from __future__ import annotations

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.planner import PeerPlan, RoutePlan, build_plan, entity_id, provider_id
from python_worker.core.station import OutgoingRoute, Provider, StationSnapshot
from tests.conftest import make_snapshot

SECRET = "s3cret-s3cret-s3cret"


def spb(**changes: object) -> PeerConfig:
    base = dict(name="spb", host="127.0.0.3", patterns="3XX", secret=SECRET)
    base.update(changes)
    return PeerConfig(**base)  # type: ignore[arg-type]


def config(*peers: PeerConfig, **settings: object) -> ModuleConfig:
    s = dict(station_name="moscow", own_patterns="2XX")
    s.update(settings)
    return ModuleConfig(Settings(**s), peers)  # type: ignore[arg-type]


def codes(plan) -> list[tuple[str | None, str, str]]:  # type: ignore[no-untyped-def]
    return [(p.peer, p.code, p.field) for p in plan.problems]


def test_two_station_plan_is_exact(moscow: StationSnapshot) -> None:
    plan = build_plan(moscow, config(spb(note="Питер")))
    assert plan.problems == ()
    assert plan.station_name == "moscow"
    assert plan.entity_id == entity_id("moscow") == "02:36:4a:34:bb:a6"
    assert plan.own_patterns == ("2XX",)
    assert plan.own_regex == "2[0-9][0-9]"
    assert plan.peers == (
        PeerPlan(
            name="spb", host="127.0.0.3", port=5060, transport="udp", secret=SECRET, note="Питер",
            provider_id="SIP-TRUNK-B4FBFB7E21", patterns=("3XX",), asterisk_patterns=("_3XX",),
            accept_regex="3[0-9][0-9]", routes=(RoutePlan("3XX", "3", 2),),
            hint_numbers=tuple(str(n) for n in range(300, 400)),
            is_blf=True, is_transfers=True, is_overlap_fix=False,
        ),
    )
    peer = plan.peers[0]
    assert (peer.auth_in, peer.auth_out, peer.outbound_publish) == (
        "SIP-TRUNK-B4FBFB7E21-FED-IN", "SIP-TRUNK-B4FBFB7E21-FED-OUT", "SIP-TRUNK-B4FBFB7E21-FED-PUB")


def test_provider_id_is_stable_and_case_insensitive() -> None:
    assert provider_id("spb") == provider_id("SPB") == "SIP-TRUNK-B4FBFB7E21"
    assert provider_id("moscow") != provider_id("spb")


def test_station_defaults_and_peer_switches(moscow: StationSnapshot) -> None:
    cfg = config(spb(blf=False), spb(name="kazan", host="127.0.0.5", patterns="5[0-4]X", overlap_fix=True),
                 blf_default=True, transfers_default=False, overlap_fix_default=False)
    plan = build_plan(moscow, cfg)
    kazan, spb_plan = plan.peers
    assert (kazan.name, kazan.is_blf, kazan.is_transfers, kazan.is_overlap_fix) == ("kazan", True, False, True)
    assert kazan.routes == (RoutePlan("5[0-4]X", "5[0-4]", 1),)
    assert len(kazan.hint_numbers) == 50
    assert (spb_plan.is_blf, spb_plan.hint_numbers) == (False, ())


def test_own_patterns_derived_from_local_sip_extensions() -> None:
    snap = make_snapshot(("201", "202", "250", "1001"))
    plan = build_plan(snap, config(spb(), own_patterns=""))
    assert plan.own_patterns == ("2XX", "1XXX")
    assert plan.own_regex == "2[0-9][0-9]|1[0-9][0-9][0-9]"


def test_no_own_patterns_plans_nothing() -> None:
    plan = build_plan(make_snapshot(()), config(spb(), own_patterns=""))
    assert plan.peers == ()
    assert codes(plan) == [(None, "E_OWN_PATTERNS_EMPTY", "own_patterns")]


def test_station_name_defaults_from_pbx_name() -> None:
    plan = build_plan(make_snapshot(name="MIKO PBX system"), config(station_name=""))
    assert plan.station_name == "MIKO-PBX-system"


def test_disabled_peer_is_listed_not_planned(moscow: StationSnapshot) -> None:
    plan = build_plan(moscow, config(spb(enabled=False)))
    assert plan.peers == ()
    assert plan.disabled_peers == ("spb",)
    assert plan.problems == ()


def test_field_problems_exclude_only_that_peer(moscow: StationSnapshot) -> None:
    cfg = config(
        spb(),
        spb(name="9bad", host="127.0.0.6", patterns="6XX"),
        spb(name="nohost", host="bad host", patterns="7XX"),
        spb(name="port", host="127.0.0.8", port=70000, patterns="8XX"),
        spb(name="tr", host="127.0.0.9", transport="ws", patterns="9XX"),
        spb(name="pat", host="127.0.0.10", patterns="4X."),
        spb(name="nosecret", host="127.0.0.11", patterns="5XX", secret=""),
        spb(name="badsecret", host="127.0.0.12", patterns="1XX", secret="abc;def ghi"),
    )
    plan = build_plan(moscow, cfg)
    assert [p.name for p in plan.peers] == ["spb"]
    assert codes(plan) == [
        ("9bad", "E_NAME_INVALID", "name"),
        ("badsecret", "E_SECRET_INVALID", "secret"),
        ("nohost", "E_HOST_INVALID", "host"),
        ("nosecret", "E_SECRET_MISSING", "secret"),
        ("pat", "E_PATTERN_INVALID", "patterns"),
        ("port", "E_PORT_INVALID", "port"),
        ("tr", "E_TRANSPORT_INVALID", "transport"),
    ]


def test_weak_secret_is_a_warning_and_still_plans(moscow: StationSnapshot) -> None:
    plan = build_plan(moscow, config(spb(secret="short")))
    assert [p.name for p in plan.peers] == ["spb"]
    assert codes(plan) == [("spb", "W_SECRET_WEAK", "secret")]


def test_self_peer_by_name_and_by_address(moscow: StationSnapshot) -> None:
    plan = build_plan(moscow, config(spb(name="Moscow", host="127.0.0.9"), spb(name="me", host="127.0.0.2",
                                                                             patterns="4XX")))
    assert plan.peers == ()
    assert codes(plan) == [("Moscow", "E_SELF_PEER", "name"), ("me", "E_SELF_PEER", "host")]


def test_duplicate_names_and_addresses_exclude_all_involved(moscow: StationSnapshot) -> None:
    cfg = config(spb(), spb(name="SPB", host="127.0.0.4", patterns="4XX"),
                 spb(name="a", host="127.0.0.7", patterns="6XX"), spb(name="b", host="127.0.0.7", patterns="7XX"),
                 spb(name="ok", host="127.0.0.7", port=5070, patterns="8XX"))
    plan = build_plan(moscow, cfg)
    assert [p.name for p in plan.peers] == ["ok"]
    assert codes(plan) == [
        ("SPB", "E_DUPLICATE_PEER_NAME", "name"),
        ("a", "E_DUPLICATE_HOST_PORT", "host"),
        ("b", "E_DUPLICATE_HOST_PORT", "host"),
        ("spb", "E_DUPLICATE_PEER_NAME", "name"),
    ]


def test_pattern_overlaps_local_and_between_peers(moscow: StationSnapshot) -> None:
    cfg = config(spb(patterns="3XX,25X"), spb(name="b", host="127.0.0.4", patterns="4XX"),
                 spb(name="c", host="127.0.0.5", patterns="4[5-9]X"), spb(name="d", host="127.0.0.6", patterns="5XX"))
    plan = build_plan(moscow, cfg)
    assert [p.name for p in plan.peers] == ["d"]
    assert codes(plan) == [
        ("b", "E_PATTERN_OVERLAP_PEER", "patterns"),
        ("c", "E_PATTERN_OVERLAP_PEER", "patterns"),
        ("spb", "E_PATTERN_OVERLAP_LOCAL", "patterns"),
    ]
    msg = next(p for p in plan.problems if p.peer == "b").message("ru")
    assert msg == "Шаблон «4XX» пересекается с шаблоном «4[5-9]X» станции «c»."


def test_too_broad_pattern(moscow: StationSnapshot) -> None:
    plan = build_plan(moscow, config(spb(patterns="3XXXX,4XXXX")))
    assert plan.peers == ()
    assert codes(plan) == [("spb", "E_PATTERN_TOO_BROAD", "patterns")]
    assert plan.problems[0].message("en") == "Patterns '3XXXX,4XXXX' cover 20000 numbers; at most 10000 are allowed."


def test_admin_records_conflicts_and_shadowing() -> None:
    snap = make_snapshot(
        ("201", "202", "305"),
        providers=(Provider("SIP-123", "127.0.0.4", 5060, "none", "Hand-made", False, False),
                   Provider(provider_id("spb"), "127.0.0.3", 5060, "none", "Federation: spb", False, True)),
        routes=(OutgoingRoute(1, "PSTN", "SIP-123", 1, "(7|8)", 10, False),
                OutgoingRoute(2, "old 3xx", "SIP-123", 2, "3", 2, False)),
    )
    cfg = config(spb(), spb(name="kzn", host="127.0.0.4", patterns="4XX"))
    plan = build_plan(snap, cfg)
    assert [p.name for p in plan.peers] == ["spb"]  # our own provider on spb's address is no conflict
    assert codes(plan) == [
        ("kzn", "E_PROVIDER_HOST_CONFLICT", "host"),
        ("spb", "W_ADMIN_ROUTE_OVERLAP", "patterns"),
        ("spb", "W_LOCAL_EXTENSION_IN_PEER_PATTERN", "patterns"),
    ]


def test_invalid_own_patterns_is_station_error(moscow: StationSnapshot) -> None:
    plan = build_plan(moscow, config(spb(), own_patterns="2X!"))
    assert plan.peers == ()
    assert codes(plan) == [(None, "E_PATTERN_INVALID", "own_patterns")]
