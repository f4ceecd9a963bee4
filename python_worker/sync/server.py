"""The answering side of the sync port: pairing handshakes from anyone, sync messages from paired peers only.

The ROUTER is bound with this station's key; any client may complete the CURVE handshake (a station that is
pairing has no pinned key yet), and every message is then checked against the key the ZAP handler
authenticated (`User-Id`) *before it is decoded*: a paired peer's pinned key gets the full wire limits, a key
holding a pairing challenge the pairing limits, any other key only small uncompressed frames (sync/wire.py).
Sync messages are answered only for a paired peer's pinned key. Every message is answered or dropped on its own:
a bad one costs that message, never the service.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from python_worker import __version__
from python_worker.core.config import ModuleConfig, PeerConfig
from python_worker.core.directory import DirectoryError, LocalDirectory, directory_from_wire
from python_worker.core.fields import name_key
from python_worker.core.problems import Problem, problem
from python_worker.db.engine import DatabaseError
from python_worker.logs import describe
from python_worker.statedir import LockTimeout
from python_worker.sync.messages import MessageError, checked_request, info_problems, is_current
from python_worker.sync.pairing import (
    InvitationBook,
    InviteError,
    KeyPair,
    answer_proof,
    new_trunk_secret,
    pair_proof,
    peer_from_info,
    station_info,
)
from python_worker.sync.states import FEATURE, WATCH, StatePort, read_states, read_watch, watch_version
from python_worker.sync.station import Station
from python_worker.sync.wire import PAIRING, PEER, PROTOCOL, STRANGER, Limits, WireError, decode, encode

log = logging.getLogger("pbxfed")

NONCE_TTL = 30.0
MAX_NONCES = 256  # pairing challenges outstanding at once; a flood of pair-hello drops the oldest
RELOAD_EVERY = 1.0  # an unknown key re-reads the peers table at most this often (pairing by another process)
LOG_EVERY = 10.0  # refused messages are logged at most this often (with the count since)


@dataclass
class Shared:
    """What the answering side and the links both know: the station's config and directory, and the versions
    of the peers' directories held here. Touched only on the sync thread."""

    station: Station
    config: ModuleConfig | None = None
    local: LocalDirectory | None = None
    stored: dict[str, str] = field(default_factory=dict)  # peer (name_key) -> version of its directory we hold
    # peer (name_key) -> the numbers of ours its phones watch (its last watch message; sync/states.py)
    watched: dict[str, frozenset[str]] = field(default_factory=dict)
    watch_v: dict[str, str] = field(default_factory=dict)  # peer (name_key) -> watch_version of that set
    counters: dict[str, int] = field(default_factory=lambda: {"dir_sent": 0, "dir_received": 0,
                                                               "bytes_sent": 0, "bytes_received": 0,
                                                               "refused_messages": 0})
    _reloaded: float = 0.0

    def reload_config(self) -> ModuleConfig:
        config = self.config = self.station.config()
        self.stored = {name_key(d.peer): d.version for d in config.directories}
        self._reloaded = time.monotonic()
        return config

    def paired_by_key(self, key: str, *, fresh: bool = False) -> PeerConfig | None:
        """The paired peer whose pinned key is `key`; `fresh` re-reads the peers table (at most once a second)."""
        if self.config is None or (fresh and time.monotonic() - self._reloaded >= RELOAD_EVERY):
            self.reload_config()
        config = self.config
        assert config is not None
        return next((p for p in config.peers if p.paired and p.public_key and p.public_key == key), None)


def _refuse(code: str, **params: object) -> dict[str, Any]:
    return {"type": "refused", "code": code, "params": {k: str(v)[:500] for k, v in params.items()}}


