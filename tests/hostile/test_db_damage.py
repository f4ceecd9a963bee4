"""Damaged and locked databases: corrupt pages, truncated files, files that are not databases, missing tables,
an EXCLUSIVE lock held by another process. Every command answers with a translated message and the documented
exit code (damaged 1, busy 3; `validate` as JSON), never a traceback; the reconcile keeps the last good
configuration byte for byte (mikopbx.db, hooks.json, records.json) and reports the problem. And the disk-full
window: a state file that cannot be written before the commit changes nothing; one that fails after it is
finished by the next reconcile."""

from __future__ import annotations

import errno
import io
import json
import shutil
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from python_worker.apply.reconciler import ApplyOptions, Paths, reconcile
from python_worker.apply.system import NoReload
from python_worker.cli import main
from python_worker.db import engine
from python_worker.db.moduledb import upsert_peer
from python_worker.statedir import HOOKS_FILE, JOURNAL_FILE, RECORDS_FILE, Staged
from tests.hostile.conftest import Tally
from tests.unit.applyhelpers import NSK, SPB, assert_consistent, make_station

SECRET = "Kzn-Secret-That-Must-Not-Leak-42"


def _corrupt_middle(db: Path) -> None:
    data = bytearray(db.read_bytes())
    for i in range(4096, min(len(data), 4096 * 3)):
        data[i] = (data[i] * 31 + 7) % 256
    db.write_bytes(bytes(data))


