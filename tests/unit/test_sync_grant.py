"""Transit grants between paired stations (issue #15): typed once on the granting station, carried by pairing and by
directory sync, taken back the same way; pairing never drops what the admin set for a hand-made peer."""

from __future__ import annotations

from dataclasses import replace

from python_worker.core.config import DirectoryEntry, PeerConfig, Settings
from python_worker.core.directory import LocalDirectory, clean_grant, directory_from_wire, directory_version
from python_worker.db.moduledb import read_config, upsert_peer, write_settings
from python_worker.demo.stationdb import PublicProvider, add_provider
from python_worker.pipeline import compute_from_files
from tests.unit.applyhelpers import wait_until
from tests.unit.test_sync import Node, nodes  # noqa: F401  (the fixture)

PSTN = "SIP-PROVIDER-PSTN1"
GRANT = "8495XXXXXXX"


def _grantor(node: Node) -> None:
    """moscow as a granting station: a PSTN provider with an 11-digit route and a public number."""
    add_provider(node.mikopbx_db, PublicProvider(PSTN, "127.0.0.50", "PSTN operator"))
    write_settings(node.module_db, Settings(station_name=node.name, own_patterns=node.pattern,
                                            public_number="74951234000"))


def _peer(node: Node, name: str) -> PeerConfig:
    return next(p for p in read_config(node.module_db).peers if p.name == name)


def _via_routes(node: Node, peer: str) -> tuple[str, ...]:
    plan = compute_from_files(node.mikopbx_db, node.module_db).plan.peer(peer)
    return () if plan is None else tuple(r.pattern for r in plan.via_routes)


def test_a_grant_travels_to_the_peer_and_taking_it_back_removes_its_routes(nodes: list[Node]) -> None:  # noqa: F811
    moscow, spb, _ = nodes
    _grantor(moscow)
    moscow.start()
    spb.start()
    spb.accept(moscow.invite())
    wait_until(lambda: moscow.svc.status()["peers"].get("spb", {}).get("in_sync"), 5, "moscow -> spb in sync")
    assert _peer(spb, "moscow").via_patterns == "" and _via_routes(spb, "moscow") == ()

    upsert_peer(moscow.module_db, replace(_peer(moscow, "spb"), transit_patterns=f" {GRANT} ", transit_provider=PSTN,
                                          transit_limit=1))
    moscow.changed()
    wait_until(lambda: _peer(spb, "moscow").via_patterns == GRANT, 5, "the grant to reach spb")
    assert _via_routes(spb, "moscow") == (GRANT,)
    assert read_config(spb.module_db).directory("moscow").grant == GRANT  # type: ignore[union-attr]
    assert _via_routes(moscow, "spb") == ()  # the grant is spb's to use, not a route on moscow

    # A grant the planner refuses (its provider gone) is no grant: nothing travels.
    upsert_peer(moscow.module_db, replace(_peer(moscow, "spb"), transit_provider="SIP-GONE"))
    moscow.changed()
    wait_until(lambda: _peer(spb, "moscow").via_patterns == "", 5, "the refused grant to be withdrawn")
    upsert_peer(moscow.module_db, replace(_peer(moscow, "spb"), transit_provider=PSTN))
    moscow.changed()
    wait_until(lambda: _peer(spb, "moscow").via_patterns == GRANT, 5, "the grant to come back")

    upsert_peer(moscow.module_db, replace(_peer(moscow, "spb"), transit_patterns="", transit_provider="",
                                          transit_limit=None))
    moscow.changed()
    wait_until(lambda: _peer(spb, "moscow").via_patterns == "", 5, "the grant to be taken back")
    assert _via_routes(spb, "moscow") == ()


def test_pairing_carries_an_existing_grant_and_keeps_the_admins_settings(nodes: list[Node]) -> None:  # noqa: F811
    moscow, spb, _ = nodes
    _grantor(moscow)
    # Before pairing, moscow's admin had spb as a hand-made peer with a fallback and a transit grant.
    upsert_peer(moscow.module_db, PeerConfig("spb", "127.0.0.3", patterns="3XX", secret="s" * 32,
                                             fallback_provider=PSTN, fallback_prepend="78125550",
                                             transit_patterns=GRANT, transit_provider=PSTN, transit_limit=3,
                                             transit_callerid="74951230000"))
    moscow.start()
    spb.accept(moscow.invite())  # spb runs no sync service: only what pairing itself carried counts here
    mine = _peer(moscow, "spb")
    assert mine.paired and mine.secret != "s" * 32  # replaced by the paired row ...
    assert (mine.fallback_provider, mine.fallback_prepend, mine.transit_patterns, mine.transit_provider,
            mine.transit_limit, mine.transit_callerid) == (PSTN, "78125550", GRANT, PSTN, 3, "74951230000")  # ... kept
    assert _peer(spb, "moscow").via_patterns == GRANT  # in moscow's pair-ok answer
    assert _via_routes(spb, "moscow") == (GRANT,)
    assert compute_from_files(moscow.mikopbx_db, moscow.module_db).plan.peer("spb").fallback is not None  # type: ignore[union-attr]


def test_directory_digest_counts_a_grant_only_when_there_is_one() -> None:
    entries = (DirectoryEntry("201", "Иван", "SIP"),)
    local = LocalDirectory("moscow", "1.0.0", "2XX", entries)
    assert local.version == directory_version("1.0.0", "2XX", entries)  # what a module without grants computes
    granted = local.for_peer(GRANT)
    assert granted.version != local.version and granted.to_wire()["grant"] == GRANT
    assert "grant" not in local.to_wire()
    received = directory_from_wire("moscow", granted.to_wire())
    assert (received.grant, received.version) == (GRANT, granted.version)


def test_a_grant_from_a_peer_is_cleaned_and_a_bad_one_grants_nothing() -> None:
    assert clean_grant("8495xxxxxxx, 8499XXXXXXX") == "8495XXXXXXX,8499XXXXXXX"
    for bad in ("112", "8495XXXXXXX,03", "8495.", 7, None, "", "8" * 401):
        assert clean_grant(bad) == "", bad
    wire = LocalDirectory("moscow", "1.0.0", "2XX", ()).to_wire() | {"grant": "112"}
    assert directory_from_wire("moscow", wire).grant == ""


def test_the_wire_schema_allows_a_bounded_text_grant_and_refuses_any_other() -> None:
    """sync/messages.py decides the grant's shape before core/directory.py reads it: a text of at most 400
    characters; a number, a list or a longer text refuses the whole message (MessageError), nothing stored."""
    import pytest

    from python_worker.sync.messages import MessageError, checked_request, directory_problems, info_problems

    wire = LocalDirectory("spb", "0.1.0", "3XX", (), grant=GRANT).to_wire()
    assert wire["grant"] == GRANT and directory_problems(wire) == ""
    info = {"station": "spb", "host": "127.0.0.3", "sip_port": 5060, "sync_port": 7787, "patterns": "3XX",
            "public_key": "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "directory": wire}
    assert info_problems(info) == ""
    assert directory_problems({**wire, "grant": "8" * 400}) == ""
    for bad in (8495, ["8495XXXXXXX"], {"g": 1}, True, "8" * 401):
        assert directory_problems({**wire, "grant": bad}) == "bad grant"
        with pytest.raises(MessageError, match="bad grant"):
            checked_request({"v": 1, "type": "dir", "from": "spb", "directory": {**wire, "grant": bad}})
        assert info_problems({**info, "directory": {**wire, "grant": bad}}) == "bad grant"
    assert checked_request({"v": 1, "type": "dir", "from": "spb", "directory": wire}) == "dir"
