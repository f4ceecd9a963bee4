"""Reading MikoPBX config DBs: the real reference DB and fixtures with both column sets; never writes."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from python_worker.core.planner import provider_id
from python_worker.core.station import Extension
from python_worker.db.snapshot import read_snapshot
from python_worker.demo.stationdb import Phone, StationSpec, build_station_db


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reference_db(reference_db: Path) -> None:
    before = digest(reference_db)
    snap = read_snapshot(reference_db)
    assert digest(reference_db) == before
    assert (snap.name, snap.sip_port, snap.tls_port, snap.language) == ("MIKO PBX system", 5060, 5061, "ru-ru")
    assert snap.sip_extension_numbers == ("111", "233", "241", "242", "503", "504", "505")
    assert Extension("241", "241", "SIP") in snap.extensions
    assert Extension("did2user", "System Extension", "SYSTEM") in snap.extensions
    assert [(p.uniqid, p.host, p.port, p.registration_type, p.is_owned) for p in snap.providers] == [
        ("SIP-1611151795", "127.0.0.1", 5060, "none", False),
        ("SIP-1642054627", "127.0.0.1", 5060, "none", False),
    ]
    assert [(r.id, r.numberbeginswith, r.restnumbers, r.priority) for r in snap.outgoing_routes] == [
        (26, "(7|8)", 10, 5), (30, "(7|8)", 10, 0)]
    assert "receive_calls_without_auth" in snap.sip_columns


@pytest.mark.parametrize("version", ["2024.1.114", "2026.1.223"])
def test_fixture_dbs_of_both_versions(version: str, tmp_path: Path) -> None:
    db = build_station_db(tmp_path / "m.db", StationSpec(
        name="АТС Москва", lan_ip="127.0.0.2", version=version,
        phones=[Phone("201", "Иван Петров"), Phone("202", "Мария")]))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")  # MikoPBX runs its DB in WAL mode
    conn.execute("INSERT INTO m_Providers(uniqid, type, sipuid, note) VALUES (?, 'SIP', ?, ?)",
                 (provider_id("spb"), provider_id("spb"), "ModulePbxFederation: peer spb"))
    conn.execute("INSERT INTO m_Sip(uniqid, disabled, type, registration_type, host, port) "
                 "VALUES (?, '0', 'friend', 'none', '127.0.0.3', 5060)", (provider_id("spb"),))
    conn.commit()
    conn.close()
    snap = read_snapshot(db)
    assert snap.version == version
    assert snap.own_addresses == ("127.0.0.2",)
    assert [e for e in snap.extensions if e.kind == "SIP"] == [
        Extension("201", "Иван Петров", "SIP"), Extension("202", "Мария", "SIP")]
    assert [(p.uniqid, p.is_owned) for p in snap.providers] == [(provider_id("spb"), True)]
    has_2024_column = "receive_calls_without_auth" in snap.sip_columns
    assert has_2024_column == version.startswith("2024")
    assert ("cid_source" in snap.sip_columns) == version.startswith("2026")


def test_missing_db_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config database not found"):
        read_snapshot(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def _lans(db: Path, rows: list[tuple[str, str, str, str]]) -> None:
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM m_LanInterfaces")
    conn.execute("ALTER TABLE m_LanInterfaces ADD COLUMN internet VARCHAR(1)")  # as in Core's real schema
    for ip, ext, internet, disabled in rows:
        conn.execute("INSERT INTO m_LanInterfaces(name, interface, ipaddr, subnet, extipaddr, internet, disabled) "
                     "VALUES ('LAN', 'eth0', ?, '24', ?, ?, ?)", (ip, ext, internet, disabled))
    conn.commit()
    conn.close()


@pytest.mark.parametrize(("external", "lans", "expected"), [
    # the external SIP address wins even when another address sorts first (127.0.0.10 < 127.0.0.9 as text)
    ("127.0.0.9", [("127.0.0.10", "", "1", "0")], "127.0.0.9"),
    # no external address: an interface's NAT address, then its LAN address; disabled interfaces last
    ("", [("127.0.0.10", "", "0", "1"), ("127.0.0.20", "", "1", "0")], "127.0.0.20"),
    ("", [("127.0.0.20", "127.0.0.5", "1", "0")], "127.0.0.5"),
    ("", [("127.0.0.10", "", "0", "0"), ("127.0.0.20", "", "1", "0")], "127.0.0.20"),  # the internet interface
    ("", [], ""),
])
def test_reachable_address_is_the_external_one_then_the_lan(tmp_path: Path, external: str,
                                                             lans: list[tuple[str, str, str, str]],
                                                             expected: str) -> None:
    db = build_station_db(tmp_path / "m.db", StationSpec(name="moscow", external_ip=external))
    _lans(db, lans)
    assert read_snapshot(db).reachable_address == expected
