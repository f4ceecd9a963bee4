"""Directory sync between paired stations over CurveZMQ: one thread owns every socket.

The server (sync/server.py) answers pairing and sync messages; for each paired peer a link (sync/links.py) pushes
our directory and sends heartbeats. Each station pushes its own directory to its peers: at once on a change, and
whenever a heartbeat answer shows that the peer holds another version (so a peer that was down gets the latest
after it reconnects; nothing is queued while it is away). With a state port (sync/states.py) the links also carry
this station's device states (at once for the numbers a peer watches, the rest coalesced) and which of each peer's
numbers our phones watch; the server hands the peers' states to the port.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from zmq.auth.thread import ThreadAuthenticator

from python_worker.core.fields import is_port, is_valid_host, is_valid_key, is_valid_name, name_key
from python_worker.logs import describe
from python_worker.sync.links import Link, SyncOptions
from python_worker.sync.pairing import InvitationBook, load_or_create_keys
from python_worker.sync.server import Shared, SyncServer
from python_worker.sync.states import StatePort
from python_worker.sync.station import Station
from python_worker.sync.wire import MAX_MESSAGE

log = logging.getLogger("pbxfed")
STATUS_EVERY = 0.5  # seconds: the longest a status (last answer, next heartbeat) may lag behind the links

__all__ = ["SyncOptions", "SyncService"]


class ThreadState:
    """What the worker's supervisor shows of the sync thread (the shape of service/supervisor.Health)."""

    def __init__(self) -> None:
        self.name = "sync"
        self.restarts = 0
        self.last_error: str | None = None
        self.last_restart: float | None = None
        self.started_at = time.monotonic()
        self.next_restart = 0.0
        self.backoff = 1.0

    def to_json(self, alive: bool) -> dict[str, Any]:
        return {"alive": alive, "restarts": self.restarts, "last_error": self.last_error,
                "last_restart": None if self.last_restart is None else round(self.last_restart, 3)}


