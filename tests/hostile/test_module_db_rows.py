"""module.db rows written behind the module's back (another tool, a restored backup, a hostile admin script): every
column of the peers, settings and directory tables gets values of every SQLite type. The reconcile never
crashes, renders only safe text, keeps the admin's rows byte-identical and never takes the working peer out of
the plan unless a problem on it says why (a row that clashes with it)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_worker.apply.reconciler import Paths, reconcile
from python_worker.apply.system import NoReload
from python_worker.core.config import Settings
from python_worker.db.moduledb import write_settings
from python_worker.pipeline import compute_from_files
from python_worker.statedir import HOOKS_FILE, RECORDS_FILE, read_json
from tests.hostile.conftest import Tally, examples
from tests.hostile.oracle import HOSTS, INJECTIONS, check_hooks, check_records, dump_admin
from tests.unit.applyhelpers import SPB, make_station

PEER_COLUMNS = ("name", "host", "port", "transport", "patterns", "secret", "enabled", "blf", "transfers",
                "overlap_fix", "note", "paired", "sync_port", "public_key", "fallback_provider", "fallback_trim",
                "fallback_prepend", "transit_patterns", "transit_provider", "transit_limit", "transit_callerid",
                "via_patterns")
SETTINGS_COLUMNS = ("station_name", "display_name", "own_patterns", "blf_default", "transfers_default",
                    "overlap_fix_default", "public_number", "public_trim", "public_prepend")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rows-template")
    paths = make_station(root, "2026.1", peers=(SPB,))
    # a public number: a good kzn row then plans its fallback and transit through the admin's provider too
    write_settings(paths.module_db, Settings(station_name="moscow", own_patterns="2XX", public_number="74951234000"))
    assert reconcile(paths, NoReload()).result == "applied"
    return root


def copy(template: Path, folder: Path) -> Paths:
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder)
    return Paths(folder / "cf" / "mikopbx.db", folder / "module" / "db" / "module.db",
                 folder / "module" / "db" / "state")


SQL_VALUES = st.one_of(
    st.none(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), st.just(float("inf")),
    st.binary(max_size=20), st.sampled_from(INJECTIONS), st.sampled_from(HOSTS), st.text(max_size=30),
    st.sampled_from(["5060", "٥٠٦٠", "4XX", "٣XX", "3XX", "spb", "SPB", "127.0.0.3", "1", "0", "on", "x"]),
    # the fallback and transit columns' good and near-good values (issue #15)
    st.sampled_from(["SIP-1611151795", "SIP-1611151795\n", "78125550", "+74951234000", "8495XXXXXXX", "112",
                     "8495XXXXXXX\n[evil]", "2", "16", "-1", "٢", "8499XXXXXXX,8495XXXXXXX"]),
)


def good_row() -> dict[str, Any]:
    return {"name": "kzn", "host": "127.0.0.5", "port": 5060, "transport": "udp", "patterns": "5XX",
            "secret": "Kzn-Trunk-Secret-0123456789", "enabled": 1, "blf": None, "transfers": None,
            "overlap_fix": None, "note": "", "paired": 0, "sync_port": None, "public_key": None,
            "fallback_provider": "SIP-1611151795", "fallback_trim": 0, "fallback_prepend": "78125550",
            "transit_patterns": "8495XXXXXXX", "transit_provider": "SIP-1611151795", "transit_limit": 2,
            "transit_callerid": "74951234000", "via_patterns": None}


@st.composite
def hostile_rows(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    table = draw(st.sampled_from(["peers", "peers", "settings", "directory"]))
    if table == "peers":
        row = good_row()
        for col in draw(st.lists(st.sampled_from(PEER_COLUMNS), min_size=1, max_size=4, unique=True)):
            row[col] = draw(SQL_VALUES)
        return table, row
    if table == "settings":
        row = {"station_name": "moscow", "own_patterns": "2XX", "public_number": "74951234000"}
        for col in draw(st.lists(st.sampled_from(SETTINGS_COLUMNS), min_size=1, max_size=3, unique=True)):
            row[col] = draw(SQL_VALUES)
        return table, row
    entries = draw(st.one_of(SQL_VALUES, st.lists(st.lists(st.one_of(st.text(max_size=6), st.sampled_from(
        ["301", "٣01", "301\n", "SIP", "QUEUE", "x]\n[y"])), min_size=0, max_size=4), max_size=5).map(
        lambda v: __import__("json").dumps(v))))
    return table, {"peer": draw(st.sampled_from(["spb", "SPB", "kzn", "\n"])), "version": draw(SQL_VALUES),
                   "module_version": draw(SQL_VALUES), "patterns": draw(SQL_VALUES), "entries": entries,
                   "transit_grant": draw(SQL_VALUES)}


def out_config(paths: Paths):  # type: ignore[no-untyped-def]
    from python_worker.db.moduledb import read_config

    return read_config(paths.module_db)


def write_row(db: Path, table: str, row: dict[str, Any]) -> None:
    conn = sqlite3.connect(db)
    try:
        name = {"peers": "m_ModulePbxFederationPeers", "settings": "m_ModulePbxFederation",
                "directory": "m_ModulePbxFederationDirectory"}[table]
        values, marks = [], []
        for v in row.values():
            if isinstance(v, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in v):
                values.append(v.encode("utf-8", "surrogatepass"))  # not UTF-8: stored as TEXT all the same
                marks.append("CAST(? AS TEXT)")
            else:
                values.append(v)
                marks.append("?")
        if table == "settings":
            sets = ", ".join(f'"{c}" = {m}' for c, m in zip(row, marks, strict=True))
            conn.execute(f'UPDATE "{name}" SET {sets}', values)
        else:
            cols = ", ".join(f'"{c}"' for c in row)
            conn.execute(f'INSERT INTO "{name}" ({cols}) VALUES ({", ".join(marks)})', values)
        if table == "directory":  # spb's directory counts only when spb is paired
            conn.execute('UPDATE "m_ModulePbxFederationPeers" SET paired = 1 WHERE name = ?', ("spb",))
        conn.commit()
    finally:
        conn.close()


@settings(max_examples=examples(60))
@given(hostile_rows())
def test_hostile_rows_never_crash_never_render_unsafely_never_lose_the_working_peer(
        tally: Tally, template: Path, tmp_path: Path, row: tuple[str, dict[str, Any]]) -> None:
    paths = copy(template, tmp_path / "st")
    admin = dump_admin(paths.mikopbx_db)
    old_files = paths.state(HOOKS_FILE).read_bytes(), paths.state(RECORDS_FILE).read_bytes()
    write_row(paths.module_db, *row)
    try:
        report = reconcile(paths, NoReload())
        assert report.result in ("applied", "unchanged", "refused", "error"), report.summary()
        assert dump_admin(paths.mikopbx_db) == admin, "the admin's rows changed"
        if report.result in ("refused", "error"):
            assert (paths.state(HOOKS_FILE).read_bytes(), paths.state(RECORDS_FILE).read_bytes()) == old_files
            assert report.problems or report.message
            tally.add("module.db", "refused")
            return
        out = compute_from_files(paths.mikopbx_db, paths.module_db)
        hooks, records = read_json(paths.state(HOOKS_FILE)), read_json(paths.state(RECORDS_FILE))
        check_hooks(hooks, out.plan)
        check_records(records)
        hostile = next((p.name for p in out_config(paths).peers if p.name.lower() != "spb"), "")
        if row[0] == "peers" and hostile and out.plan.peer(hostile) is None:
            named = [p for p in out.plan.problems if p.peer == hostile and p.is_error]
            disabled = hostile in out.plan.disabled_peers
            assert named or disabled, "a row left out without a problem naming it"
            assert all(p.field for p in named)
            outcome = "refused"
        else:
            outcome = "accepted"
        if out.plan.peer("spb") is None:
            said = [p for p in out.plan.problems if p.peer and p.peer.lower() == "spb" and p.is_error]
            if not said:
                tally.add("module.db", "lost")
                raise AssertionError("the working peer left the plan without a problem saying why")
            tally.add("module.db", "refused")  # a row that clashes with spb: both reported, nothing silent
            return
    except AssertionError:
        tally.add("module.db", "unsafe")
        raise
    except Exception:
        tally.add("module.db", "crash")
        raise
    tally.add("module.db", outcome)
