"""The worker's control endpoint (pyzmq REP on ipc://<stateDir>/control.sock, mode 0600) and its client.

The server thread only answers: each request is handed to the worker's `handle`, whose answer goes back as JSON.
One bad request is answered with an error and the endpoint goes on."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import zmq

from python_worker.statedir import CONTROL_SOCKET, WORKER_LOCK

MAX_IPC_PATH = 107  # sun_path
log = logging.getLogger("pbxfed")


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


class ControlServer:
    """The REP socket and its thread; `handle(request) -> answer` runs on that thread."""

    def __init__(self, ctx: Any, state_dir: Path, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.ctx = ctx
        self.state_dir = state_dir
        self.handle = handle
        self._stop_addr = f"inproc://pbxfed-control-stop-{id(self)}"
        self._stop_tx: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop_tx = self.ctx.socket(zmq.PAIR)
        self._stop_tx.bind(self._stop_addr)
        sock = self.ctx.socket(zmq.REP)
        bind_private(sock, self.state_dir)
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stop_tx is None:
            return
        self._stop_tx.send(b"stop")
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._stop_tx.close(linger=0)
        self._stop_tx = None
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / CONTROL_SOCKET).unlink()

    def _serve(self, sock: Any) -> None:
        stop = self.ctx.socket(zmq.PAIR)
        stop.connect(self._stop_addr)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(stop, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())  # blocks: no timeout, no busy polling
                if stop in ready:
                    break
                if sock not in ready:
                    continue
                raw = sock.recv()
                try:
                    req = json.loads(raw.decode())
                    answer = self.handle(req if isinstance(req, dict) else {})
                except Exception as exc:  # a bad request must not kill the endpoint
                    log.exception("control request failed")
                    answer = {"ok": False, "error": str(exc)}
                sock.send(json.dumps(answer, ensure_ascii=False).encode())
        finally:
            stop.close(linger=0)
            sock.close(linger=0)


class Requests:
    """Control requests waiting for a reconcile: each gets a ticket, served by the next reconcile the loop starts."""

    def __init__(self) -> None:
        self._done = threading.Condition()
        self._served = 0  # tickets up to this number have had their reconcile
        self._issued = 0

    def wait(self, timeout: float, wake: threading.Event, stopping: threading.Event,
             result: Callable[[], Any]) -> Any:
        """Ask for a reconcile and wait (at most `timeout` s) for it; its result, or None."""
        with self._done:
            self._issued += 1
            ticket = self._issued
        wake.set()
        deadline = time.monotonic() + timeout
        with self._done:
            while self._served < ticket and not stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._done.wait(left)
            return result()

    def pending(self) -> int | None:
        """The newest ticket not yet served (the loop serves it with its next reconcile), or None."""
        with self._done:
            return self._issued if self._issued > self._served else None

    def served(self, ticket: int | None) -> None:
        with self._done:
            if ticket is not None:
                self._served = max(self._served, ticket)
            self._done.notify_all()

    def release(self) -> None:
        with self._done:
            self._done.notify_all()


class Target(Protocol):
    """What the control endpoint asks of the worker."""

    def status(self, peer: str | None = None) -> Any: ...
    def plan_view(self) -> dict[str, Any]: ...
    def request_reconcile(self, wait: float) -> Any: ...
    def stop(self) -> None: ...

    @property
    def reconcile_wait(self) -> float: ...


def answer(target: Target, req: dict[str, Any]) -> dict[str, Any]:
    """One control request answered: status, plan, reconcile (waits a little), check-peer, stop."""
    cmd = req.get("cmd")
    if cmd == "status":
        return {"ok": True, **target.status()}
    if cmd == "plan":
        return {"ok": True, "plan": target.plan_view()}
    if cmd == "reconcile":
        report = target.request_reconcile(target.reconcile_wait)
        if report is None:
            return {"ok": True, "result": "pending", "message": "reconcile queued; still running"}
        return {"ok": report.ok, **report.to_json()}
    if cmd == "check-peer":
        name = str(req.get("name") or "")
        st = target.status(peer=name)
        if not st["peers"]:
            return {"ok": False, "error": f"no peer named '{name}'"}
        return {"ok": True, "peer": st["peers"][0], "trunk_source": st["trunk_source"]}
    if cmd == "stop":
        target.stop()
        return {"ok": True, "stopping": True}
    return {"ok": False, "error": f"unknown command {cmd!r}"}
