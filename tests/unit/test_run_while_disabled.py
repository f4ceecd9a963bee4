"""The worker never starts while Core says the module is disabled: a worker then would remove the federation's rows,
which an upgrade keeps (Lib/ModuleLifecycle.php), and a cron start after a disable would undo it. bin/safe.sh reads
the same state first (tests/realcore/tests/LifecycleTest.php runs it)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.unit.applyhelpers import REPO, make_station, owned_count, worker_env

NONE = {"providers": 0, "sip": 0, "outgoing": 0, "incoming": 0, "filters": 0}


def _register(db: Path, disabled: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS m_PbxExtensionModules (id INTEGER PRIMARY KEY, uniqid TEXT, "
                     "name TEXT, disabled TEXT)")
        conn.execute("DELETE FROM m_PbxExtensionModules")
        conn.execute("INSERT INTO m_PbxExtensionModules(uniqid, name, disabled) VALUES ('ModulePbxFederation', "
                     "'PBX federation', ?)", (disabled,))
        conn.commit()
    finally:
        conn.close()


def _run(paths_args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "python_worker", "run", *paths_args, "--no-reload"],
                          capture_output=True, text=True, timeout=30, env=worker_env(), cwd=REPO, check=False)


def test_run_refuses_to_start_while_the_module_is_disabled(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    _register(paths.mikopbx_db, "1")
    args = ["--mikopbx-db", str(paths.mikopbx_db), "--module-db", str(paths.module_db),
            "--state-dir", str(paths.state_dir)]
    proc = _run(args)
    assert proc.returncode == 0, proc.stderr
    assert "the module is disabled" in proc.stderr
    assert not (paths.state_dir / "control.sock").exists()
    assert owned_count(paths.mikopbx_db) == NONE  # nothing applied either
