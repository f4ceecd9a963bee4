"""The worker's control endpoint (pyzmq REP on ipc://<stateDir>/control.sock, mode 0600) and its client."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

import zmq

from python_worker.statedir import CONTROL_SOCKET, WORKER_LOCK

MAX_IPC_PATH = 107  # sun_path


class WorkerUnavailable(RuntimeError):
    """The worker is not running, or did not answer in time."""


def endpoint(state_dir: Path) -> str:
    path = str((state_dir / CONTROL_SOCKET).resolve())
    if len(path) > MAX_IPC_PATH:
        raise ValueError(f"control socket path is too long for a unix socket: {path}")
    return "ipc://" + path


def bind_private(sock: Any, state_dir: Path) -> Path:
    """Bind `sock` to the state dir's control socket, created with mode 0600 (no window with wider rights)."""
    path = state_dir / CONTROL_SOCKET
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # stale after a kill; we hold the worker lock, so no live worker owns it
    old = os.umask(0o177)
    try:
        sock.bind(endpoint(state_dir))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return path


def is_worker_running(state_dir: Path) -> bool:
    """True when some process holds the worker lock (a cheap check that never waits on a stale socket)."""
    lock = state_dir / WORKER_LOCK
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def request(state_dir: Path, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send one request to the running worker and return its JSON answer, within `timeout` seconds."""
    if not is_worker_running(state_dir) or not (state_dir / CONTROL_SOCKET).exists():
        raise WorkerUnavailable(f"the federation worker is not running (state dir {state_dir})")
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    ms = max(1, int(timeout * 1000))
    sock.setsockopt(zmq.SNDTIMEO, ms)
    sock.setsockopt(zmq.RCVTIMEO, ms)
    try:
        sock.connect(endpoint(state_dir))
        sock.send(json.dumps(payload).encode())
        answer = json.loads(sock.recv().decode())
    except zmq.Again:
        raise WorkerUnavailable(f"the federation worker did not answer within {timeout:g}s") from None
    finally:
        sock.close()
    if not isinstance(answer, dict):
        raise WorkerUnavailable("the federation worker sent an unexpected answer")
    return answer
