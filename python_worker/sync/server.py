"""The answering side of the sync port: pairing handshakes from anyone, sync messages from paired peers only.

The ROUTER is bound with this station's key; any client may complete the CURVE handshake (a station that is
pairing has no pinned key yet), and every message is then checked against the key the ZAP handler
authenticated (`User-Id`): sync messages are answered only for a paired peer's pinned key.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from python_worker import __version__
from python_worker.core.config import ModuleConfig, PeerConfig
from python_worker.core.directory import DirectoryError, LocalDirectory, directory_from_wire
from python_worker.core.problems import Problem, problem
from python_worker.sync.pairing import (
    InvitationBook,
    InviteError,
    KeyPair,
    answer_proof,
    info_problems,
    new_trunk_secret,
    pair_proof,
    peer_from_info,
    station_info,
)
from python_worker.sync.states import FEATURE, StatePort, read_states
from python_worker.sync.station import Station
from python_worker.sync.wire import PROTOCOL, decode, encode

log = logging.getLogger("pbxfed")

NONCE_TTL = 30.0
MAX_NONCES = 256  # pairing challenges outstanding at once; a flood of pair-hello drops the oldest


@dataclass
class Shared:
    """What the answering side and the links both know: the station's config and directory, and the versions
    of the peers' directories held here. Touched only on the sync thread."""

    station: Station
    config: ModuleConfig | None = None
    local: LocalDirectory | None = None
    stored: dict[str, str] = field(default_factory=dict)  # peer (lower) -> version of its directory we hold
    counters: dict[str, int] = field(default_factory=lambda: {"dir_sent": 0, "dir_received": 0,
                                                               "bytes_sent": 0, "bytes_received": 0})

    def reload_config(self) -> ModuleConfig:
        config = self.config = self.station.config()
        self.stored = {d.peer.lower(): d.version for d in config.directories}
        return config

    def paired_by_key(self, key: str) -> PeerConfig | None:
        config = self.config or self.station.config()
        return next((p for p in config.peers if p.paired and p.public_key == key), None)


def _refuse(code: str, **params: object) -> dict[str, Any]:
    return {"type": "refused", "code": code, "params": {k: str(v) for k, v in params.items()}}