def _truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: max(100, len(data) // 3)])


def _not_a_database(db: Path) -> None:
    db.write_text("hello, I am not SQLite\n" * 50)


def _drop(table: str) -> Callable[[Path], None]:
    def drop(db: Path) -> None:
        conn = sqlite3.connect(db)
        conn.execute(f'DROP TABLE "{table}"')
        conn.commit()
        conn.close()

    drop.__name__ = f"drop_{table}"
    return drop


def _no_name_column(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute('ALTER TABLE "m_ModulePbxFederationPeers" RENAME COLUMN "name" TO "nom"')
    conn.commit()
    conn.close()


MODULE_DAMAGE = [_corrupt_middle, _truncate, _not_a_database, _drop("m_ModulePbxFederationPeers"),
                 _drop("m_ModulePbxFederation"), _no_name_column]
MIKOPBX_DAMAGE = [_truncate, _not_a_database, _drop("m_PbxSettings"), _drop("m_Sip"), _drop("m_Extensions"),
                  _drop("m_OutgoingRoutingTable")]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damage-template")
    paths = make_station(root, "2026.1", peers=(SPB, NSK))
    assert reconcile(paths, NoReload()).result == "applied"
    for db in (paths.mikopbx_db, paths.module_db):  # one file each: damage hits the data, not a -wal beside it
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
    return root


def _copy(template: Path, folder: Path) -> Paths:
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder)
    return Paths(folder / "cf" / "mikopbx.db", folder / "module" / "db" / "module.db",
                 folder / "module" / "db" / "state")


def _state(paths: Paths) -> tuple[bytes, bytes, bytes]:
    return (paths.mikopbx_db.read_bytes(), paths.state(HOOKS_FILE).read_bytes(),
            paths.state(RECORDS_FILE).read_bytes())


def _cli(argv: list[str], stdin: str, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _commands(paths: Paths) -> list[tuple[list[str], str, bool]]:
    dbs = ["--mikopbx-db", str(paths.mikopbx_db), "--module-db", str(paths.module_db)]
    form = json.dumps({"name": "kzn", "host": "127.0.0.5", "patterns": "5XX", "secret": SECRET})
    return [
        (["plan", *dbs], "", False),
        (["peers", "list", "--module-db", str(paths.module_db)], "", False),
        (["peers", "add", *dbs, "--name", "kzn", "--host", "127.0.0.5", "--patterns", "5XX", "--secret", "-"],
         SECRET, False),
        (["settings", "set", *dbs, "--display-name", "Москва"], "", False),
        (["peers", "validate", *dbs], form, True),
        (["settings", "validate", *dbs], json.dumps({"station_name": "moscow", "own_patterns": "2XX"}), True),
        (["apply", *dbs, "--state-dir", str(paths.state_dir), "--no-reload", "--busy-timeout", "0.3", "--json"],
         "", True),
    ]


def _check_answers(paths: Paths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                   expect: int, tally: Tally, source: str) -> None:
    for argv, stdin, as_json in _commands(paths):
        try:
            code, out, err = _cli(argv, stdin, capsys, monkeypatch)
            assert "Traceback" not in out + err and SECRET not in out + err, (argv[0], err)
            if argv[0] == "peers" and argv[1] == "list" and code == 0:
                tally.add(source, "accepted")  # peers list reads module.db only: a mikopbx.db fault is not its
                continue
            assert code == expect, (argv[:2], code, out, err)
            if as_json:
                answer = json.loads(out)
                assert answer.get("ok") is False
                codes = [p["code"] for p in answer.get("problems", [])] + [answer.get("result")]
                assert {"E_DB_DAMAGED", "E_DB_BUSY", "error", "busy"} & set(codes), answer
            else:
                assert ("E_DB_DAMAGED" in err) or ("E_DB_BUSY" in err), err
        except AssertionError:
            tally.add(source, "unsafe")
            raise
        tally.add(source, "refused")


CASES = [("module", d) for d in MODULE_DAMAGE] + [("mikopbx", d) for d in MIKOPBX_DAMAGE]


@pytest.mark.parametrize(("which", "damage"), CASES, ids=[f"{w}-{d.__name__}" for w, d in CASES])
def test_a_damaged_database_keeps_the_last_good_configuration(
        tally: Tally, template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, which: str, damage: Callable[[Path], None]) -> None:
    paths = _copy(template, tmp_path / "st")
    damage(paths.module_db if which == "module" else paths.mikopbx_db)
    before = _state(paths)
    report = reconcile(paths, NoReload())
    try:
        assert report.result == "error", report.summary()
        assert [p.code for p in report.problems] == ["E_DB_DAMAGED"], report.problems
        assert _state(paths) == before and not paths.state(JOURNAL_FILE).exists()
    except AssertionError:
        tally.add("db.damage", "lost")
        raise
    tally.add("db.damage", "refused")
    _check_answers(paths, capsys, monkeypatch, 1, tally, "db.damage")
    assert _state(paths) == before


@contextmanager
def exclusive(db: Path) -> Iterator[None]:
    """Another process's EXCLUSIVE lock (held on a thread: our engine sees it like another process's)."""
    ready, done = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db, check_same_thread=False)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        ready.set()
        done.wait(60)
        conn.rollback()
        conn.close()

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        done.set()
        t.join(10)


@pytest.mark.parametrize("which", ["module", "mikopbx"])
def test_a_locked_database_answers_busy_exit_3_without_leaking_the_secret(
        tally: Tally, template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    monkeypatch.setattr(engine, "READ_BUSY_MS", 300)  # the documented 5 s wait, shortened for the test
    paths = _copy(template, tmp_path / "st")
    before = _state(paths)
    module_before = paths.module_db.read_bytes()
    with exclusive(paths.module_db if which == "module" else paths.mikopbx_db):
        report = reconcile(paths, NoReload(), opts=ApplyOptions(busy_timeout=0.3))
        assert report.result == "busy" and [p.code for p in report.problems] == ["E_DB_BUSY"], report.summary()
        tally.add("db.lock", "refused")
        _check_answers(paths, capsys, monkeypatch, 3, tally, "db.lock")
    assert _state(paths) == before and paths.module_db.read_bytes() == module_before
    assert reconcile(paths, NoReload()).result == "unchanged"  # and all is well once the lock is gone


def test_a_full_disk_before_the_commit_changes_nothing(template: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _copy(template, tmp_path / "st")
    upsert_peer(paths.module_db, SPB.__class__(name="kzn", host="127.0.0.5", patterns="5XX", secret=SECRET))
    before = _state(paths)
    real_init = Staged.__init__

    def full(self: Staged, path: Path, data: bytes, mode: int = 0o600) -> None:
        if path.name == HOOKS_FILE:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_init(self, path, data, mode)

    monkeypatch.setattr(Staged, "__init__", full)
    report = reconcile(paths, NoReload())
    assert report.result == "error" and [p.code for p in report.problems] == ["E_STATE_WRITE_FAILED"]
    assert _state(paths) == before and not paths.state(JOURNAL_FILE).exists()
    assert not [p for p in paths.state_dir.iterdir() if p.name.endswith(".staged")]
    monkeypatch.setattr(Staged, "__init__", real_init)
    assert reconcile(paths, NoReload()).result == "applied"
    assert_consistent(paths)


def test_a_failure_after_the_commit_is_finished_by_the_next_reconcile(template: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _copy(template, tmp_path / "st")
    upsert_peer(paths.module_db, SPB.__class__(name="kzn", host="127.0.0.5", patterns="5XX", secret=SECRET))
    real_commit = Staged.commit

    def fail(self: Staged) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Staged, "commit", fail)
    report = reconcile(paths, NoReload())
    assert report.result == "error"
    assert paths.state(JOURNAL_FILE).exists()  # the DB has the new rows, the files not yet: the journal says so
    monkeypatch.setattr(Staged, "commit", real_commit)
    again = reconcile(paths, NoReload())
    assert again.recovered == "forward" and again.ok
    assert_consistent(paths)


def test_the_running_worker_reports_damage_keeps_the_configuration_and_logs_no_traceback(
        template: Path, tmp_path: Path) -> None:
    from python_worker.logs import setup_logging
    from python_worker.service.control import request
    from python_worker.service.worker import Worker, WorkerOptions
    from python_worker.statedir import CONTROL_SOCKET, LOG_FILE
    from tests.unit.applyhelpers import running, wait_until

    paths = _copy(template, tmp_path / "st")
    setup_logging(paths.state_dir, to_stderr=False)
    worker = Worker(paths, NoReload(), ApplyOptions(), WorkerOptions(reachability_interval=0))
    with running(worker):
        wait_until(lambda: paths.state(CONTROL_SOCKET).exists() and worker.last is not None, 20, "the worker")
        before = _state(paths)
        _drop("m_ModulePbxFederationPeers")(paths.module_db)
        for _ in range(3):  # every resync of a damaged database: a problem, never a traceback
            answer = request(paths.state_dir, {"cmd": "reconcile"}, timeout=10)
            assert answer["result"] == "error"
        status = request(paths.state_dir, {"cmd": "status"}, timeout=5)
        assert "E_DB_DAMAGED" in [p["code"] for p in status["problems"]]
        assert [p["name"] for p in status["peers"]] == ["nsk", "spb"]  # the last good plan is still shown
        assert _state(paths) == before
    log = (paths.state_dir / LOG_FILE).read_text()
    assert "Traceback" not in log and "E_DB_DAMAGED" not in log and "damaged or incomplete" in log
