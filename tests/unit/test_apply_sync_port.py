"""The sync port opens only for paired peers: an owned m_FirewallRules row on the peer's own network filter."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from python_worker.moduledb import upsert_peer
from python_worker.reconciler import reconcile
from tests.unit.applyhelpers import SPB, RecordingReloader, make_station


def rules(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT r.protocol, r.portfrom, r.portto, r.action, r.category, f.permit, r.description "
            "FROM m_FirewallRules r LEFT JOIN m_NetworkFilters f ON f.id = r.networkfilterid "
            "WHERE r.description LIKE 'ModulePbxFederation:%' ORDER BY r.id").fetchall()
    finally:
        conn.close()


EXPECTED = [("tcp", "7787", "7787", "allow", "ModulePbxFederation", "127.0.0.3/32",
             "ModulePbxFederation: peer spb sync")]


def test_hand_made_peer_gets_no_sync_rule_paired_peer_does(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reloader = RecordingReloader()
    assert reconcile(paths, reloader).result == "applied"
    assert rules(paths.mikopbx_db) == []

    upsert_peer(paths.module_db, replace(SPB, paired=True))
    report = reconcile(paths, reloader)
    assert report.result == "applied", report.summary()
    assert rules(paths.mikopbx_db) == EXPECTED
    assert reloader.calls[-1] == ("firewall",)
    assert reconcile(paths, reloader).result == "unchanged"

    upsert_peer(paths.module_db, replace(SPB, paired=False))
    assert reconcile(paths, reloader).result == "applied"
    assert rules(paths.mikopbx_db) == []


def test_deleted_rule_and_moved_filter_are_repaired(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "reference", peers=(replace(SPB, paired=True),))
    assert reconcile(paths, RecordingReloader()).result == "applied"
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("UPDATE m_FirewallRules SET networkfilterid = 4 WHERE description LIKE 'ModulePbxFederation:%'")
    conn.commit()
    conn.close()
    report = reconcile(paths, RecordingReloader())
    assert [(c.table, c.op, c.columns, c.drift) for c in report.changes] == [
        ("m_FirewallRules", "update", ("networkfilterid",), "edited")]
    assert rules(paths.mikopbx_db) == EXPECTED
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("DELETE FROM m_FirewallRules WHERE description LIKE 'ModulePbxFederation:%'")
    conn.commit()
    conn.close()
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert rules(paths.mikopbx_db) == EXPECTED


def test_admin_filter_for_the_address_governs_and_gets_no_rule_from_us(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1", peers=(replace(SPB, paired=True),))
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("INSERT INTO m_NetworkFilters(permit, deny, newer_block_ip, local_network, description) "
                 "VALUES ('127.0.0.3/32', '0.0.0.0/0', '0', '0', 'spb office')")
    conn.commit()
    conn.close()
    report = reconcile(paths, RecordingReloader())
    assert report.result == "applied", report.summary()
    assert rules(paths.mikopbx_db) == []
    assert [i.code for i in report.issues] == ["W_ADMIN_FILTER_SAME_ADDRESS"]
