"""Station fixtures for the apply and worker tests: real MikoPBX-schema SQLite files in WAL mode."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_worker.apply.reconciler import Paths
from python_worker.apply.system import ReloadRequest, ReloadResult
from python_worker.core.config import PeerConfig, Settings
from python_worker.core.records import TABLE_ORDER
from python_worker.db.moduledb import init_db, upsert_peer, write_settings
from python_worker.db.owned import flatten
from python_worker.db.writer import read_diff
from python_worker.demo.stationdb import Phone, StationSpec, build_station_db
from python_worker.pipeline import compute_from_files
from python_worker.render.records import ASTERISK_CONF
from python_worker.service.worker import Worker
from python_worker.statedir import HOOKS_FILE, JOURNAL_FILE, RECORDS_FILE, read_json

REPO = Path(__file__).resolve().parents[2]
REFERENCE_DB = REPO.parent / "shared" / "reference" / "mikopbx-runtime.db"
SECRET_SPB = "Spb-Trunk-Secret-0123456789"
SECRET_NSK = "Nsk-Trunk-Secret-9876543210"
ADMIN_TABLES = (*TABLE_ORDER, "m_PbxSettings", "m_Extensions")

SPB = PeerConfig(name="spb", host="127.0.0.3", port=5060, transport="udp", patterns="3XX", secret=SECRET_SPB)
NSK = PeerConfig(name="nsk", host="127.0.0.4", port=5060, transport="udp", patterns="4XX", secret=SECRET_NSK)


@dataclass
class RecordingReloader:
    """Records every reload; fails the calls whose number (1-based) is in `fail_calls`."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail_calls: set[int] = field(default_factory=set)
    requests: list[ReloadRequest] = field(default_factory=list)

    def reload(self, request: ReloadRequest) -> ReloadResult:
        self.calls.append(tuple(request.targets))
        self.requests.append(request)
        return ReloadResult(len(self.calls) not in self.fail_calls, tuple(request.targets))


def add_admin_records(db: Path) -> None:
    """What an admin made by hand: a provider with a route, an incoming rule, a firewall entry."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO m_Sip(uniqid, disabled, type, registration_type, host, port, username, secret, "
                     "transport, description, manualattributes) VALUES ('SIP-1611151795', '0', 'friend', "
                     "'outbound', 'sip.example.net', 5060, 'acct', 'adminpw', 'udp', 'ISP', '')")
        conn.execute("INSERT INTO m_Providers(uniqid, type, sipuid, note) "
                     "VALUES ('SIP-1611151795', 'SIP', 'SIP-1611151795', 'my ISP')")
        conn.execute("INSERT INTO m_SipHosts(provider_id, address) VALUES ('SIP-1611151795', 'sip.example.net')")
        conn.execute("INSERT INTO m_OutgoingRoutingTable(rulename, providerid, priority, numberbeginswith, "
                     "restnumbers, trimfrombegin, prepend, note) VALUES ('PSTN', 'SIP-1611151795', '1', "
                     "'(7|8)', '10', '0', '', 'made by hand')")
        conn.execute("INSERT INTO m_IncomingRoutingTable(rulename, number, extension, provider, priority, "
                     "timeout, action, note, audio_message_id) VALUES ('ISP in', '', '201', 'SIP-1611151795', "
                     "2, 120, 'extension', '', '')")
        conn.execute("INSERT INTO m_NetworkFilters(permit, deny, newer_block_ip, local_network, description) "
                     "VALUES ('127.0.5.0/24', '0.0.0.0/0', '1', '1', 'LAN')")
        conn.commit()
    finally:
        conn.close()


def set_wal(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def make_station(tmp_path: Path, version: str, peers: Sequence[PeerConfig] = (SPB,)) -> Paths:
    """mikopbx.db (version '2024.1', '2026.1' or 'reference'), module.db with `peers`, an empty state dir."""
    db = tmp_path / "cf" / "mikopbx.db"
    if version == "reference":
        import pytest

        if not REFERENCE_DB.is_file():
            pytest.skip("shared/reference/mikopbx-runtime.db is not present on this machine")
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REFERENCE_DB, db)
    else:
        build_station_db(db, StationSpec(name="АТС Москва", lan_ip="127.0.0.2", version=f"{version}.100",
                                         phones=[Phone("201", "Иван"), Phone("202", "Мария")]))
        add_admin_records(db)
    set_wal(db)
    module_db = tmp_path / "module" / "db" / "module.db"
    init_db(module_db)
    write_settings(module_db, Settings(station_name="moscow", own_patterns="2XX"))
    for peer in peers:
        upsert_peer(module_db, peer)
    return Paths(db, module_db, tmp_path / "module" / "db" / "state")


def dump_rows(db: Path, tables: Sequence[str] = ADMIN_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `tables`, except asterisk.conf's custom-file row: that one is Core's empty placeholder,
    which the module adopts for the entity ID (tests/unit/test_apply_entity_id.py covers it)."""
    conn = sqlite3.connect(db)
    try:
        key = {"m_PbxSettings": "key"}
        where = {"m_CustomFiles": f"WHERE filepath IS NOT '{ASTERISK_CONF}'"}
        return {t: conn.execute(f'SELECT * FROM "{t}" {where.get(t, "")} ORDER BY {key.get(t, "id")}').fetchall()
                for t in tables}
    finally:
        conn.close()


def admin_rows(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> dict[
        str, list[tuple[Any, ...]]]:
    """The rows of `after` whose first column (id/key) existed in `before`."""
    return {t: [r for r in after[t] if r[0] in {b[0] for b in before[t]}] for t in before}


def owned_count(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        mark = "ModulePbxFederation:%"
        return {
            "providers": conn.execute("SELECT count(*) FROM m_Providers WHERE note LIKE ?", (mark,)).fetchone()[0],
            "sip": conn.execute("SELECT count(*) FROM m_Sip WHERE uniqid LIKE 'SIP-TRUNK-%'").fetchone()[0],
            "outgoing": conn.execute("SELECT count(*) FROM m_OutgoingRoutingTable WHERE note LIKE ?",
                                     (mark,)).fetchone()[0],
            "incoming": conn.execute("SELECT count(*) FROM m_IncomingRoutingTable WHERE note LIKE ?",
                                     (mark,)).fetchone()[0],
            "filters": conn.execute("SELECT count(*) FROM m_NetworkFilters WHERE description LIKE ?",
                                    (mark,)).fetchone()[0],
        }
    finally:
        conn.close()


def assert_consistent(paths: Paths) -> None:
    """The station is on exactly the current plan: DB rows, records.json and hooks.json agree; no journal."""
    out = compute_from_files(paths.mikopbx_db, paths.module_db)
    assert read_json(paths.state(HOOKS_FILE)) == out.hooks
    assert read_json(paths.state(RECORDS_FILE)) == out.records
    assert not read_diff(paths.mikopbx_db, flatten(out.records), flatten(out.records)).changes
    assert not paths.state(JOURNAL_FILE).exists()


def worker_env() -> dict[str, str]:
    """Environment for `python -m python_worker` subprocesses (the package imported from this checkout)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PBXFED_TEST_PAUSE", None)
    return env


PYTHON = sys.executable


def wait_until(check: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `check` until it returns something true (returned), bounded by `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


@contextmanager
def running(worker: Worker) -> Iterator[threading.Thread]:
    """`worker.run()` on a thread for the `with` block; stopped and joined (bounded) at its end."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        worker.stop()
        thread.join(10)
