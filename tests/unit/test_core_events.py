"""What Core is told after an apply: the model-change messages Core's own models publish for the same writes
(python_worker/apply/core_events.py); tests/realcore/tests/CoreEventsTest.php shows Core planning from them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from python_worker.apply.core_events import MODEL_OF, SOURCE
from python_worker.apply.reconciler import reconcile
from python_worker.db.moduledb import upsert_peer
from python_worker.statedir import JOURNAL_FILE, read_json
from tests.unit.applyhelpers import SPB, RecordingReloader, make_station

MODELS = "MikoPBX\\Common\\Models\\"


def _columns(db: Path, table: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
    finally:
        conn.close()


def _id(db: Path, sql: str) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_a_created_peer_is_told_as_one_save_per_row_with_every_field(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reloader = RecordingReloader()
    assert reconcile(paths, reloader).result == "applied"
    request = reloader.requests[-1]
    by_model: dict[str, list[dict[str, object]]] = {}
    for e in request.events:
        assert e["source"] == SOURCE and e["action"] == "afterSave"
        by_model.setdefault(str(e["model"]), []).append(e)
    assert sorted(by_model) == sorted(MODELS + m for m in (
        "Providers", "Sip", "SipHosts", "OutgoingRoutingTable", "IncomingRoutingTable", "NetworkFilters",
        "CustomFiles"))
    [sip] = by_model[MODELS + "Sip"]
    assert sip["recordId"] == _id(paths.mikopbx_db, "SELECT id FROM m_Sip WHERE uniqid LIKE 'SIP-TRUNK-%'")
    # Like a model's create: every field of the row (the 2026.1 columns the worker leaves at their defaults too),
    # then id.
    assert sip["changedFields"] == [c for c in _columns(paths.mikopbx_db, "m_Sip") if c != "id"] + ["id"]
    assert "cid_source" in sip["changedFields"]
    # The hook texts changed too: no row tells Core of those, so they are asked for as actions.
    assert request.hook_targets == ("pjsip", "dialplan")
    assert request.targets == ("pjsip", "dialplan", "firewall")


def test_a_changed_peer_is_told_as_saves_of_the_changed_fields_only(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reloader = RecordingReloader()
    reconcile(paths, reloader)
    upsert_peer(paths.module_db, replace(SPB, host="127.0.0.13"))
    assert reconcile(paths, reloader).result == "applied"
    events = [(e["model"].rsplit("\\", 1)[1], e["action"], e["changedFields"]) for e in reloader.requests[-1].events]
    host_fields = ["provider_id", "address", "id"]
    assert ("Sip", "afterSave", ["host"]) in events
    assert ("NetworkFilters", "afterSave", ["permit"]) in events
    # m_SipHosts is keyed by its address: the old row goes, a new one comes.
    assert ("SipHosts", "afterDelete", host_fields) in events
    assert ("SipHosts", "afterSave", host_fields) in events
    assert not [e for e in events if e[0] == "Providers"]  # nothing of it changed


def test_a_removed_peer_is_told_as_deletes_and_custom_files_as_core_tells_them(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reloader = RecordingReloader()
    reconcile(paths, reloader)
    custom_id = _id(paths.mikopbx_db, "SELECT id FROM m_CustomFiles WHERE description LIKE 'ModulePbxFederation:%'")
    assert reconcile(paths, reloader, disable=True).result == "applied"
    events = reloader.requests[-1].events
    assert {e["action"] for e in events} == {"afterDelete"}
    [custom] = [e for e in events if e["model"] == MODEL_OF["m_CustomFiles"]]
    # Core's CustomFiles::afterDelete carries the file's path and mode (2026.1 plans RemoveCustomFilesAction by them).
    assert custom == {"source": SOURCE, "model": MODELS + "CustomFiles", "recordId": custom_id,
                      "action": "afterDelete",
                      "changedFields": {"filepath": "/etc/asterisk/asterisk.conf", "mode": "append"}}
    [provider] = [e for e in events if e["model"] == MODEL_OF["m_Providers"]]
    assert provider["changedFields"] == ["uniqid", "type", "sipuid", "iaxuid", "note", "id"]


def test_a_failed_reload_tells_core_of_the_rollback_too(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reloader = RecordingReloader(fail_calls={1})
    assert reconcile(paths, reloader).result == "rolled-back"
    first, second = reloader.requests
    assert {e["action"] for e in first.events} == {"afterSave"}
    assert {e["action"] for e in second.events} == {"afterDelete"}  # the created rows are gone again
    assert sorted(e["model"] for e in first.events) == sorted(e["model"] for e in second.events)
    assert second.hook_targets == first.hook_targets


def test_an_apply_interrupted_before_the_journal_named_its_writes_is_told_on_recovery(tmp_path: Path) -> None:
    """Crash between the commit and the journal's second write: the journal has no events; recovery builds them
    from the journal's before and after, with the ids the rows have now."""
    paths = make_station(tmp_path, "2026.1")
    # The journal of such a crash, written by hand (tests/unit/test_apply_cli.py kills real processes at the other
    # points): the rows are committed, the journal still says only what was intended.
    assert reconcile(paths, RecordingReloader()).result == "applied"
    records = read_json(paths.state("records.json"))
    hooks = read_json(paths.state("hooks.json"))
    from python_worker.apply.reconciler import _journal
    from python_worker.core.records import empty_records

    _journal(paths, "apply", ({}, empty_records()), (hooks, records), ("pjsip", "dialplan", "firewall"))
    assert "events" not in read_json(paths.state(JOURNAL_FILE))
    report = reconcile(paths, reloader := RecordingReloader())
    assert report.recovered == "forward"
    events = reloader.requests[0].events
    sip = [e for e in events if e["model"] == MODEL_OF["m_Sip"]]
    assert len(sip) == 1 and sip[0]["action"] == "afterSave"
    assert sip[0]["recordId"] == _id(paths.mikopbx_db, "SELECT id FROM m_Sip WHERE uniqid LIKE 'SIP-TRUNK-%'")
