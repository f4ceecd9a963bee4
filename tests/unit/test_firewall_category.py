"""The module's firewall rows in Core's terms: one category (Core upper-cases the module's key), Core's port keys,
Core's own rows of that category on our filters taken over instead of doubled, Core's cascades, and 2026.1's
filter priority. tests/realcore/tests/FirewallCategoryTest.php runs Core's enable/disable over the same rows."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from python_worker import FIREWALL_CATEGORY, MODULE_ID, SYNC_PORT_KEY
from python_worker.apply.reconciler import reconcile
from python_worker.core.planner import provider_id
from tests.unit.applyhelpers import NSK, SPB, RecordingReloader, make_station


def _q(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _x(db: Path, sql: str, args: tuple[object, ...] = ()) -> int:
    conn = sqlite3.connect(db)
    try:
        cur = conn.execute(sql, args)
        conn.commit()
        return int(cur.lastrowid or 0)
    finally:
        conn.close()


def _our_filter(db: Path, peer: str) -> int:
    return int(str(_q(db, "SELECT id FROM m_NetworkFilters WHERE description = ?",
                      (f"ModulePbxFederation: peer {peer}",))[0][0]))


def _category_rows(db: Path, filter_id: int) -> list[tuple[object, ...]]:
    return _q(db, "SELECT action, category, portFromKey, portToKey, description FROM m_FirewallRules "
                  "WHERE networkfilterid = ? AND category = ? ORDER BY id", (filter_id, FIREWALL_CATEGORY))


def test_the_workers_rule_is_in_the_category_core_keeps_with_cores_port_keys(tmp_path: Path) -> None:
    assert MODULE_ID.upper() == FIREWALL_CATEGORY  # Core: strtoupper(key(getDefaultFirewallRules()))
    paths = make_station(tmp_path, "2026.1", peers=(replace(SPB, paired=True),))
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert _category_rows(paths.mikopbx_db, _our_filter(paths.mikopbx_db, "spb")) == [
        ("allow", "MODULEPBXFEDERATION", SYNC_PORT_KEY, SYNC_PORT_KEY, "ModulePbxFederation: peer spb sync")]


def test_cores_row_of_our_category_on_our_filter_is_taken_over_not_doubled(tmp_path: Path) -> None:
    """Enabling the module makes Core write one 'block' row of the category per existing filter (ours included);
    the worker adopts it for its 'allow' instead of adding a second row beside it."""
    paths = make_station(tmp_path, "2026.1", peers=(replace(SPB, paired=True),))
    assert reconcile(paths, RecordingReloader()).result == "applied"
    fid = _our_filter(paths.mikopbx_db, "spb")
    # What Core's enableFirewallSettings does: delete the category's rows, write its own per filter.
    _x(paths.mikopbx_db, "DELETE FROM m_FirewallRules WHERE category = ?", (FIREWALL_CATEGORY,))
    core_id = _x(paths.mikopbx_db, "INSERT INTO m_FirewallRules(networkfilterid, protocol, portfrom, portto, category,"
                                   " action, portFromKey, portToKey, description) VALUES (?, 'tcp', '7787', '7787', "
                                   "?, 'block', ?, ?, ?)", (fid, FIREWALL_CATEGORY, SYNC_PORT_KEY, SYNC_PORT_KEY,
                                                             SYNC_PORT_KEY))
    reloader = RecordingReloader()
    report = reconcile(paths, reloader)
    assert report.result == "applied", report.summary()
    assert [(c.op, c.table, c.record_id) for c in report.changes] == [("adopt", "m_FirewallRules", core_id)]
    assert _category_rows(paths.mikopbx_db, fid) == [
        ("allow", "MODULEPBXFEDERATION", SYNC_PORT_KEY, SYNC_PORT_KEY, "ModulePbxFederation: peer spb sync")]
    [event] = reloader.requests[-1].events
    assert event["recordId"] == str(core_id) and event["changedFields"] == ["action", "description"]
    assert reconcile(paths, RecordingReloader()).result == "unchanged"


def test_extra_rows_of_our_category_on_our_filters_go(tmp_path: Path) -> None:
    """An unpaired peer's filter keeps no row of our category; a second one beside ours is removed."""
    paths = make_station(tmp_path, "2026.1", peers=(replace(SPB, paired=True), NSK))
    assert reconcile(paths, RecordingReloader()).result == "applied"
    spb, nsk = _our_filter(paths.mikopbx_db, "spb"), _our_filter(paths.mikopbx_db, "nsk")
    for fid in (spb, nsk):
        _x(paths.mikopbx_db, "INSERT INTO m_FirewallRules(networkfilterid, protocol, portfrom, portto, category, "
                             "action, description) VALUES (?, 'tcp', '7787', '7787', ?, 'block', 'x')",
           (fid, FIREWALL_CATEGORY))
    admin_filter_rule = _x(paths.mikopbx_db, "INSERT INTO m_FirewallRules(networkfilterid, protocol, portfrom, "
                                             "portto, category, action) SELECT id, 'tcp', '7787', '7787', ?, 'block' "
                                             "FROM m_NetworkFilters WHERE description = 'LAN'", (FIREWALL_CATEGORY,))
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert [r[0] for r in _category_rows(paths.mikopbx_db, spb)] == ["allow"]
    assert _category_rows(paths.mikopbx_db, nsk) == []
    # The admin's filter is not ours: Core's row of our category there stays.
    assert _q(paths.mikopbx_db, "SELECT id FROM m_FirewallRules WHERE id = ?", (admin_filter_rule,))


