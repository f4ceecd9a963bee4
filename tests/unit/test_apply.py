"""The applier on real MikoPBX-schema SQLite files: ownership, idempotence, removal, drift, conflicts, busy DBs."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from python_worker.apply.reconciler import ApplyOptions, Paths, reconcile
from python_worker.core.records import empty_records
from python_worker.db.moduledb import remove_peer, upsert_peer
from python_worker.render.hooks import HOOK_TEMPLATES
from python_worker.statedir import HOOKS_FILE, JOURNAL_FILE, RECORDS_FILE, read_json
from tests.unit.applyhelpers import (
    NSK,
    SPB,
    RecordingReloader,
    admin_rows,
    assert_consistent,
    dump_rows,
    make_station,
    owned_count,
)

VERSIONS = ["2024.1", "2026.1", "reference"]
ONE_PEER = {"providers": 1, "sip": 1, "outgoing": 1, "incoming": 1, "filters": 1}
NONE = dict.fromkeys(ONE_PEER, 0)


@pytest.mark.parametrize("version", VERSIONS)
def test_apply_writes_owned_records_and_second_run_changes_nothing(tmp_path: Path, version: str) -> None:
    paths = make_station(tmp_path, version)
    before = dump_rows(paths.mikopbx_db)
    reloader = RecordingReloader()

    first = reconcile(paths, reloader)
    assert first.result == "applied", first.summary()
    assert owned_count(paths.mikopbx_db) == ONE_PEER
    assert reloader.calls == [("pjsip", "dialplan", "firewall")]
    assert_consistent(paths)
    after = dump_rows(paths.mikopbx_db)
    assert admin_rows(before, after) == before  # the admin's rows, byte for byte

    files = {n: paths.state(n).stat() for n in (HOOKS_FILE, RECORDS_FILE)}
    db_bytes = dump_rows(paths.mikopbx_db)
    second = reconcile(paths, reloader)
    assert second.result == "unchanged" and not second.changes
    assert reloader.calls == [("pjsip", "dialplan", "firewall")]  # nothing reloaded the second time
    assert dump_rows(paths.mikopbx_db) == db_bytes
    for name, st in files.items():  # not even rewritten
        assert (paths.state(name).stat().st_ino, paths.state(name).stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)


@pytest.mark.parametrize("version", ["2024.1", "2026.1"])
def test_records_look_like_a_hand_made_provider_with_the_version_column_set(tmp_path: Path, version: str) -> None:
    paths = make_station(tmp_path, version)
    reconcile(paths, RecordingReloader())
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.row_factory = sqlite3.Row
    try:
        prov = conn.execute("SELECT * FROM m_Providers WHERE note LIKE 'ModulePbxFederation:%'").fetchone()
        sip = conn.execute("SELECT * FROM m_Sip WHERE uniqid = ?", (prov["sipuid"],)).fetchone()
        hosts = conn.execute("SELECT address FROM m_SipHosts WHERE provider_id = ?", (prov["uniqid"],)).fetchall()
        route = conn.execute("SELECT * FROM m_OutgoingRoutingTable WHERE providerid = ?", (prov["uniqid"],)).fetchone()
        rule = conn.execute("SELECT * FROM m_IncomingRoutingTable WHERE provider = ?", (prov["uniqid"],)).fetchone()
        filt = conn.execute("SELECT * FROM m_NetworkFilters WHERE description LIKE 'ModulePbxFederation:%'").fetchone()
    finally:
        conn.close()
    assert prov["uniqid"].startswith("SIP-TRUNK-") and prov["type"] == "SIP"
    assert (sip["type"], sip["registration_type"], sip["host"], sip["port"]) == ("friend", "none", "127.0.0.3", 5060)
    assert sip["secret"] == SPB.secret and sip["disabled"] == "0"
    assert [h[0] for h in hosts] == ["127.0.0.3"]
    assert (route["numberbeginswith"], route["restnumbers"]) == ("3", "2")
    assert (rule["extension"], rule["number"]) == ("did2user", "")
    assert (filt["permit"], filt["newer_block_ip"]) == ("127.0.0.3/32", "1")
    columns = set(sip.keys())
    if version == "2024.1":
        assert "receive_calls_without_auth" in columns and sip["receive_calls_without_auth"] == "0"
        assert "cid_source" not in columns
    else:
        assert "receive_calls_without_auth" not in columns and sip["cid_source"] is None


@pytest.mark.parametrize("version", VERSIONS)
def test_removing_or_disabling_a_peer_removes_exactly_its_records(tmp_path: Path, version: str) -> None:
    paths = make_station(tmp_path, version, peers=(SPB, NSK))
    before = dump_rows(paths.mikopbx_db)
    reconcile(paths, RecordingReloader())
    assert owned_count(paths.mikopbx_db)["providers"] == 2
    conn = sqlite3.connect(paths.mikopbx_db)
    spb_rows = conn.execute("SELECT * FROM m_Sip WHERE host = '127.0.0.3'").fetchall()
    conn.close()

    upsert_peer(paths.module_db, replace(NSK, enabled=False))
    report = reconcile(paths, RecordingReloader())
    assert report.result == "applied"
    assert {c.peer for c in report.changes} == {"nsk"} and {c.op for c in report.changes} == {"delete"}
    assert owned_count(paths.mikopbx_db) == ONE_PEER
    conn = sqlite3.connect(paths.mikopbx_db)
    assert conn.execute("SELECT * FROM m_Sip WHERE host = '127.0.0.3'").fetchall() == spb_rows
    conn.close()

    upsert_peer(paths.module_db, NSK)
    assert reconcile(paths, RecordingReloader()).result == "applied"
    remove_peer(paths.module_db, "nsk")
    report = reconcile(paths, RecordingReloader())
    assert {c.peer for c in report.changes} == {"nsk"}
    assert owned_count(paths.mikopbx_db) == ONE_PEER
    assert admin_rows(before, dump_rows(paths.mikopbx_db)) == before
    assert_consistent(paths)


@pytest.mark.parametrize("version", ["2026.1", "reference"])
def test_disable_removes_everything_and_enable_restores_it(tmp_path: Path, version: str) -> None:
    paths = make_station(tmp_path, version, peers=(SPB, NSK))
    before = dump_rows(paths.mikopbx_db)
    reconcile(paths, RecordingReloader())
    report = reconcile(paths, RecordingReloader(), disable=True)
    assert report.result == "applied" and not report.module_enabled
    assert owned_count(paths.mikopbx_db) == NONE
    assert read_json(paths.state(HOOKS_FILE)) == dict.fromkeys(HOOK_TEMPLATES, "")
    assert read_json(paths.state(RECORDS_FILE))["providers"] == []
    assert dump_rows(paths.mikopbx_db) == before  # exactly the admin's DB again
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert_consistent(paths)
    assert owned_count(paths.mikopbx_db)["providers"] == 2


def test_module_disabled_in_core_removes_records(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "reference")  # has m_PbxExtensionModules
    reconcile(paths, RecordingReloader())
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("INSERT INTO m_PbxExtensionModules(uniqid, name, disabled) VALUES ('ModulePbxFederation', 'x', '1')")
    conn.commit()
    conn.close()
    report = reconcile(paths, RecordingReloader())
    assert not report.module_enabled and owned_count(paths.mikopbx_db) == NONE
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("UPDATE m_PbxExtensionModules SET disabled = '0' WHERE uniqid = 'ModulePbxFederation'")
    conn.commit()
    conn.close()
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert owned_count(paths.mikopbx_db) == ONE_PEER


@pytest.mark.parametrize("version", ["2024.1", "reference"])
def test_drift_is_reported_and_repaired_but_a_reordered_priority_is_kept(tmp_path: Path, version: str) -> None:
    paths = make_station(tmp_path, version)
    reconcile(paths, RecordingReloader())
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("UPDATE m_Sip SET host = '127.9.9.9', secret = 'guess' WHERE uniqid LIKE 'SIP-TRUNK-%'")
    conn.execute("DELETE FROM m_IncomingRoutingTable WHERE note LIKE 'ModulePbxFederation:%'")
    conn.execute("UPDATE m_OutgoingRoutingTable SET priority = '7' WHERE note LIKE 'ModulePbxFederation:%'")
    conn.commit()
    conn.close()
    reloader = RecordingReloader()
    report = reconcile(paths, reloader)
    drift = {(c.table, c.drift, c.columns) for c in report.drift}
    assert drift == {("m_Sip", "edited", ("host", "secret")), ("m_IncomingRoutingTable", "deleted", ())}
    assert reloader.calls == [("pjsip", "dialplan")]
    assert_consistent(paths)
    conn = sqlite3.connect(paths.mikopbx_db)
    priority = conn.execute("SELECT priority FROM m_OutgoingRoutingTable WHERE note LIKE 'Module%'").fetchone()[0]
    conn.close()
    assert priority == "7"  # the admin's ordering stands: not drift


def test_admin_conflicts_are_reported_not_overwritten(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("INSERT INTO m_OutgoingRoutingTable(rulename, providerid, priority, numberbeginswith, restnumbers, "
                 "trimfrombegin, prepend, note) VALUES ('to spb by hand', 'SIP-1611151795', '2', '3', '2', '0', '', '')"
                 )
    conn.execute("INSERT INTO m_NetworkFilters(permit, deny, newer_block_ip, local_network, description) "
                 "VALUES ('127.0.0.3/32', '0.0.0.0/0', '0', '0', 'spb office')")
    conn.commit()
    conn.close()
    before = dump_rows(paths.mikopbx_db)
    report = reconcile(paths, RecordingReloader())
    assert report.result == "applied"
    assert "W_ADMIN_ROUTE_OVERLAP" in {p.code for p in report.problems}
    assert [(i.code, i.peer, dict(i.params)["detail"]) for i in report.issues] == [
        ("W_ADMIN_FILTER_SAME_ADDRESS", "spb", "spb office")]
    assert admin_rows(before, dump_rows(paths.mikopbx_db)) == before
    assert owned_count(paths.mikopbx_db) == {**ONE_PEER, "filters": 0}  # not added beside the admin's filter
    assert reconcile(paths, RecordingReloader()).result == "unchanged"


def _hold_write_lock(db: Path, seconds: float, locked: threading.Event) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE m_PbxSettings SET value = value WHERE key = 'Name'")
    locked.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def test_busy_database_is_retried_until_released(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(paths.mikopbx_db, 0.8, locked))
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    report = reconcile(paths, RecordingReloader(), opts=ApplyOptions(busy_timeout=8.0))
    holder.join(5)
    assert report.result == "applied", report.summary()
    assert time.monotonic() - started >= 0.5
    assert_consistent(paths)


def test_busy_database_held_too_long_is_reported_and_nothing_is_half_applied(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    before = dump_rows(paths.mikopbx_db)
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(paths.mikopbx_db, 2.5, locked))
    holder.start()
    assert locked.wait(5)
    reloader = RecordingReloader()
    report = reconcile(paths, reloader, opts=ApplyOptions(busy_timeout=0.7))
    holder.join(5)
    assert report.result == "busy" and "locked" in report.message
    assert dump_rows(paths.mikopbx_db) == before
    assert reloader.calls == []
    assert not paths.state(HOOKS_FILE).exists() and not paths.state(JOURNAL_FILE).exists()
    assert reconcile(paths, reloader).result == "applied"  # and the next try goes through


def test_failed_reload_rolls_back_records_and_fragments_and_reloads_again(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reconcile(paths, RecordingReloader())
    good_db = dump_rows(paths.mikopbx_db)
    good_files = {n: paths.state(n).read_bytes() for n in (HOOKS_FILE, RECORDS_FILE)}
    upsert_peer(paths.module_db, NSK)
    reloader = RecordingReloader(fail_calls={1})
    report = reconcile(paths, reloader)
    assert report.result == "rolled-back" and not report.ok
    assert reloader.calls == [("pjsip", "dialplan", "firewall")] * 2
    assert dump_rows(paths.mikopbx_db) == good_db
    assert {n: paths.state(n).read_bytes() for n in good_files} == good_files
    assert not paths.state(JOURNAL_FILE).exists()
    # The same failing configuration is held, not retried in a loop; a forced run tries again.
    held = reconcile(paths, reloader, hold_digest=report.digest)
    assert held.result == "held" and len(reloader.calls) == 2
    assert reconcile(paths, reloader).result == "applied"
    assert_consistent(paths)


def test_station_errors_keep_the_last_good_configuration(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reconcile(paths, RecordingReloader())
    db = dump_rows(paths.mikopbx_db)
    from python_worker.core.config import Settings
    from python_worker.db.moduledb import write_settings

    write_settings(paths.module_db, Settings(station_name="9 bad name", own_patterns="2XX"))
    report = reconcile(paths, RecordingReloader())
    assert report.result == "refused" and dump_rows(paths.mikopbx_db) == db


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1", peers=(SPB, NSK))
    before = dump_rows(paths.mikopbx_db)
    reloader = RecordingReloader()
    report = reconcile(paths, reloader, dry_run=True)
    assert report.result == "dry-run" and report.counts() == {"create": 13, "update": 0, "delete": 0}
    assert report.reload == ("pjsip", "dialplan", "firewall")
    assert dump_rows(paths.mikopbx_db) == before and reloader.calls == []
    assert not paths.state(HOOKS_FILE).exists()


def test_empty_records_shape() -> None:
    assert empty_records()["providers"] == [] and empty_records()["format"] == 1


def test_paths_are_plain(tmp_path: Path) -> None:
    p = Paths(tmp_path / "a", tmp_path / "b", tmp_path / "s")
    assert p.state("x") == tmp_path / "s" / "x"
