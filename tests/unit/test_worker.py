"""The long-running worker as a real process: file events -> reconcile -> reload, control endpoint, shutdown."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from python_worker.apply.reconciler import ApplyOptions, Paths
from python_worker.db.moduledb import upsert_peer
from python_worker.service.control import WorkerUnavailable, is_worker_running, request
from python_worker.service.worker import Worker, WorkerOptions
from python_worker.statedir import CONTROL_SOCKET, HOOKS_FILE, LOG_FILE, STATUS_FILE, read_json
from tests.unit.applyhelpers import (
    NSK,
    PYTHON,
    REPO,
    SECRET_NSK,
    SECRET_SPB,
    SPB,
    RecordingReloader,
    assert_consistent,
    make_station,
    wait_until,
    worker_env,
)


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


Running = tuple[Paths, Path, "subprocess.Popen[bytes]"]


@pytest.fixture
def running_worker(tmp_path: Path) -> Iterator[tuple[Paths, Path, subprocess.Popen[bytes]]]:
    paths = make_station(tmp_path, "2026.1")
    reloads = tmp_path / "reloads.log"
    status_cmd = f"sh -c 'printf \"  Contact:  %s/sip:127.0.0.3:5060 abc Avail 0.4\\n\" {_provider_id()}'"
    argv = [PYTHON, "-m", "python_worker", "run", "--mikopbx-db", str(paths.mikopbx_db), "--module-db",
            str(paths.module_db), "--state-dir", str(paths.state_dir),
            "--reload-cmd", f"sh -c 'echo \"$1\" >> {reloads}' reload {{what}}", "--status-cmd", status_cmd]
    proc = subprocess.Popen(argv, env=worker_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _lines(reloads) == ["pjsip", "dialplan", "firewall"], 20, "the first apply")
        wait_until(lambda: paths.state(CONTROL_SOCKET).exists(), 10, "the control socket")
        yield paths, reloads, proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


def _provider_id() -> str:
    from python_worker.core.planner import provider_id

    return provider_id("spb")


def _cli(paths: Paths, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "python_worker", *args, "--state-dir", str(paths.state_dir), "--json"],
                          capture_output=True, text=True, timeout=30, env=worker_env(), cwd=REPO, check=False)


def test_worker_reacts_to_module_db_edits_and_answers_control_requests(
    running_worker: tuple[Paths, Path, subprocess.Popen[bytes]],
) -> None:
    paths, reloads, proc = running_worker
    assert stat.S_IMODE(os.stat(paths.state(CONTROL_SOCKET)).st_mode) == 0o600

    upsert_peer(paths.module_db, NSK)  # what the admin's form does
    wait_until(lambda: len(_lines(reloads)) == 6, 10, "the reload after adding a peer")
    wait_until(lambda: "nsk" in paths.state(HOOKS_FILE).read_text(), 5, "the new fragments")
    assert _lines(reloads)[3:] == ["pjsip", "dialplan", "firewall"]

    upsert_peer(paths.module_db, replace(NSK, blf=False))  # hooks-only change
    wait_until(lambda: len(_lines(reloads)) >= 8, 10, "the reload after switching BLF off")
    assert sorted(_lines(reloads)[6:]) == ["dialplan", "pjsip"]
    assert_consistent(paths)

    def trunks(data: dict[str, Any]) -> dict[str, str]:
        return {p["name"]: p["trunk"] for p in data["peers"]}

    # the trunk states come from the worker's last contacts poll (every 2 s), never from a query of their own
    wait_until(lambda: trunks(read_json(paths.state(STATUS_FILE)) or {"peers": []}).get("spb") == "reachable", 10,
               "the first contacts poll in status.json")
    status = _cli(paths, "status")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    peers = {p["name"]: p for p in data["peers"]}
    assert peers["spb"]["applied"] and peers["nsk"]["applied"] and peers["spb"]["planned"]
    assert trunks(data) == {"nsk": "unknown", "spb": "reachable"}
    assert {p["name"]: p["apply"] for p in data["peers"]} == {"nsk": "applied", "spb": "applied"}
    assert data["last_apply"]["result"] == "applied"
    published = read_json(paths.state(STATUS_FILE))
    assert published["running"] and trunks(published) == trunks(data)  # what the admin page reads

    check = _cli(paths, "check-peer", "spb")
    assert check.returncode == 0 and json.loads(check.stdout)["peer"]["name"] == "spb"
    assert _cli(paths, "check-peer", "nowhere").returncode == 1

    again = _cli(paths, "reconcile")
    assert again.returncode == 0 and json.loads(again.stdout)["result"] == "unchanged"
    assert len(_lines(reloads)) == 8  # nothing changed, nothing reloaded

    plan = request(paths.state_dir, {"cmd": "plan"}, timeout=5)
    assert [p["name"] for p in plan["plan"]["peers"]] == ["nsk", "spb"]

    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not paths.state(CONTROL_SOCKET).exists()
    gone = _cli(paths, "status")
    assert gone.returncode == 3 and "not running" in gone.stderr
    assert read_json(paths.state(STATUS_FILE))["running"] is False  # the page says so too
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    for text in (status.stdout, check.stdout, stderr, paths.state(LOG_FILE).read_text()):
        assert SECRET_SPB not in text and SECRET_NSK not in text


def test_worker_repairs_drift_from_mikopbx_db_edits(running_worker: Running) -> None:
    import sqlite3

    paths, reloads, _proc = running_worker
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("DELETE FROM m_OutgoingRoutingTable WHERE note LIKE 'ModulePbxFederation:%'")
    conn.commit()
    conn.close()
    wait_until(lambda: len(_lines(reloads)) == 4, 10, "the reload after the drift repair")
    assert _lines(reloads)[3] == "dialplan"
    assert_consistent(paths)
    drift = wait_until(lambda: json.loads(_cli(paths, "status").stdout)["peers"][0]["drift"], 5, "drift in status")
    assert drift == [{"op": "create", "table": "m_OutgoingRoutingTable",
                      "key": ["ModulePbxFederation: peer spb pattern 3XX"], "peer": "spb", "drift": "deleted"}]


def test_second_worker_on_the_same_state_dir_refuses(running_worker: Running) -> None:
    paths, _reloads, _proc = running_worker
    assert is_worker_running(paths.state_dir)
    second = subprocess.run([PYTHON, "-m", "python_worker", "run", "--mikopbx-db", str(paths.mikopbx_db),
                             "--module-db", str(paths.module_db), "--state-dir", str(paths.state_dir),
                             "--no-reload"], capture_output=True, text=True, timeout=30, env=worker_env(), cwd=REPO,
                            check=False)
    assert second.returncode == 3 and "already runs" in second.stderr


def test_disable_stops_a_running_worker_and_removes_everything(
    running_worker: tuple[Paths, Path, subprocess.Popen[bytes]],
) -> None:
    paths, _reloads, proc = running_worker
    result = subprocess.run([PYTHON, "-m", "python_worker", "disable", "--mikopbx-db", str(paths.mikopbx_db),
                             "--state-dir", str(paths.state_dir), "--no-reload", "--json"], capture_output=True,
                            text=True, timeout=30, env=worker_env(), cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    assert proc.wait(10) == 0
    assert json.loads(result.stdout)["counts"]["delete"] == 7  # one peer: 6 records + the entity-ID custom file


def test_status_client_without_worker_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(WorkerUnavailable, match="not running"):
        request(tmp_path, {"cmd": "status"}, timeout=5)
    (tmp_path / CONTROL_SOCKET).touch()  # a stale socket left by a killed worker
    with pytest.raises(WorkerUnavailable, match="not running"):
        request(tmp_path, {"cmd": "status"}, timeout=5)
    assert time.monotonic() - started < 1


def test_in_process_worker_skips_events_without_commits_and_debounces(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1", peers=(SPB,))
    reloader = RecordingReloader()
    worker = Worker(paths, reloader, ApplyOptions(), WorkerOptions(debounce=0.05, resync=3600))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: reloader.calls, 10, "the first apply")
        wait_until(lambda: worker.last is not None and worker.last.result == "applied", 5, "the first report")
        # Our own commit wakes the watcher once more; once that is handled, events without a commit
        # (e.g. our own reads) cost no reconcile at all.
        wait_until(lambda: worker.reconcile_once(forced=False) is None, 5, "a quiet database")
        for _ in range(5):  # a burst of edits -> one reconcile
            upsert_peer(paths.module_db, replace(NSK, note=str(time.monotonic())))
        wait_until(lambda: len(reloader.calls) == 2, 10, "one reload for the burst")
        report = worker.request_reconcile(5)
        assert report is not None and report.result == "unchanged"
        assert len(reloader.calls) == 2
    finally:
        worker.stop()
        thread.join(10)
    assert not thread.is_alive()
