"""An attacker on the worker's control socket (a local user who can reach it, or a buggy client): multi-frame
requests, lone surrogates, invalid UTF-8, huge requests, non-objects, any JSON. Each gets an error answer (or,
over the size limit, a dropped connection), the worker keeps answering, restarts a control thread that dies,
shows that in status, and still stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from python_worker.apply.reconciler import ApplyOptions, Paths
from python_worker.apply.system import NoReload
from python_worker.service.control import endpoint, request
from python_worker.service.worker import Worker, WorkerOptions
from python_worker.statedir import CONTROL_SOCKET, STATUS_FILE, read_json
from tests.hostile.conftest import Tally, examples
from tests.hostile.oracle import hostile_json
from tests.unit.applyhelpers import PYTHON, REPO, make_station, running, wait_until, worker_env

ATTACKS: list[tuple[str, list[bytes]]] = [
    ("two frames", [b'{"cmd": "status"}', b'{"cmd": "stop"}']),
    ("three frames", [b"a", b"b", b"c"]),
    ("lone surrogate", [b'{"cmd": "check-peer", "name": "\\ud800"}']),
    ("lone surrogate in cmd", [b'{"cmd": "\\udfff"}']),
    ("invalid UTF-8", [b'{"cmd": "status\xff"}']),
    ("not JSON", [b"status"]),
    ("a list", [b'["status"]']),
    ("no cmd", [b"{}"]),
    ("cmd not a text", [b'{"cmd": 1}']),
    ("name not a text", [b'{"cmd": "check-peer", "name": {"a": 1}}']),
    ("long name", [json.dumps({"cmd": "check-peer", "name": "x" * 10_000}).encode()]),
    ("deep JSON", [b"[" * 30_000 + b"]" * 30_000]),
    ("empty frame", [b""]),
    ("unknown command", [b'{"cmd": "rm -rf /"}']),
]


def _client(state_dir: Path, wait_ms: int = 5000) -> Any:
    sock = zmq.Context.instance().socket(zmq.DEALER)  # speaks to REP with an empty delimiter, any frames
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, wait_ms)
    sock.connect(endpoint(state_dir))
    return sock


def _attack(state_dir: Path, frames: list[bytes], wait_ms: int = 5000) -> dict[str, Any] | None:
    sock = _client(state_dir, wait_ms)
    try:
        sock.send_multipart([b"", *frames])
        try:
            parts = sock.recv_multipart()
        except zmq.Again:
            return None  # dropped (over the size limit)
        return dict(json.loads(parts[-1].decode("ascii")))
    finally:
        sock.close(0)


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[tuple[Paths, subprocess.Popen[bytes]]]:
    paths = make_station(tmp_path, "2026.1")
    argv = [PYTHON, "-m", "python_worker", "run", "--mikopbx-db", str(paths.mikopbx_db), "--module-db",
            str(paths.module_db), "--state-dir", str(paths.state_dir), "--no-reload"]
    proc = subprocess.Popen(argv, env=worker_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: paths.state(CONTROL_SOCKET).exists(), 20, "the control socket")
        wait_until(lambda: (read_json(paths.state(STATUS_FILE)) or {}).get("last_check_result"), 20, "a reconcile")
        yield paths, proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_every_bad_request_is_answered_and_the_worker_still_obeys_sigterm(
        tally: Tally, worker_process: tuple[Paths, subprocess.Popen[bytes]]) -> None:
    paths, proc = worker_process
    for what, frames in ATTACKS:
        answer = _attack(paths.state_dir, frames)
        try:
            assert answer is not None and answer["ok"] is False and answer["error"], what
            assert request(paths.state_dir, {"cmd": "status"}, timeout=5)["ok"] is True, f"after {what}"
        except AssertionError:
            tally.add("control", "unsafe")
            raise
        tally.add("control", "refused")
    huge = _attack(paths.state_dir, [b'{"cmd": "status", "x": "' + b"x" * (2 * 1024 * 1024) + b'"}'])
    assert huge is None  # over MAXMSGSIZE: the connection is dropped, nothing is parsed
    assert request(paths.state_dir, {"cmd": "status"}, timeout=5)["ok"] is True
    tally.add("control", "refused")
    status = request(paths.state_dir, {"cmd": "status"}, timeout=5)
    assert status["threads"]["control"] == {"alive": True, "restarts": 0, "last_error": None, "last_restart": None}
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0 and time.monotonic() - started < 10
    assert (read_json(paths.state(STATUS_FILE)) or {}).get("running") is False


@pytest.fixture(scope="module")
def live_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paths]:
    paths = make_station(tmp_path_factory.mktemp("control"), "2026.1")
    worker = Worker(paths, NoReload(), ApplyOptions(), WorkerOptions(reachability_interval=0))
    with running(worker):
        wait_until(lambda: paths.state(CONTROL_SOCKET).exists() and worker.last is not None, 20, "the worker")
        yield paths


@settings(max_examples=examples(60))
@given(st.one_of(hostile_json(4).map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
                 st.fixed_dictionaries({"cmd": st.sampled_from(["status", "plan", "check-peer", "reconcile", "x"])},
                                       optional={"name": hostile_json(2)}).map(
                     lambda d: json.dumps(d).encode("utf-8", "surrogatepass")),
                 st.binary(max_size=100)))
def test_any_request_gets_a_json_answer(tally: Tally, live_worker: Paths, raw: bytes) -> None:
    try:
        answer = _attack(live_worker.state_dir, [raw])
        assert answer is not None and isinstance(answer.get("ok"), bool)
        assert request(live_worker.state_dir, {"cmd": "status"}, timeout=5)["ok"] is True
    except AssertionError:
        tally.add("control", "unsafe")
        raise
    except Exception:
        tally.add("control", "crash")
        raise
    tally.add("control", "accepted" if answer["ok"] else "refused")


def test_a_control_thread_that_dies_is_restarted_and_shown_in_status(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    paths = make_station(tmp_path, "2026.1")
    worker = Worker(paths, NoReload(), ApplyOptions(), WorkerOptions(reachability_interval=0))
    real = worker.handle
    killed: list[int] = []

    def handle(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("cmd") == "die" and not killed:
            killed.append(1)
            raise SystemExit("a fault nobody thought of")  # not an Exception: it ends the thread
        return real(req)

    monkeypatch.setattr(worker, "handle", handle)
    with running(worker) as thread:
        wait_until(lambda: paths.state(CONTROL_SOCKET).exists() and worker.last is not None, 20, "the worker")
        assert _attack(paths.state_dir, [b'{"cmd": "die"}'], wait_ms=1000) is None  # died without answering
        wait_until(lambda: worker.supervisor.status()["control"]["restarts"] == 1
                   and worker.supervisor.status()["control"]["alive"], 10, "the restart")
        answer = request(paths.state_dir, {"cmd": "status"}, timeout=5)
        assert answer["ok"] and answer["threads"]["control"]["restarts"] == 1
        assert "SystemExit" in answer["threads"]["control"]["last_error"]
    assert not thread.is_alive()  # and the worker still stops
