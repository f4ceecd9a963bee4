"""The station's entity ID reaches asterisk.conf through Core's custom-file mechanism, never the admin's edits."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from python_worker.apply.reconciler import reconcile
from python_worker.core.planner import entity_id
from python_worker.db.moduledb import remove_peer
from python_worker.render.records import ASTERISK_CONF
from tests.unit.applyhelpers import RecordingReloader, make_station


def custom_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, mode, content, description FROM m_CustomFiles WHERE filepath = ?",
                            (ASTERISK_CONF,)).fetchall()
    finally:
        conn.close()


def expected_content(station: str) -> str:
    return ("; ModulePbxFederation: a unique entity ID, so device states of the stations never merge\n"
            f"entityid = {entity_id(station)}\n")


@pytest.mark.parametrize("version", ["2026.1", "reference"])
def test_placeholder_is_adopted_then_released(tmp_path: Path, version: str) -> None:
    paths = make_station(tmp_path, version)
    conn = sqlite3.connect(paths.mikopbx_db)
    if not conn.execute("SELECT 1 FROM m_CustomFiles WHERE filepath = ?", (ASTERISK_CONF,)).fetchone():
        conn.execute("INSERT INTO m_CustomFiles(filepath, content, mode) VALUES (?, NULL, 'none')", (ASTERISK_CONF,))
    conn.commit()
    conn.close()
    (placeholder_id, _, _, _), = custom_rows(paths.mikopbx_db)
    reloader = RecordingReloader()
    report = reconcile(paths, reloader)
    assert report.result == "applied", report.summary()
    (rid, mode, content, description), = custom_rows(paths.mikopbx_db)
    assert (rid, mode) == (placeholder_id, "append")
    assert str(description).startswith("ModulePbxFederation: entity ID of station ")
    assert base64.b64decode(str(content)).decode() == expected_content(str(description).rsplit(" ", 1)[1])
    assert reconcile(paths, reloader).result == "unchanged"

    remove_peer(paths.module_db, "spb")
    assert reconcile(paths, reloader).result == "applied"
    assert custom_rows(paths.mikopbx_db) == []  # Core recreates its placeholder when it next writes the file


def test_admin_customised_file_is_left_alone_and_reported(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    admin = base64.b64encode(b"verbose = 3\n").decode()
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("INSERT INTO m_CustomFiles(filepath, content, mode, description) VALUES (?, ?, 'append', 'mine')",
                 (ASTERISK_CONF, admin))
    conn.commit()
    conn.close()
    before = custom_rows(paths.mikopbx_db)
    report = reconcile(paths, RecordingReloader())
    assert report.result == "applied", report.summary()
    assert custom_rows(paths.mikopbx_db) == before
    assert [i["code"] for i in report.to_json()["issues"]] == ["W_ADMIN_CUSTOM_FILE"]  # type: ignore[index]


def test_missing_row_is_created_and_deleted_when_drifted_back(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2024.1")
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert len(custom_rows(paths.mikopbx_db)) == 1
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("DELETE FROM m_CustomFiles")
    conn.commit()
    conn.close()
    report = reconcile(paths, RecordingReloader())
    assert [(c["op"], c.get("drift")) for c in report.to_json()["create"]  # type: ignore[attr-defined]
            if c["table"] == "m_CustomFiles"] == [("create", "deleted")]
    assert len(custom_rows(paths.mikopbx_db)) == 1