class SyncServer:
    def __init__(self, shared: Shared, keys: KeyPair, book: InvitationBook, bound_port: Callable[[], int],
                 paired: Callable[[], None]) -> None:
        self.shared = shared
        self.keys = keys
        self.book = book
        self.bound_port = bound_port
        self.paired = paired  # called after a pairing stored a new peer (connect to it)
        self.problems: dict[str, list[Problem]] = {}  # peer (name_key) -> what its clients did wrong
        self.heard: dict[str, float] = {}  # peer (name_key) -> last time it talked to our server
        self._nonces: dict[str, tuple[str, float]] = {}
        self._logged = 0.0
        self._unlogged = 0
        self.port: StatePort | None = None  # set when the worker carries device states (sync/states.py)

    def serve(self, server: Any, now: float) -> None:
        """Answer everything waiting on the ROUTER socket, one message at a time."""
        while True:
            try:
                parts = server.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                self._one(server, parts, now)
            except Exception as exc:  # one bad message must never stop the service
                self._refused(f"request failed: {describe(exc)}")

    def limits_for(self, user: str, now: float) -> Limits:
        """What a frame from `user` (the CURVE key the handshake authenticated) may be, decided before decoding."""
        if user and self.shared.paired_by_key(user) is not None:
            return PEER
        if any(u == user and expiry > now for u, expiry in self._nonces.values()):
            return PAIRING
        return STRANGER

    def _one(self, server: Any, parts: list[Any], now: float) -> None:
        counters = self.shared.counters
        if len(parts) != 2:  # ROUTER: the client's identity and one frame; anything else is not ours
            self._refused(f"a message of {len(parts)} frames")
            return
        ident, frame = parts
        counters["bytes_received"] += len(frame.bytes)
        user = str(frame.get("User-Id") or "")
        limits = self.limits_for(user, now)
        try:
            msg = decode(frame.bytes, limits)
            answer = self.answer(msg, user, now)
        except (WireError, MessageError) as exc:
            self._refused(str(exc))
            # a stranger learns only that its key is not known here; a known key why its message was refused
            answer = (_refuse("E_SYNC_UNKNOWN_KEY", value="?") if limits is STRANGER
                      else _refuse("E_REQUEST_INVALID", reason=str(exc)))
        if answer is not None:
            out = encode({"v": PROTOCOL, **answer})
            counters["bytes_sent"] += len(out)
            with contextlib.suppress(zmq.ZMQError):
                server.send_multipart([ident.bytes, out], zmq.NOBLOCK)

    def _refused(self, why: str) -> None:
        self.shared.counters["refused_messages"] += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY:  # a flood of bad messages must not flood the log
            log.warning("sync: refused %d message(s); the last: %s", self._unlogged, why[:200])
            self._logged, self._unlogged = now, 0

    def answer(self, msg: dict[str, Any], user: str, now: float) -> dict[str, Any] | None:
        if not is_current(msg):
            return _refuse("E_SYNC_PROTOCOL", value=str(msg.get("from") or "?")[:40], other=str(msg.get("v"))[:20],
                           limit=PROTOCOL)
        kind = checked_request(msg)
        if kind == "pair-hello":
            self._nonces = {n: v for n, v in self._nonces.items() if v[1] > now}
            while len(self._nonces) >= MAX_NONCES:
                self._nonces.pop(next(iter(self._nonces)))
            nonce = secrets.token_hex(16)
            self._nonces[nonce] = (user, now + NONCE_TTL)
            return {"type": "pair-challenge", "nonce": nonce}
        if kind == "pair":
            return self._pair(msg, user, now)
        shared = self.shared
        peer = shared.paired_by_key(user) or shared.paired_by_key(user, fresh=True)  # paired a moment ago?
        if peer is None:
            return self._unknown_key(str(msg["from"]))
        key = name_key(peer.name)
        self.problems.pop(key, None)
        self.heard[key] = now
        if kind == "states":  # pipelined: no answer
            if self.port is not None:
                try:
                    full, states = read_states(msg)
                except ValueError as exc:
                    log.error("sync: states from %s refused: %s", peer.name, exc)
                    return None
                shared.counters["states_received"] = shared.counters.get("states_received", 0) + len(states)
                self.port.on_remote(peer.name, full, states)
            return None
        if kind == "watch":  # pipelined: no answer; the next pong echoes its version
            if self.port is not None:
                try:
                    numbers = read_watch(msg)
                except ValueError as exc:
                    log.error("sync: watch list from %s refused: %s", peer.name, exc)
                    return None
                shared.watched[key], shared.watch_v[key] = numbers, watch_version(numbers)
                shared.counters["watch_received"] = shared.counters.get("watch_received", 0) + 1
            return None
        if kind == "dir":
            try:
                directory = directory_from_wire(peer.name, msg["directory"])
            except DirectoryError as exc:
                log.error("sync: directory from %s refused: %s", peer.name, exc)
                return self._pong(key)
            if shared.stored.get(key) != directory.version:
                shared.station.save_directory(directory)
                shared.stored[key] = directory.version
                shared.counters["dir_received"] += 1
                log.info("sync: directory of %s stored (%d extensions, version %s)", peer.name,
                         len(directory.entries), directory.version)
        return self._pong(key)

    def _pong(self, key: str) -> dict[str, Any]:
        shared = self.shared
        pong = {"type": "pong", "stored": shared.stored.get(key), "module_version": __version__,
                "station": shared.local.station if shared.local else "",
                "features": [FEATURE, WATCH] if self.port is not None else []}
        if key in shared.watch_v:
            pong["watch_v"] = shared.watch_v[key]
        return pong

    def _unknown_key(self, claimed: str) -> dict[str, Any]:
        config = self.shared.config or self.shared.reload_config()
        named = config.peer(claimed)
        if named is not None:
            key = name_key(named.name)
            if key not in self.problems:  # once, not at every heartbeat
                log.error("sync: a client claiming to be %s used a key that is not pinned for it", named.name)
            self.problems[key] = [problem("E_SYNC_UNKNOWN_KEY", named.name, "public_key", value=named.name)]
        return _refuse("E_SYNC_UNKNOWN_KEY", value=claimed or "?")

    def _pair(self, msg: dict[str, Any], user: str, now: float) -> dict[str, Any]:
        shared = self.shared
        local = shared.local or shared.station.directory()
        invite_id, nonce, info, proof = msg["invitation"], msg["nonce"], msg["info"], msg["proof"]
        issued = self._nonces.pop(nonce, None)
        if issued is None or issued[0] != user or issued[1] < now:
            return _refuse("E_INVITE_FORGED")
        reason = info_problems(info)
        if reason:
            return _refuse("E_INVITE_INVALID", reason=reason)
        if info["public_key"] != user:
            return _refuse("E_INVITE_FORGED")
        try:
            mac_key = self.book.check(invite_id, local.station, lambda k: pair_proof(k, invite_id, nonce, user, info),
                                      proof)
        except InviteError as exc:
            log.warning("sync: pairing attempt by %s refused: %s", info.get("station"), exc.code)
            return _refuse(exc.code, **exc.params)
        secret = new_trunk_secret()
        peer = peer_from_info(info, secret)
        try:
            errors = shared.station.check_new_peer(peer)
            if errors:
                return _refuse("E_PAIR_REFUSED", value=local.station,
                               reason="; ".join(p.message("en") for p in errors[:5]))
            # A row made by hand for that station may already grant it transit: pairing carries the grant at once.
            mine = local.for_peer(shared.station.grants().get(name_key(peer.name), ""))
            answer = station_info(mine, self.keys, "", shared.station.sip_port(), self.bound_port())
            answer.pop("host")
            if not self.book.use(invite_id, peer.name, lambda: shared.station.save_peer(peer)):
                return _refuse("E_INVITE_USED", value=local.station)
        except (DatabaseError, LockTimeout, OSError) as exc:  # nothing stored, the invitation stays valid
            reason = ("database busy" if getattr(exc, "code", "") == "E_DB_BUSY" or isinstance(exc, LockTimeout)
                      else "database damaged" if isinstance(exc, DatabaseError) else "state files not written")
            log.error("sync: pairing with %s not stored: %s", peer.name, reason)
            return _refuse("E_PAIR_FAILED", value=local.station, reason=reason)
        with contextlib.suppress(DirectoryError, DatabaseError):
            directory = directory_from_wire(peer.name, info.get("directory"))
            shared.station.save_directory(directory)
            shared.stored[name_key(peer.name)] = directory.version
        log.info("sync: paired with %s (%s)", peer.name, peer.host)
        self.paired()
        return {"type": "pair-ok", "info": answer, "secret": secret,
                "proof": answer_proof(mac_key, nonce, answer, secret)}
