"""Directory sync between paired stations over CurveZMQ: pairing answers, push on change, heartbeats.

One thread owns every socket. The server is a ROUTER bound on the sync port with this station's key; any client
may complete the CURVE handshake (a station that is pairing has no pinned key yet), and every message is then
checked against the key the ZAP handler authenticated (`User-Id`): sync messages are answered only for a paired
peer's pinned key. For each paired peer a DEALER connects with the peer's key pinned, so a station that answers
with another key fails the handshake (reported, never trusted).

Each station pushes its own directory to its peers: at once on a change, and whenever a heartbeat answer shows
that the peer holds another version (so a peer that was down gets the latest after it reconnects; nothing is
queued while it is away). Heartbeats run every `heartbeat` seconds while the peer answers and back off (doubling
up to `backoff_max`) while it does not; zmq's own reconnects back off up to `reconnect_max`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import parse_monitor_message

from python_worker import SYNC_PORT, __version__
from python_worker.core.config import ModuleConfig, PeerConfig, RemoteDirectory, is_valid_host, is_valid_name
from python_worker.core.directory import DirectoryError, LocalDirectory, build_local_directory, directory_from_wire
from python_worker.core.patterns import PatternError, parse_pattern_list
from python_worker.core.problems import Problem, problem
from python_worker.db.moduledb import read_config, upsert_peer, write_directory
from python_worker.db.snapshot import read_snapshot
from python_worker.pipeline import compute
from python_worker.sync.pairing import (
    Invitation,
    InvitationBook,
    InviteError,
    KeyPair,
    answer_proof,
    is_valid_key,
    load_or_create_keys,
    new_trunk_secret,
    pair_proof,
)

log = logging.getLogger("pbxfed")

PROTOCOL = 1
MAX_MESSAGE = 8 * 1024 * 1024  # bytes on the wire; a full 20,000-entry directory compresses far below this
MAX_JSON = 32 * 1024 * 1024
NONCE_TTL = 30.0
MAX_NONCES = 256  # pairing challenges outstanding at once; a flood of pair-hello drops the oldest
_COMPRESS_OVER = 1024


# ---- wire format: one frame, "J" + JSON or "Z" + zlib(JSON) ----
def encode(msg: dict[str, Any]) -> bytes:
    body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()
    return b"Z" + zlib.compress(body, 6) if len(body) > _COMPRESS_OVER else b"J" + body


def decode(frame: bytes) -> dict[str, Any]:
    kind, body = frame[:1], frame[1:]
    if kind == b"Z":
        d = zlib.decompressobj()
        body = d.decompress(body, MAX_JSON)
        if d.unconsumed_tail:
            raise ValueError("message too large")
    elif kind != b"J":
        raise ValueError("unknown frame kind")
    msg = json.loads(body.decode())
    if not isinstance(msg, dict):
        raise ValueError("not an object")
    return dict(msg)


@dataclass(frozen=True)
class SyncOptions:
    bind: str = "0.0.0.0"
    port: int = SYNC_PORT
    heartbeat: float = 2.0  # seconds between heartbeats while the peer answers
    heartbeat_timeout: float = 6.0  # no answer for this long: the peer is unreachable
    backoff_max: float = 30.0  # heartbeat interval cap while the peer does not answer
    reconnect_max: float = 5.0  # zmq reconnect interval cap


class Station(Protocol):
    """What the sync service reads and writes on this station (a fake in tests, the DB files in the worker)."""

    def config(self) -> ModuleConfig: ...
    def directory(self) -> LocalDirectory: ...
    def sip_port(self) -> int: ...
    def check_new_peer(self, peer: PeerConfig) -> list[Problem]: ...
    def save_peer(self, peer: PeerConfig) -> None: ...
    def save_directory(self, directory: RemoteDirectory) -> None: ...


class FileStation:
    """The station as its two databases: reads are fresh each time, writes go to module.db."""

    def __init__(self, mikopbx_db: Path, module_db: Path) -> None:
        self.mikopbx_db = mikopbx_db
        self.module_db = module_db

    def config(self) -> ModuleConfig:
        return read_config(self.module_db)

    def directory(self) -> LocalDirectory:
        return build_local_directory(read_snapshot(self.mikopbx_db), self.config())

    def sip_port(self) -> int:
        return read_snapshot(self.mikopbx_db).sip_port

    def check_new_peer(self, peer: PeerConfig) -> list[Problem]:
        """The errors saving `peer` would bring (for it or station-wide), as the admin form would see them."""
        plan = compute(read_snapshot(self.mikopbx_db), self.config().with_peer(replace(peer, enabled=True))).plan
        return [p for p in plan.errors if p.peer is None or p.peer.lower() == peer.name.lower()]

    def save_peer(self, peer: PeerConfig) -> None:
        upsert_peer(self.module_db, peer)

    def save_directory(self, directory: RemoteDirectory) -> None:
        write_directory(self.module_db, directory)
        config = self.config()
        peer = next((p for p in config.peers if p.name.lower() == directory.peer.lower()), None)
        if peer is not None and peer.paired and directory.patterns and peer.patterns != directory.patterns:
            # The peer's own word on its numbers; an overlap with ours is then reported by the planner.
            log.warning("peer %s changed its patterns: %s -> %s", peer.name, peer.patterns, directory.patterns)
            upsert_peer(self.module_db, replace(peer, patterns=directory.patterns))


def station_info(directory: LocalDirectory, keys: KeyPair, host: str, sip_port: int, sync_port: int) -> dict[str, Any]:
    """What one station tells the other at pairing."""
    return {"station": directory.station, "host": host, "sip_port": sip_port, "sync_port": sync_port,
            "patterns": directory.patterns, "public_key": keys.public, "module_version": directory.module_version,
            "directory": directory.to_wire()}


def _info_problems(info: object) -> str:
    """Why a peer's pairing info is unusable ('' when it is fine)."""
    if not isinstance(info, dict):
        return "no station info"
    if not is_valid_name(str(info.get("station", ""))):
        return "bad station name"
    if not is_valid_host(str(info.get("host", ""))):
        return "bad address"
    for key in ("sip_port", "sync_port"):
        if not isinstance(info.get(key), int) or not 1 <= int(info[key]) <= 65535:
            return f"bad {key}"
    try:
        parse_pattern_list(str(info.get("patterns", "")))
    except PatternError:
        return "bad patterns"
    if not is_valid_key(str(info.get("public_key", ""))):
        return "bad public key"
    return ""


