"""Secrets where others can read them: process arguments (`ps` and /proc/<pid>/cmdline of the processes we start),
logs and exception texts (also for secrets nobody registered), and file modes (0600 files, 0700 state dir)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from python_worker.apply.reconciler import reconcile
from python_worker.apply.system import NoReload
from python_worker.db.engine import DatabaseError, connect
from python_worker.logs import PrivateLogFile, describe, setup_logging
from python_worker.statedir import CONTROL_SOCKET, LOG_FILE, tighten
from tests.hostile.conftest import Tally
from tests.unit.applyhelpers import PYTHON, REPO, SPB, make_station, wait_until, worker_env

SECRET = "Kzn-Secret-That-Must-Not-Leak-42"


def _ps() -> str:
    return subprocess.run(["ps", "-eo", "pid,args", "ww"], capture_output=True, text=True, timeout=30,
                          check=True).stdout


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_in_any_process_argument(tally: Tally, tmp_path: Path) -> None:
    """While each command waits for its stdin, neither `ps` nor its /proc cmdline shows the secret, the form's
    JSON or the invitation; the running worker's arguments hold none either."""
    paths = make_station(tmp_path, "2026.1")
    dbs = ["--mikopbx-db", str(paths.mikopbx_db), "--module-db", str(paths.module_db)]
    invitation = "pbxfed1:eyJ2IjoxLCJzZWNyZXQiOiJ0b3Atc2VjcmV0LWludml0YXRpb24ifQ"
    worker = subprocess.Popen([PYTHON, "-m", "python_worker", "run", *dbs, "--state-dir", str(paths.state_dir),
                               "--no-reload"], env=worker_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    waiting = []
    try:
        for argv, given in (
                (["peers", "add", *dbs, "--name", "kzn", "--host", "127.0.0.5", "--patterns", "5XX", "--secret", "-"],
                 SECRET),
                (["peers", "validate", *dbs], json.dumps({"name": "kzn", "secret": SECRET})),
                (["invite", "accept", *dbs, "--state-dir", str(paths.state_dir), "--address", "127.0.0.2"],
                 invitation)):
            proc = subprocess.Popen([PYTHON, "-m", "python_worker", *argv], env=worker_env(), cwd=REPO,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            waiting.append((proc, given))
        wait_until(lambda: paths.state(CONTROL_SOCKET).exists(), 20, "the worker")
        listing = _ps()
        for proc, _given in [(worker, ""), *waiting]:
            shown = _cmdline(proc.pid)
            for secret in (SECRET, "top-secret-invitation", invitation, SPB.secret):
                assert secret not in shown and secret not in listing, f"{secret!r} visible in ps"
            tally.add("secrets.argv", "refused")
        for proc, given in waiting:
            out, err = proc.communicate(given.encode(), timeout=60)
            assert SECRET.encode() not in out + err and b"top-secret-invitation" not in out + err
    finally:
        for proc, _ in waiting:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(10)


def test_secrets_nobody_registered_never_reach_an_exception_text_or_a_log(tally: Tally, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (secret TEXT UNIQUE NOT NULL CHECK (length(secret) < 100))")
    conn.commit()
    conn.close()
    for value in (SECRET, "x" * 200):
        try:
            with connect(db, read_only=False, begin=True) as c:
                c.execute(text("INSERT INTO t (secret) VALUES (:s)"), {"s": SECRET})
                c.execute(text("INSERT INTO t (secret) VALUES (:s)"), {"s": value})
        except DatabaseError as exc:
            assert SECRET not in str(exc) and SECRET not in describe(exc) and SECRET not in repr(exc.reason)
            tally.add("secrets.exceptions", "refused")
        else:  # pragma: no cover - the constraint always fails
            raise AssertionError("no error")
    setup_logging(tmp_path / "state", to_stderr=False)
    log = logging.getLogger("pbxfed")
    log.error("INSERT failed, parameters: secret=%s", "never-registered-secret-1")
    log.error('answer {"secret": "%s", "proof": "%s"}', "0123456789abcdef0123456789abcdef", "f" * 64)
    try:
        raise RuntimeError("password = hunter2-hunter2")
    except RuntimeError:
        log.exception("failed")
    log.error("huge %s", "A" * 2_000_000)
    for handler in log.handlers:
        handler.flush()
    written = (tmp_path / "state" / LOG_FILE).read_text()
    for leaked in ("never-registered-secret-1", "0123456789abcdef0123456789abcdef", "f" * 64, "hunter2"):
        assert leaked not in written
    assert max(len(line) for line in written.splitlines()) < 5000
    assert _mode(tmp_path / "state" / LOG_FILE) == 0o600
    tally.add("secrets.logs", "refused")


def test_every_file_that_holds_a_secret_is_private(tally: Tally, tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    old_umask = os.umask(0o022)  # as a careless shell would leave it
    try:
        assert reconcile(paths, NoReload()).result == "applied"
        proc = subprocess.run([PYTHON, "-m", "python_worker", "invite", "create", "--mikopbx-db",
                               str(paths.mikopbx_db), "--module-db", str(paths.module_db), "--state-dir",
                               str(paths.state_dir), "--address", "127.0.0.2", "--json"], env=worker_env(),
                              cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        fresh = tmp_path / "fresh" / "module.db"
        assert subprocess.run([PYTHON, "-m", "python_worker", "init", "--module-db", str(fresh)], env=worker_env(),
                              cwd=REPO, capture_output=True, timeout=60, check=False).returncode == 0
        assert _mode(fresh) == 0o600
        (paths.state_dir / "leftover.json").write_text("{}")
        os.chmod(paths.state_dir / "leftover.json", 0o644)
        os.chmod(paths.module_db, 0o644)
        tighten(paths.state_dir)  # what `run` does first (with module.db: db/engine.private_file)
        from python_worker.db.engine import private_file

        private_file(paths.module_db)
    finally:
        os.umask(old_umask)
    assert _mode(paths.state_dir) == 0o700
    assert _mode(paths.module_db) == 0o600
    for f in paths.state_dir.iterdir():
        if f.is_file():
            assert _mode(f) == 0o600, f
            tally.add("secrets.files", "refused")
    handler = PrivateLogFile(tmp_path / "rot.log", maxBytes=10, backupCount=2)
    handler.emit(logging.LogRecord("pbxfed", logging.INFO, __file__, 1, "x" * 50, None, None))
    handler.doRollover()
    handler.close()
    for f in tmp_path.glob("rot.log*"):
        assert _mode(f) == 0o600, f


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership only changes when the worker runs as root")
def test_a_module_db_made_by_root_keeps_the_owner_of_its_directory(tmp_path: Path) -> None:
    from python_worker.db.moduledb import init_db

    folder = tmp_path / "db"
    folder.mkdir()
    os.chown(folder, 33, 33)  # Core's web user owns the module's db folder on a box
    init_db(folder / "module.db")
    st = (folder / "module.db").stat()
    assert (st.st_uid, st.st_gid, _mode(folder / "module.db")) == (33, 33, 0o600)