def test_rows_core_would_cascade_go_with_our_filter_and_route(tmp_path: Path) -> None:
    """Core's models delete a filter's FirewallRules and an incoming route's OutWorkTimesRouts with it (CASCADE);
    SQL does not, so the worker does."""
    paths = make_station(tmp_path, "2026.1")
    assert reconcile(paths, RecordingReloader()).result == "applied"
    fid = _our_filter(paths.mikopbx_db, "spb")
    sip_rule = _x(paths.mikopbx_db, "INSERT INTO m_FirewallRules(networkfilterid, protocol, portfrom, portto, "
                                    "category, action) VALUES (?, 'udp', '5060', '5060', 'SIP', 'allow')", (fid,))
    route = int(str(_q(paths.mikopbx_db, "SELECT id FROM m_IncomingRoutingTable WHERE provider = ?",
                       (provider_id("spb"),))[0][0]))
    link = _x(paths.mikopbx_db, "INSERT INTO m_OutWorkTimesRouts(timeConditionId, routId) VALUES (1, ?)", (route,))
    other = _x(paths.mikopbx_db, "INSERT INTO m_OutWorkTimesRouts(timeConditionId, routId) VALUES (1, '1')")
    reloader = RecordingReloader()
    assert reconcile(paths, reloader, disable=True).result == "applied"
    assert _q(paths.mikopbx_db, "SELECT id FROM m_FirewallRules WHERE id = ?", (sip_rule,)) == []
    assert _q(paths.mikopbx_db, "SELECT id FROM m_OutWorkTimesRouts WHERE id = ?", (link,)) == []
    assert _q(paths.mikopbx_db, "SELECT id FROM m_OutWorkTimesRouts WHERE id = ?", (other,)) != []
    models = {e["model"].rsplit("\\", 1)[1] for e in reloader.requests[-1].events}
    assert {"FirewallRules", "OutWorkTimesRouts"} <= models


def test_a_new_filter_gets_cores_next_regular_priority_on_2026_1(tmp_path: Path) -> None:
    """NULL sorts first in Core's `ORDER BY CAST(priority AS INTEGER), id`: the module's filters would go before
    the admin's. Core's Firewall page gives a new filter max(regular priorities) + 1; so does the worker."""
    paths = make_station(tmp_path, "2026.1", peers=(SPB, NSK))
    _x(paths.mikopbx_db, "UPDATE m_NetworkFilters SET priority = '4' WHERE description = 'LAN'")
    _x(paths.mikopbx_db, "INSERT INTO m_NetworkFilters(permit, deny, description, priority) "
                         "VALUES ('0.0.0.0/0', '0.0.0.0/0', 'Internet', '9')")
    assert reconcile(paths, RecordingReloader()).result == "applied"
    rows = _q(paths.mikopbx_db, "SELECT description, priority FROM m_NetworkFilters ORDER BY "
                                "CAST(priority AS INTEGER), id")
    assert rows == [("LAN", "4"), ("ModulePbxFederation: peer nsk", "5"), ("ModulePbxFederation: peer spb", "6"),
                    ("Internet", "9")]


def test_no_priority_column_on_2024_1(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2024.1")
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert "priority" not in [r[1] for r in _q(paths.mikopbx_db, "PRAGMA table_info(m_NetworkFilters)")]