def _peer_from_info(info: dict[str, Any], secret: str, note: str) -> PeerConfig:
    return PeerConfig(name=str(info["station"]), host=str(info["host"]), port=int(info["sip_port"]),
                      transport="udp", patterns=str(info["patterns"]), secret=secret, enabled=True, note=note,
                      paired=True, sync_port=int(info["sync_port"]), public_key=str(info["public_key"]))


def _major(version: str) -> str:
    return version.split(".", 1)[0]


@dataclass
class _Link:
    """Our connection to one paired peer (we push our directory over it and send heartbeats)."""

    name: str
    host: str
    port: int
    key: str
    sock: Any
    mon: Any
    created: float
    state: str = "connecting"  # connecting | up | down | key-mismatch | refused
    last_answer: float = 0.0
    next_ping: float = 0.0
    interval: float = 0.0
    stored: str | None = None  # the version of our directory the peer says it holds
    sent: str = ""  # version pushed and not yet confirmed
    module_version: str = ""
    problems: list[Problem] = field(default_factory=list)


class SyncService:
    def __init__(self, state_dir: Path, station: Station, opts: SyncOptions,
                 on_reachability: Callable[[frozenset[str]], None] | None = None) -> None:
        self.state_dir = state_dir
        self.station = station
        self.opts = opts
        self.on_reachability = on_reachability
        self.keys = load_or_create_keys(state_dir)
        self.book = InvitationBook(state_dir)
        self._ctx = zmq.Context()
        self._wake_addr = f"inproc://pbxfed-sync-{id(self)}"
        self._wake_lock = threading.Lock()
        self._wake_tx: Any = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self._links: dict[str, _Link] = {}
        self._stored: dict[str, str] = {}  # peer (lower) -> version of its directory we hold
        self._heard: dict[str, float] = {}  # peer (lower) -> last time it talked to our server
        self._server_problems: dict[str, list[Problem]] = {}
        self._nonces: dict[str, tuple[str, float]] = {}
        self._local: LocalDirectory | None = None
        self._config: ModuleConfig | None = None
        self._unreachable: frozenset[str] = frozenset()
        self._status: dict[str, Any] = {"peers": {}}
        self._status_lock = threading.Lock()
        self.ready = threading.Event()
        self.bound_port = 0
        self.counters = {"dir_sent": 0, "dir_received": 0, "bytes_sent": 0, "bytes_received": 0}

    # ---- called from other threads ----
    def start(self) -> None:
        auth = ThreadAuthenticator(self._ctx)
        auth.start()
        auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        self._auth = auth
        rx = self._ctx.socket(zmq.PAIR)
        rx.bind(self._wake_addr)
        self._wake_tx = self._ctx.socket(zmq.PAIR)
        self._wake_tx.connect(self._wake_addr)
        server = self._ctx.socket(zmq.ROUTER)
        server.curve_secretkey = self.keys.secret.encode()
        server.curve_publickey = self.keys.public.encode()
        server.curve_server = True
        server.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        server.setsockopt(zmq.LINGER, 0)
        server.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted peer takes its identity slot back
        server.bind(f"tcp://{self.opts.bind}:{self.opts.port}")
        endpoint = str(server.getsockopt_string(zmq.LAST_ENDPOINT))
        self.bound_port = int(endpoint.rsplit(":", 1)[1])
        self._thread = threading.Thread(target=self._run, args=(server, rx), name="sync", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Something may have changed (our extensions, the peers table): re-read and push. Never blocks long."""
        with self._wake_lock:
            if self._wake_tx is not None and not self._stop:
                with contextlib.suppress(zmq.ZMQError):
                    self._wake_tx.send(b"n", zmq.NOBLOCK)

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
            self._refresh(time.monotonic())
        except Exception:
            log.exception("sync: first refresh failed")
        self.ready.set()
        try:
            while not self._stop:
                poller = zmq.Poller()
                poller.register(server, zmq.POLLIN)
                poller.register(rx, zmq.POLLIN)
                for link in self._links.values():
                    poller.register(link.sock, zmq.POLLIN)
                    poller.register(link.mon, zmq.POLLIN)
                now = time.monotonic()
                due = min([link.next_ping for link in self._links.values()] + [now + 1.0])
                ready = dict(poller.poll(max(0, int((due - now) * 1000)) + 1))
                now = time.monotonic()
                if rx in ready:
                    refresh = False
                    while True:
                        try:
                            token = rx.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        if token == b"s":
                            return
                        refresh = True
                    if refresh:
                        try:
                            self._refresh(now)
                        except Exception:  # a failed read costs one refresh, never the service
                            log.exception("sync: refresh failed")
                if server in ready:
                    self._serve(server, now)
                for link in list(self._links.values()):
                    if link.mon in ready:
                        self._monitor(link, now)
                    if link.sock in ready:
                        self._answers(link, now)
                    if now >= link.next_ping:
                        self._heartbeat(link, now)
                self._publish(now)
        finally:
            for link in self._links.values():
                self._close(link)
            server.close(linger=0)
            rx.close(linger=0)

    def _refresh(self, now: float) -> None:
        config = self._config = self.station.config()
        self._stored = {d.peer.lower(): d.version for d in config.directories}
        wanted = {p.name.lower(): p for p in config.peers
                  if p.paired and p.enabled and p.public_key and p.sync_port}
        for key in list(self._links):
            link = self._links[key]
            peer = wanted.get(key)
            if peer is None or (peer.host, peer.sync_port, peer.public_key) != (link.host, link.port, link.key):
                self._close(self._links.pop(key))
        for key, peer in wanted.items():
            if key not in self._links:
                self._links[key] = self._connect(peer, now)
        local = self.station.directory()
        if self._local is None or local.version != self._local.version:
            self._local = local
            for link in self._links.values():
                if link.state == "up":
                    self._send_directory(link)

    def _connect(self, peer: PeerConfig, now: float) -> _Link:
        sock = self._ctx.socket(zmq.DEALER)
        sock.curve_secretkey = self.keys.secret.encode()
        sock.curve_publickey = self.keys.public.encode()
        sock.curve_serverkey = peer.public_key.encode()
        for opt, value in ((zmq.LINGER, 0), (zmq.IMMEDIATE, 1), (zmq.RECONNECT_IVL, 100),
                           (zmq.RECONNECT_IVL_MAX, int(self.opts.reconnect_max * 1000)),
                           (zmq.HEARTBEAT_IVL, int(self.opts.heartbeat * 1000)),
                           (zmq.HEARTBEAT_TIMEOUT, int(self.opts.heartbeat_timeout * 1000)),
                           (zmq.MAXMSGSIZE, MAX_MESSAGE), (zmq.SNDHWM, 10)):
            sock.setsockopt(opt, value)
        mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                                      | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                      | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        host = f"[{peer.host}]" if ":" in peer.host else peer.host
        sock.connect(f"tcp://{host}:{peer.sync_port}")
        return _Link(name=peer.name, host=peer.host, port=int(peer.sync_port or 0), key=peer.public_key,
                     sock=sock, mon=mon, created=now, next_ping=now + self.opts.heartbeat_timeout,
                     interval=self.opts.heartbeat)

    def _close(self, link: _Link) -> None:
        with contextlib.suppress(zmq.ZMQError):
            link.sock.disable_monitor()
        link.mon.close(linger=0)
        link.sock.close(linger=0)

    def _send(self, sock: Any, msg: dict[str, Any]) -> bool:
        frame = encode({"v": PROTOCOL, **msg})
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:  # not connected (IMMEDIATE): nothing is queued for a peer that is away
            return False
        self.counters["bytes_sent"] += len(frame)
        return True

    def _send_directory(self, link: _Link) -> None:
        assert self._local is not None
        if self._send(link.sock, {"type": "dir", "from": self._local.station, "directory": self._local.to_wire()}):
            link.sent = self._local.version
            self.counters["dir_sent"] += 1

    def _hello(self, link: _Link) -> None:
        assert self._local is not None
        self._send(link.sock, {"type": "hello", "from": self._local.station, "version": self._local.version,
                               "module_version": __version__})

    def _monitor(self, link: _Link, now: float) -> None:
        while True:
            try:
                event = parse_monitor_message(link.mon.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                link.problems = [p for p in link.problems if p.code != "E_SYNC_KEY_MISMATCH"]
                self._hello(link)  # version check on every (re)connect
            elif kind in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                          zmq.EVENT_HANDSHAKE_FAILED_AUTH):
                if link.state != "key-mismatch":
                    log.error("sync: %s at %s:%d does not hold the pinned key", link.name, link.host, link.port)
                link.state = "key-mismatch"
                link.problems = [problem("E_SYNC_KEY_MISMATCH", link.name, "public_key",
                                         value=f"{link.host}:{link.port}")]
            elif kind == zmq.EVENT_DISCONNECTED and link.state == "up":
                log.warning("sync: %s disconnected", link.name)
                link.state = "down"
                link.next_ping = now  # start the backoff from here

    def _answers(self, link: _Link, now: float) -> None:
        while True:
            try:
                frame = link.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.counters["bytes_received"] += len(frame)
            try:
                msg = decode(frame)
            except ValueError:
                continue
            kind = msg.get("type")
            if kind == "pong":
                if link.state != "up":
                    log.info("sync: %s is up", link.name)
                link.state, link.last_answer, link.interval = "up", now, self.opts.heartbeat
                link.next_ping = now + self.opts.heartbeat
                link.stored = str(msg.get("stored") or "")
                link.module_version = str(msg.get("module_version") or "")
                link.problems = []
                if link.module_version and _major(link.module_version) != _major(__version__):
                    link.problems.append(problem("W_PEER_MODULE_VERSION", link.name, "module_version",
                                                 value=link.name, other=link.module_version, limit=__version__))
                if self._local is not None and link.stored != self._local.version and link.sent != self._local.version:
                    self._send_directory(link)
                elif self._local is not None and link.stored == self._local.version:
                    link.sent = ""
            elif kind == "refused":
                code = str(msg.get("code") or "E_SYNC_UNKNOWN_KEY")
                link.state, link.last_answer = "refused", now
                params: dict[str, Any] = dict(msg["params"]) if isinstance(msg.get("params"), dict) else {}
                try:
                    link.problems = [problem(code, link.name, "sync", **params)]
                except (KeyError, IndexError):
                    link.problems = [problem("E_SYNC_UNKNOWN_KEY", link.name, "sync", value=link.name)]

    def _heartbeat(self, link: _Link, now: float) -> None:
        silent = now - max(link.last_answer, link.created)
        if link.state in ("up", "connecting") and silent > self.opts.heartbeat_timeout:
            if link.state == "up":
                log.warning("sync: %s stopped answering", link.name)
            link.state = "down"
        if link.state == "up":
            link.interval = self.opts.heartbeat
        elif link.state != "connecting":
            link.interval = min(max(link.interval * 2, self.opts.heartbeat), self.opts.backoff_max)
        assert self._local is not None
        self._send(link.sock, {"type": "ping", "from": self._local.station, "version": self._local.version})
        link.next_ping = now + link.interval

    def _publish(self, now: float) -> None:
        down = frozenset(link.name for link in self._links.values() if link.state in ("down", "key-mismatch"))
        peers = {}
        for key, link in sorted(self._links.items()):
            problems = list(link.problems) + self._server_problems.get(key, [])
            if link.state == "down":
                problems.append(problem("W_SYNC_DOWN", link.name, "sync", value=link.name))
            peers[link.name] = {
                "state": link.state, "reachable": link.state == "up", "host": link.host, "sync_port": link.port,
                "their_version_here": self._stored.get(key), "our_version_there": link.stored,
                "in_sync": self._local is not None and link.stored == self._local.version,
                "module_version": link.module_version,
                "last_answer_ago": round(now - link.last_answer, 1) if link.last_answer else None,
                "next_heartbeat_in": round(max(0.0, link.next_ping - now), 1),
                "heartbeat_interval": round(link.interval, 2),
                "problems": [p.to_json() for p in problems],
            }
        status = {"bind": self.opts.bind, "port": self.bound_port, "public_key": self.keys.public,
                  "directory_version": self._local.version if self._local else None,
                  "extensions": len(self._local.entries) if self._local else 0, "peers": peers,
                  "counters": dict(self.counters)}
        with self._status_lock:
            self._status = status
        if down != self._unreachable:
            self._unreachable = down
            if self.on_reachability is not None:
                try:
                    self.on_reachability(down)
                except Exception:
                    log.exception("sync: reachability callback failed")

    # ---- server side ----
    def _serve(self, server: Any, now: float) -> None:
        while True:
            try:
                ident, frame = server.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            except ValueError:
                continue
            self.counters["bytes_received"] += len(frame.bytes)
            user = str(frame.get("User-Id") or "")
            try:
                msg = decode(frame.bytes)
            except ValueError:
                continue
            try:
                answer = self._answer(msg, user, now)
            except Exception:  # one bad message must never stop the service
                log.exception("sync: request failed")
                answer = {"type": "error"}
            if answer is not None:
                out = encode({"v": PROTOCOL, **answer})
                self.counters["bytes_sent"] += len(out)
                with contextlib.suppress(zmq.ZMQError):
                    server.send_multipart([ident.bytes, out], zmq.NOBLOCK)

    def _refuse(self, code: str, **params: object) -> dict[str, Any]:
        return {"type": "refused", "code": code, "params": {k: str(v) for k, v in params.items()}}

    def _answer(self, msg: dict[str, Any], user: str, now: float) -> dict[str, Any] | None:
        kind = msg.get("type")
        if msg.get("v") != PROTOCOL:
            return self._refuse("E_SYNC_PROTOCOL", value=str(msg.get("from") or "?"), other=msg.get("v"),
                                limit=PROTOCOL)
        if kind == "pair-hello":
            self._nonces = {n: v for n, v in self._nonces.items() if v[1] > now}
            while len(self._nonces) >= MAX_NONCES:
                self._nonces.pop(next(iter(self._nonces)))
            nonce = secrets.token_hex(16)
            self._nonces[nonce] = (user, now + NONCE_TTL)
            return {"type": "pair-challenge", "nonce": nonce}
        if kind == "pair":
            return self._pair(msg, user, now)
        if kind not in ("hello", "ping", "dir"):
            return None
        config = self._config or self.station.config()
        peer = next((p for p in config.peers if p.paired and p.public_key == user), None)
        if peer is None:  # perhaps paired a moment ago by another process: look once more
            config = self._config = self.station.config()
            self._stored = {d.peer.lower(): d.version for d in config.directories}
            peer = next((p for p in config.peers if p.paired and p.public_key == user), None)
        claimed = str(msg.get("from") or "")
        if peer is None:
            named = next((p for p in config.peers if p.name.lower() == claimed.lower()), None)
            if named is not None:
                if named.name.lower() not in self._server_problems:  # once, not at every heartbeat
                    log.error("sync: a client claiming to be %s used a key that is not pinned for it", claimed)
                self._server_problems[named.name.lower()] = [
                    problem("E_SYNC_UNKNOWN_KEY", named.name, "public_key", value=named.name)]
            return self._refuse("E_SYNC_UNKNOWN_KEY", value=claimed or "?")
        key = peer.name.lower()
        self._server_problems.pop(key, None)
        self._heard[key] = now
        if kind == "dir":
            try:
                directory = directory_from_wire(peer.name, msg.get("directory"))
            except DirectoryError as exc:
                log.error("sync: directory from %s refused: %s", peer.name, exc)
                return {"type": "pong", "stored": self._stored.get(key), "module_version": __version__}
            if self._stored.get(key) != directory.version:
                self.station.save_directory(directory)
                self._stored[key] = directory.version
                self.counters["dir_received"] += 1
                log.info("sync: directory of %s stored (%d extensions, version %s)", peer.name,
                         len(directory.entries), directory.version)
        return {"type": "pong", "stored": self._stored.get(key), "module_version": __version__,
                "station": self._local.station if self._local else ""}

    def _pair(self, msg: dict[str, Any], user: str, now: float) -> dict[str, Any]:
        local = self._local or self.station.directory()
        invite_id, nonce, info, proof = (str(msg.get("invitation") or ""), str(msg.get("nonce") or ""),
                                         msg.get("info"), str(msg.get("proof") or ""))
        issued = self._nonces.pop(nonce, None)
        if issued is None or issued[0] != user or issued[1] < now:
            return self._refuse("E_INVITE_FORGED")
        reason = _info_problems(info)
        if reason:
            return self._refuse("E_INVITE_INVALID", reason=reason)
        assert isinstance(info, dict)
        if info["public_key"] != user:
            return self._refuse("E_INVITE_FORGED")
        try:
            mac_key = self.book.check(invite_id, local.station,
                                      lambda k: pair_proof(k, invite_id, nonce, user, info), proof)
        except InviteError as exc:
            log.warning("sync: pairing attempt by %s refused: %s", info.get("station"), exc.code)
            return self._refuse(exc.code, **exc.params)
        secret = new_trunk_secret()
        peer = _peer_from_info(info, secret, f"paired {time.strftime('%Y-%m-%d %H:%M')}")
        errors = self.station.check_new_peer(peer)
        if errors:
            return self._refuse("E_PAIR_REFUSED", value=local.station,
                                reason="; ".join(p.message("en") for p in errors))
        if not self.book.consume(invite_id, peer.name):
            return self._refuse("E_INVITE_USED", value=local.station)
        self.station.save_peer(peer)
        with contextlib.suppress(DirectoryError):
            directory = directory_from_wire(peer.name, info.get("directory"))
            self.station.save_directory(directory)
            self._stored[peer.name.lower()] = directory.version
        log.info("sync: paired with %s (%s)", peer.name, peer.host)
        answer = station_info(local, self.keys, "", self.station.sip_port(), self.bound_port)
        answer.pop("host")
        self.notify()  # connect to the new peer
        return {"type": "pair-ok", "info": answer, "secret": secret,
                "proof": answer_proof(mac_key, nonce, answer, secret)}


def accept_invitation(inv: Invitation, state_dir: Path, station: Station, *, host: str, sync_port: int,
                      timeout: float = 10.0, now: float | None = None) -> PeerConfig:
    """Pair with the inviting station: prove the secret, exchange details, store the peer and its directory.

    Raises InviteError with a problem code: E_INVITE_* (refused), E_SYNC_KEY_MISMATCH (the station does not
    hold the key in the invitation), E_SYNC_UNREACHABLE (no answer within `timeout`), E_PAIR_REFUSED.
    """
    now = time.time() if now is None else now
    if inv.expires < now:
        raise InviteError("E_INVITE_EXPIRED", value=inv.station,
                          when=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(inv.expires)))
    keys = load_or_create_keys(state_dir)
    local = station.directory()
    secret_placeholder = "x" * 32  # the real one comes from the inviting station
    precheck = station.check_new_peer(PeerConfig(name=inv.station, host=inv.host, port=inv.sip_port,
                                                 patterns=inv.patterns, secret=secret_placeholder, paired=True))
    if precheck:
        raise InviteError("E_PAIR_REFUSED", value=local.station,
                          reason="; ".join(p.message("en") for p in precheck))
    info = station_info(local, keys, host, station.sip_port(), sync_port)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.curve_secretkey = keys.secret.encode()
    sock.curve_publickey = keys.public.encode()
    sock.curve_serverkey = inv.public_key.encode()
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
    mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                  | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    address = f"{inv.host}:{inv.sync_port}"
    deadline = time.monotonic() + timeout
    try:
        sock.connect(f"tcp://{('[' + inv.host + ']') if ':' in inv.host else inv.host}:{inv.sync_port}")

        def wait_for(kind: str) -> dict[str, Any]:
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(mon, zmq.POLLIN)
            failures = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    code = "E_SYNC_KEY_MISMATCH" if failures else "E_SYNC_UNREACHABLE"
                    raise InviteError(code, value=address)
                ready = dict(poller.poll(int(left * 1000) + 1))
                if mon in ready:
                    event = parse_monitor_message(mon.recv_multipart())
                    if event["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        failures += 1
                        if failures >= 2:  # a second refusal is no accident: the key is wrong
                            raise InviteError("E_SYNC_KEY_MISMATCH", value=address)
                if sock in ready:
                    msg = decode(sock.recv())
                    if msg.get("type") == "refused":
                        params: dict[str, Any] = dict(msg["params"]) if isinstance(msg.get("params"), dict) else {}
                        raise InviteError(str(msg.get("code") or "E_PAIR_REFUSED"), **params)
                    if msg.get("type") == kind:
                        return msg

        sock.send(encode({"v": PROTOCOL, "type": "pair-hello"}))
        nonce = str(wait_for("pair-challenge").get("nonce") or "")
        proof = pair_proof(inv.mac_key, inv.id, nonce, keys.public, info)
        sock.send(encode({"v": PROTOCOL, "type": "pair", "invitation": inv.id, "nonce": nonce, "info": info,
                          "proof": proof}))
        ok = wait_for("pair-ok")
    finally:
        with contextlib.suppress(zmq.ZMQError):
            sock.disable_monitor()
        mon.close(linger=0)
        sock.close(linger=0)
        ctx.term()
    theirs, trunk = ok.get("info"), str(ok.get("secret") or "")
    if not isinstance(theirs, dict) or answer_proof(inv.mac_key, nonce, theirs, trunk) != str(ok.get("proof")):
        raise InviteError("E_INVITE_FORGED")
    theirs = {**theirs, "host": inv.host, "public_key": inv.public_key, "station": inv.station}
    reason = _info_problems(theirs)
    if reason:
        raise InviteError("E_INVITE_INVALID", reason=reason)
    peer = _peer_from_info(theirs, trunk, f"paired {time.strftime('%Y-%m-%d %H:%M')}")
    station.save_peer(peer)
    with contextlib.suppress(DirectoryError):
        station.save_directory(directory_from_wire(peer.name, theirs.get("directory")))
    return peer