class SyncServer:
    def __init__(self, shared: Shared, keys: KeyPair, book: InvitationBook, bound_port: Callable[[], int],
                 paired: Callable[[], None]) -> None:
        self.shared = shared
        self.keys = keys
        self.book = book
        self.bound_port = bound_port
        self.paired = paired  # called after a pairing stored a new peer (connect to it)
        self.problems: dict[str, list[Problem]] = {}  # peer (lower) -> what its clients did wrong
        self.heard: dict[str, float] = {}  # peer (lower) -> last time it talked to our server
        self._nonces: dict[str, tuple[str, float]] = {}
        self.port: StatePort | None = None  # set when the worker carries device states (sync/states.py)

    def serve(self, server: Any, now: float) -> None:
        """Answer everything waiting on the ROUTER socket."""
        counters = self.shared.counters
        while True:
            try:
                ident, frame = server.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            except ValueError:
                continue
            counters["bytes_received"] += len(frame.bytes)
            user = str(frame.get("User-Id") or "")
            try:
                msg = decode(frame.bytes)
            except ValueError:
                continue
            try:
                answer = self.answer(msg, user, now)
            except Exception:  # one bad message must never stop the service
                log.exception("sync: request failed")
                answer = {"type": "error"}
            if answer is not None:
                out = encode({"v": PROTOCOL, **answer})
                counters["bytes_sent"] += len(out)
                with contextlib.suppress(zmq.ZMQError):
                    server.send_multipart([ident.bytes, out], zmq.NOBLOCK)

    def answer(self, msg: dict[str, Any], user: str, now: float) -> dict[str, Any] | None:
        kind = msg.get("type")
        if msg.get("v") != PROTOCOL:
            return _refuse("E_SYNC_PROTOCOL", value=str(msg.get("from") or "?"), other=msg.get("v"), limit=PROTOCOL)
        if kind == "pair-hello":
            self._nonces = {n: v for n, v in self._nonces.items() if v[1] > now}
            while len(self._nonces) >= MAX_NONCES:
                self._nonces.pop(next(iter(self._nonces)))
            nonce = secrets.token_hex(16)
            self._nonces[nonce] = (user, now + NONCE_TTL)
            return {"type": "pair-challenge", "nonce": nonce}
        if kind == "pair":
            return self._pair(msg, user, now)
        if kind not in ("hello", "ping", "dir", "states"):
            return None
        shared = self.shared
        peer = shared.paired_by_key(user)
        if peer is None:  # perhaps paired a moment ago by another process: look once more
            shared.reload_config()
            peer = shared.paired_by_key(user)
        if peer is None:
            return self._unknown_key(str(msg.get("from") or ""))
        key = peer.name.lower()
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
        if kind == "dir":
            try:
                directory = directory_from_wire(peer.name, msg.get("directory"))
            except DirectoryError as exc:
                log.error("sync: directory from %s refused: %s", peer.name, exc)
                return {"type": "pong", "stored": shared.stored.get(key), "module_version": __version__,
                        "features": [FEATURE] if self.port is not None else []}
            if shared.stored.get(key) != directory.version:
                shared.station.save_directory(directory)
                shared.stored[key] = directory.version
                shared.counters["dir_received"] += 1
                log.info("sync: directory of %s stored (%d extensions, version %s)", peer.name,
                         len(directory.entries), directory.version)
        return {"type": "pong", "stored": shared.stored.get(key), "module_version": __version__,
                "station": shared.local.station if shared.local else "",
                "features": [FEATURE] if self.port is not None else []}

    def _unknown_key(self, claimed: str) -> dict[str, Any]:
        config = self.shared.config or self.shared.station.config()
        named = next((p for p in config.peers if p.name.lower() == claimed.lower()), None)
        if named is not None:
            if named.name.lower() not in self.problems:  # once, not at every heartbeat
                log.error("sync: a client claiming to be %s used a key that is not pinned for it", claimed)
            self.problems[named.name.lower()] = [problem("E_SYNC_UNKNOWN_KEY", named.name, "public_key",
                                                         value=named.name)]
        return _refuse("E_SYNC_UNKNOWN_KEY", value=claimed or "?")

    def _pair(self, msg: dict[str, Any], user: str, now: float) -> dict[str, Any]:
        shared = self.shared
        local = shared.local or shared.station.directory()
        invite_id, nonce, info, proof = (str(msg.get("invitation") or ""), str(msg.get("nonce") or ""),
                                         msg.get("info"), str(msg.get("proof") or ""))
        issued = self._nonces.pop(nonce, None)
        if issued is None or issued[0] != user or issued[1] < now:
            return _refuse("E_INVITE_FORGED")
        reason = info_problems(info)
        if reason:
            return _refuse("E_INVITE_INVALID", reason=reason)
        assert isinstance(info, dict)
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
        errors = shared.station.check_new_peer(peer)
        if errors:
            return _refuse("E_PAIR_REFUSED", value=local.station, reason="; ".join(p.message("en") for p in errors))
        if not self.book.consume(invite_id, peer.name):
            return _refuse("E_INVITE_USED", value=local.station)
        shared.station.save_peer(peer)
        with contextlib.suppress(DirectoryError):
            directory = directory_from_wire(peer.name, info.get("directory"))
            shared.station.save_directory(directory)
            shared.stored[peer.name.lower()] = directory.version
        log.info("sync: paired with %s (%s)", peer.name, peer.host)
        answer = station_info(local, self.keys, "", shared.station.sip_port(), self.bound_port())
        answer.pop("host")
        self.paired()
        return {"type": "pair-ok", "info": answer, "secret": secret,
                "proof": answer_proof(mac_key, nonce, answer, secret)}