class SyncService:
    def __init__(self, state_dir: Path, station: Station, opts: SyncOptions,
                 on_reachability: Callable[[frozenset[str]], None] | None = None,
                 on_exit: Callable[[], None] = lambda: None,
                 port: StatePort | None = None, on_features: Callable[[frozenset[str]], None] | None = None) -> None:
        self.state_dir = state_dir
        self.opts = opts
        self.on_reachability = on_reachability
        self.on_exit = on_exit  # the thread ended (stopped or died): wakes the worker's supervisor
        self.health = ThreadState()
        self._generation = 0
        self._auth: Any = None
        self.port = port
        self.on_features = on_features  # called with the paired peers whose workers do not carry states
        self.keys = load_or_create_keys(state_dir)
        self.shared = Shared(station)
        self.server = SyncServer(self.shared, self.keys, InvitationBook(state_dir), lambda: self.bound_port,
                                 self.notify)
        self.server.port = port
        self._legacy: frozenset[str] = frozenset()
        self._ctx = zmq.Context()
        self._wake_addr = f"inproc://pbxfed-sync-{id(self)}"
        self._wake_lock = threading.Lock()
        self._wake_tx: Any = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self._links: dict[str, Link] = {}
        self._links_made = 0  # counts changes to _links (the loop's poller is made anew after one)
        self._unreachable: frozenset[str] = frozenset()
        self._status: dict[str, Any] = {"peers": {}}
        self._status_lock = threading.Lock()
        self._status_shape: tuple[object, ...] = ()
        self._status_at = float("-inf")
        self.ready = threading.Event()
        self.bound_port = 0

    @property
    def counters(self) -> dict[str, int]:
        return self.shared.counters

    # ---- called from other threads ----
    def start(self) -> None:
        if self._auth is None:
            auth = ThreadAuthenticator(self._ctx)
            auth.start()
            auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
            self._auth = auth
        self._generation += 1
        address = f"{self._wake_addr}-{self._generation}"
        rx = self._ctx.socket(zmq.PAIR)
        rx.bind(address)
        with self._wake_lock:
            if self._wake_tx is not None:
                self._wake_tx.close(linger=0)
            self._wake_tx = self._ctx.socket(zmq.PAIR)
            self._wake_tx.connect(address)
        server = self._ctx.socket(zmq.ROUTER)
        server.curve_secretkey = self.keys.secret.encode()
        server.curve_publickey = self.keys.public.encode()
        server.curve_server = True
        server.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        server.setsockopt(zmq.LINGER, 0)
        server.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted peer takes its identity slot back
        try:
            server.bind(f"tcp://{self.opts.bind}:{self.opts.port or self.bound_port}")
        except zmq.ZMQError:
            server.close(linger=0)
            rx.close(linger=0)
            raise
        endpoint = str(server.getsockopt_string(zmq.LAST_ENDPOINT))
        self.bound_port = int(endpoint.rsplit(":", 1)[1])
        self.health.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._guarded_run, args=(server, rx), name="sync", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def restart(self) -> None:
        """A new thread, server socket and links in place of a thread that died (the supervisor calls it)."""
        self._links = {}
        self.shared.local = None
        self.start()

    def _guarded_run(self, server: Any, rx: Any) -> None:
        try:
            self._run(server, rx)
        except BaseException as exc:
            self.health.last_error = describe(exc)
            log.error("sync: thread died: %s", self.health.last_error)
        finally:
            if not self._stop:
                self.on_exit()

    def notify(self) -> None:
        """Something may have changed (our extensions, the peers table): re-read and push. Never blocks long."""
        with self._wake_lock:
            if self._wake_tx is not None and not self._stop:
                with contextlib.suppress(zmq.ZMQError):
                    self._wake_tx.send(b"n", zmq.NOBLOCK)

    def notify_states(self) -> None:
        """Our device states changed (AMI thread): send the changes. Never blocks long."""
        with self._wake_lock:
            if self._wake_tx is not None and not self._stop:
                with contextlib.suppress(zmq.ZMQError):
                    self._wake_tx.send(b"d", zmq.NOBLOCK)

    def legacy(self) -> frozenset[str]:
        """Paired peers whose worker answered without carrying device states."""
        return self._legacy

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake_lock:
            self._stop = True
            if self._wake_tx is not None:
                with contextlib.suppress(zmq.ZMQError):
                    self._wake_tx.send(b"s", zmq.NOBLOCK)
        if self._thread is not None:
            self._thread.join(timeout)
        with self._wake_lock:
            if self._wake_tx is not None:
                self._wake_tx.close(linger=0)
                self._wake_tx = None
        if self._auth is not None:
            self._auth.stop()
        self._ctx.destroy(linger=0)

    def unreachable(self) -> frozenset[str]:
        return self._unreachable

    def status(self) -> dict[str, Any]:
        with self._status_lock:
            copy: dict[str, Any] = json.loads(json.dumps(self._status))
        return copy

    # ---- the loop (sync thread) ----
    def _run(self, server: Any, rx: Any) -> None:
        try:
            self._refresh()
        except Exception:
            log.exception("sync: first refresh failed")
        self.ready.set()
        try:
            polled = -1
            poller = zmq.Poller()
            while not self._stop:
                if polled != self._links_made:  # anew only when the links change (the loop turns ~40 times a second)
                    polled, poller = self._links_made, zmq.Poller()
                    poller.register(server, zmq.POLLIN)
                    poller.register(rx, zmq.POLLIN)
                    for link in self._links.values():
                        poller.register(link.sock, zmq.POLLIN)
                        poller.register(link.mon, zmq.POLLIN)
                now = time.monotonic()
                due = min([min(link.next_ping, link.nudge_at) for link in self._links.values()] + [now + 1.0])
                ready = dict(poller.poll(max(0, int((due - now) * 1000)) + 1))
                now = time.monotonic()
                if rx in ready and self._woken(rx):
                    return
                if server in ready:
                    self.server.serve(server, now)  # answers or drops each message on its own
                local = self.shared.local
                if self.port is not None and local is not None:
                    watching = self.port.watching() or {}
                    for link in self._links.values():
                        link.flush_states(self.port, local.station, now, self.shared.watched.get(link.peer_key))
                        link.nudge(now)
                        link.offer_watch(local.station, watching.get(link.name))
                for link in list(self._links.values()):
                    mine = link.directory  # our directory as this peer gets it (with what we grant it)
                    try:
                        if link.mon in ready and mine is not None:
                            link.on_monitor(mine, now)
                        if link.sock in ready:
                            link.on_answers(mine, self.opts, now)
                        if now >= link.next_ping and mine is not None:
                            link.heartbeat(mine, self.opts, now)
                    except (zmq.ZMQError, ValueError, KeyError, TypeError) as exc:  # that link, that message
                        log.error("sync: link %s: %s", link.name, describe(exc))
                self._publish(now)
        finally:
            for link in self._links.values():
                link.close()
            server.close(linger=0)
            rx.close(linger=0)

    def _woken(self, rx: Any) -> bool:
        """Drain the wake socket; True when asked to stop, else refresh once for any number of notifies."""
        refresh = False
        states = False
        while True:
            try:
                token = rx.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if token == b"s":
                return True
            if token == b"d":
                states = True
            else:
                refresh = True
        if states and self.port is not None:
            changes = self.port.take_own_changes()
            if changes:
                for link in self._links.values():
                    link.queue_states(changes, self.shared.watched.get(link.peer_key))
        if refresh:
            try:
                self._refresh()
            except Exception:  # a failed read costs one refresh, never the service
                log.exception("sync: refresh failed")
        return False

    def _refresh(self) -> None:
        now = time.monotonic()
        config = self.shared.reload_config()
        wanted = {p.name.lower(): p for p in config.peers if p.paired and p.enabled and is_valid_key(p.public_key)
                  and is_port(p.sync_port) and is_valid_host(p.host) and is_valid_name(p.name)}
        for key in list(self._links):
            peer = wanted.get(key)
            if peer is None or not self._links[key].matches(peer):
                self._links.pop(key).close()
                self._links_made += 1
        kept = {name_key(p.name) for p in wanted.values()}
        for gone in set(self.shared.watched) - kept:  # unpaired: what it watched is forgotten with it
            del self.shared.watched[gone], self.shared.watch_v[gone]
        for key, peer in wanted.items():
            if key not in self._links:
                self._links[key] = Link.open(self._ctx, self.keys, peer, self.opts, now, self.shared.counters)
                self._links_made += 1
        local = self.shared.station.directory()
        grants = self.shared.station.grants()
        self.shared.local = local
        for key, link in self._links.items():
            mine = local.for_peer(grants.get(key, ""))
            if link.directory is None or mine.version != link.directory.version:
                link.directory = mine
                if link.state == "up":
                    link.send_directory(mine)

    def _publish(self, now: float) -> None:
        local = self.shared.local
        down = frozenset(link.name for link in self._links.values() if link.is_down)
        # The loop turns at every message (9 peers: ~40 a second at idle); the status is read at most every few
        # seconds, so it is made anew when a link's state changed, else at most every STATUS_EVERY seconds.
        shape = tuple((key, link.state, link.stored, id(link.directory), len(link.problems),
                       len(self.server.problems.get(key, ())))
                      for key, link in sorted(self._links.items()))
        if shape != self._status_shape or now - self._status_at >= STATUS_EVERY:
            self._status_shape, self._status_at = shape, now
            peers = {link.name: link.status(now, self.shared.stored.get(key), link.directory,
                                            self.server.problems.get(key, []))
                     for key, link in sorted(self._links.items())}
            status = {"bind": self.opts.bind, "port": self.bound_port, "public_key": self.keys.public,
                      "directory_version": local.version if local else None,
                      "extensions": len(local.entries) if local else 0, "peers": peers,
                      "counters": dict(self.shared.counters)}
            with self._status_lock:
                self._status = status
        if self.port is not None:
            for name in sorted(down - self._unreachable):
                try:
                    self.port.on_peer_down(name)
                except Exception:
                    log.exception("sync: state port failed")
            for name in sorted(self._unreachable - down):
                try:
                    self.port.on_peer_up(name)
                except Exception:
                    log.exception("sync: state port failed")
        legacy = frozenset(link.name for link in self._links.values() if link.is_legacy)
        if legacy != self._legacy:
            self._legacy = legacy
            if self.on_features is not None:
                try:
                    self.on_features(legacy)
                except Exception:
                    log.exception("sync: features callback failed")
        if down != self._unreachable:
            self._unreachable = down
            if self.on_reachability is not None:
                try:
                    self.on_reachability(down)
                except Exception:
                    log.exception("sync: reachability callback failed")
