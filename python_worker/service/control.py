"""The worker's control endpoint (pyzmq REP on ipc://<stateDir>/control.sock, mode 0600) and its client.

The server thread only answers: each request is handed to the worker's `handle`, whose answer goes back as JSON.
One bad request (several frames, over MAX_REQUEST bytes, not UTF-8, not a JSON object, lone surrogates, a
handler that fails) is answered with an error and the endpoint goes on; answers are ASCII JSON, so no text can
fail to encode. The thread is supervised (service/supervisor.py): if it dies anyway it is restarted."""

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

from python_worker.logs import describe
from python_worker.service.supervisor import Health, guarded
from python_worker.statedir import CONTROL_SOCKET, WORKER_LOCK

MAX_IPC_PATH = 107  # sun_path
MAX_REQUEST = 64 * 1024  # bytes of one request; zmq drops a peer that sends more (MAXMSGSIZE)
MAX_NAME_ARG = 64
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


def _error(reason: str) -> dict[str, Any]:
    return {"ok": False, "error": reason}


class ControlServer:
    """The REP socket and its thread; `handle(request) -> answer` runs on that thread."""

    def __init__(self, ctx: Any, state_dir: Path, handle: Callable[[dict[str, Any]], dict[str, Any]],
                 on_exit: Callable[[], None] = lambda: None) -> None:
        self.ctx = ctx
        self.state_dir = state_dir
        self.handle = handle
        self.on_exit = on_exit  # the thread ended (stopped or died): wakes the supervisor
        self.health = Health("control")
        self._stop_addr = f"inproc://pbxfed-control-stop-{id(self)}"
        self._stop_tx: Any = None
        self._thread: threading.Thread | None = None
        self.served = 0  # requests answered (tests wait on it)

    def start(self) -> None:
        if self._stop_tx is None:
            self._stop_tx = self.ctx.socket(zmq.PAIR)
            self._stop_tx.bind(self._stop_addr)
        sock = self.ctx.socket(zmq.REP)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST)
        sock.setsockopt(zmq.LINGER, 0)
        bind_private(sock, self.state_dir)
        self._thread = guarded("control", lambda: self._serve(sock), self.health, self.on_exit)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def restart(self) -> None:
        self.start()

    def stop(self) -> None:
        """Stop the thread (if it still runs) and remove the socket; never blocks for more than 5 s."""
        if self._stop_tx is None:
            return
        with contextlib.suppress(zmq.ZMQError):
            self._stop_tx.send(b"stop", zmq.NOBLOCK)  # a dead thread has no peer: never wait for one
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._stop_tx.close(linger=0)
        self._stop_tx = None
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / CONTROL_SOCKET).unlink()

    def answer_frames(self, frames: list[bytes]) -> dict[str, Any]:
        """The answer to one request as received (every check of its shape is here)."""
        if len(frames) != 1:
            return _error("a request is one frame")
        raw = frames[0]
        if len(raw) > MAX_REQUEST:
            return _error(f"a request is at most {MAX_REQUEST} bytes")
        try:
            req = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _error("a request is a JSON object in UTF-8")
        if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
            return _error("a request is a JSON object with a 'cmd'")
        try:
            return self.handle(req)
        except Exception as exc:  # a bad request must not kill the endpoint
            reason = describe(exc)
            log.error("control request %s failed: %s", req["cmd"][:32].encode("unicode_escape").decode(), reason)
            return _error(reason)

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
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    continue
                answer = self.answer_frames(frames)
                # ASCII JSON: a lone surrogate or any other text can always be sent
                sock.send(json.dumps(answer, ensure_ascii=True, default=str).encode("ascii"))
                self.served += 1
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
    if not isinstance(cmd, str) or len(cmd) > 32:
        return _error("a request is a JSON object with a 'cmd'")
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
        name = req.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_ARG:
            return _error(f"check-peer needs a peer name of 1 to {MAX_NAME_ARG} characters")
        st = target.status(peer=name)
        if not st["peers"]:
            return {"ok": False, "error": f"no peer named '{name}'"}
        return {"ok": True, "peer": st["peers"][0], "trunk_source": st["trunk_source"]}
    if cmd == "stop":
        target.stop()
        return {"ok": True, "stopping": True}
    return _error(f"unknown command {cmd.encode('unicode_escape').decode('ascii')!r}")
