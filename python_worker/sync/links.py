"""Our connection to one paired peer: a CURVE DEALER with the peer's key pinned, its heartbeats and its state.

We push our directory over it and ping it. Whether the peer is there is libzmq's to tell: its ZMTP heartbeats, sent
by its I/O thread every `heartbeat` seconds, drop the connection when nothing comes back for `heartbeat_timeout`,
and the link reads down at that disconnect. Our own pings (answered by a pong with the versions the peer holds)
go every `keepalive` seconds while the peer answers, and a peer whose pongs stop for `keepalive +
heartbeat_timeout` (a hung worker behind a live socket) reads down too; while it does not answer they back off
(doubling from `heartbeat` up to `backoff_max`). zmq's own reconnects back off up to `reconnect_max`, and a connect
attempt that gets no answer is given up after `connect_timeout` (else a cut link would be retried only at the
kernel's SYN back-off, up to minutes). When the worker carries device states (sync/states.py) the link
sends them too: every one after each handshake, then each change (a change of a number the peer's phones do not
watch waits, coalesced, up to TRICKLE_S), and tells the peer which of its numbers our phones watch. Changes sent at
once are followed NUDGE_S later by the latest changes sent again: over a lossy WAN a lone segment that is lost waits
for TCP's tail-loss probe (2 SRTT + the 200 ms minimum RTO: ~300 ms at 50 ms RTT), one with a segment behind it is
retransmitted as soon as that one is acknowledged out of order (about one RTT). A station that
answers with another key fails the handshake (reported, never trusted).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from python_worker import SYNC_PORT, __version__
from python_worker.core.config import PeerConfig
from python_worker.core.directory import LocalDirectory
from python_worker.core.fields import name_key
from python_worker.core.problems import Problem, problem
from python_worker.sync.messages import MessageError, checked_answer, refusal
from python_worker.sync.pairing import KeyPair
from python_worker.sync.states import (
    FEATURE,
    NUDGE_S,
    TRICKLE_S,
    WATCH,
    StatePort,
    states_message,
    watch_message,
    watch_version,
)
from python_worker.sync.wire import MAX_MESSAGE, PEER, PROTOCOL, WireError, decode, encode

log = logging.getLogger("pbxfed")

_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                     zmq.EVENT_HANDSHAKE_FAILED_AUTH)


@dataclass(frozen=True)
class SyncOptions:
    bind: str = "0.0.0.0"
    port: int = SYNC_PORT
    # A dead peer's lamps must read Unavailable within 3 s (issue 14): a ZMTP heartbeat every 0.5 s, unreachable
    # after 1.5 s without an answer (a lost segment costs TCP one retransmission, ~0.2-0.3 s at 50 ms RTT). Our
    # pings, in Python at both ends and one more message each way per peer, go far less often: at 0.5 s they were
    # nearly all of an idle worker's CPU on a ten-station mesh (docs/performance.md).
    heartbeat: float = 0.5  # seconds between ZMTP heartbeats; the first retry while the peer does not answer
    heartbeat_timeout: float = 1.5  # nothing back for this long after a ZMTP heartbeat: the peer is unreachable
    keepalive: float = 5.0  # seconds between our pings while the peer answers
    backoff_max: float = 30.0  # heartbeat interval cap while the peer does not answer
    reconnect_max: float = 2.0  # zmq reconnect interval cap
    connect_timeout: float = 2.0  # a TCP connect without an answer is given up (and retried) after this long


def major(version: str) -> str:
    return version.split(".", 1)[0]


def source_of(bind: str, host: str) -> str:
    """`<our address>:0;` when the service is bound to one IPv4 address and the peer is IPv4: the connection then
    leaves from the address the peer's firewall rule and trunk know (a multi-homed box or loopback would pick
    another one); '' otherwise (the system chooses)."""
    def v4(a: str) -> bool:
        parts = a.split(".")
        return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
    if bind in ("", "0.0.0.0") or not v4(bind) or not v4(host):
        return ""
    return f"{bind}:0;"


@dataclass
class Link:
    name: str
    host: str
    port: int
    key: str
    sock: Any
    mon: Any
    created: float
    counters: dict[str, int]
    state: str = "connecting"  # connecting | up | down | key-mismatch | refused
    last_answer: float = 0.0
    next_ping: float = 0.0
    interval: float = 0.0
    stored: str | None = None  # the version of our directory the peer says it holds
    sent: str = ""  # version pushed and not yet confirmed
    module_version: str = ""
    problems: list[Problem] = field(default_factory=list)
    directory: LocalDirectory | None = None  # ours as this peer gets it: with what we grant it (transit)
    connected: bool = False  # between a handshake and the next disconnect
    features: frozenset[str] | None = None  # what the peer's worker said it does (None: no answer yet)
    peer_key: str = ""  # name_key(name): how our server files what this peer tells it
    states_full: bool = True  # the whole state map is due at the next chance (after every handshake)
    states_pending: dict[str, str] = field(default_factory=dict)  # changes due at once
    states_later: dict[str, str] = field(default_factory=dict)  # changes of numbers the peer does not watch
    next_trickle: float = 0.0  # when states_later goes
    tail: dict[str, Any] | None = None  # the last changes sent at once, sent again at nudge_at (none: nothing due)
    nudge_at: float = float("inf")
    watch_seen: frozenset[str] | None = None  # the peer's watch set as last applied here (None: never told)
    watch_there: str | None = None  # the version of our watch set the peer says it holds (its last pong)
    watch_sent: str = ""  # the version of our watch set sent since that pong
    _watch_of: frozenset[str] | None = None  # the watch set last offered, and its version
    _watch_v: str = ""

    @staticmethod
    def open(ctx: Any, keys: KeyPair, peer: PeerConfig, opts: SyncOptions, now: float,
             counters: dict[str, int]) -> Link:
        sock = ctx.socket(zmq.DEALER)
        sock.curve_secretkey = keys.secret.encode()
        sock.curve_publickey = keys.public.encode()
        sock.curve_serverkey = peer.public_key.encode()
        for opt, value in ((zmq.LINGER, 0), (zmq.IMMEDIATE, 1), (zmq.RECONNECT_IVL, 100),
                           (zmq.RECONNECT_IVL_MAX, int(opts.reconnect_max * 1000)),
                           (zmq.CONNECT_TIMEOUT, int(opts.connect_timeout * 1000)),
                           (zmq.HEARTBEAT_IVL, int(opts.heartbeat * 1000)),
                           (zmq.HEARTBEAT_TIMEOUT, int(opts.heartbeat_timeout * 1000)),
                           (zmq.MAXMSGSIZE, MAX_MESSAGE), (zmq.SNDHWM, 10)):
            sock.setsockopt(opt, value)
        mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                                      | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                      | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        host = f"[{peer.host}]" if ":" in peer.host else peer.host
        sock.connect(f"tcp://{source_of(opts.bind, peer.host)}{host}:{peer.sync_port}")
        return Link(name=peer.name, host=peer.host, port=int(peer.sync_port or 0), key=peer.public_key,
                    sock=sock, mon=mon, created=now, counters=counters, next_ping=now + opts.heartbeat_timeout,
                    interval=opts.heartbeat, peer_key=name_key(peer.name))

    def matches(self, peer: PeerConfig) -> bool:
        return (peer.host, peer.sync_port, peer.public_key) == (self.host, self.port, self.key)

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.sock.disable_monitor()
        self.mon.close(linger=0)
        self.sock.close(linger=0)

    def send(self, msg: dict[str, Any]) -> bool:
        frame = encode({"v": PROTOCOL, **msg})
        try:
            self.sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:  # not connected (IMMEDIATE): nothing is queued for a peer that is away
            return False
        self.counters["bytes_sent"] += len(frame)
        return True

    def send_directory(self, local: LocalDirectory) -> None:
        if self.send({"type": "dir", "from": local.station, "directory": local.to_wire()}):
            self.sent = local.version
            self.counters["dir_sent"] += 1

    def on_monitor(self, local: LocalDirectory, now: float) -> None:
        """Handshake and connection events."""
        while True:
            try:
                event = parse_monitor_message(self.mon.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.problems = [p for p in self.problems if p.code != "E_SYNC_KEY_MISMATCH"]
                self.connected = True
                self.states_full = True  # whatever was in flight on the old connection may be lost
                self.tail, self.nudge_at = None, float("inf")
                # version check on every (re)connect
                self.send({"type": "hello", "from": local.station, "version": local.version,
                           "module_version": __version__})
            elif kind in _HANDSHAKE_FAILED:
                if self.state != "key-mismatch":
                    log.error("sync: %s at %s:%d does not hold the pinned key", self.name, self.host, self.port)
                self.state = "key-mismatch"
                self.problems = [problem("E_SYNC_KEY_MISMATCH", self.name, "public_key",
                                         value=f"{self.host}:{self.port}")]
            elif kind == zmq.EVENT_DISCONNECTED:
                self.connected = False
                self.states_full = True
                self.tail, self.nudge_at = None, float("inf")
                if self.state == "up":
                    log.warning("sync: %s disconnected", self.name)
                    self.state = "down"
                    self.next_ping, self.interval = now, 0.0  # start the backoff from here

    def on_answers(self, local: LocalDirectory | None, opts: SyncOptions, now: float) -> None:
        """The peer's answers: pongs (it is up; it holds our directory's version ...), refusals."""
        while True:
            try:
                frame = self.sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.counters["bytes_received"] += len(frame)
            try:  # the peer's key is pinned (the handshake checked it), so its frames get the peer limits
                msg = decode(frame, PEER)
                kind = checked_answer(msg)
            except (WireError, MessageError) as exc:
                log.warning("sync: a bad answer from %s dropped: %s", self.name, exc)
                continue
            if kind == "pong":
                self._pong(msg, local, opts, now)
            elif kind == "refused":
                code, params = refusal(msg)
                self.state, self.last_answer = "refused", now
                try:
                    self.problems = [problem(code, self.name, "sync", **params)]
                    self.problems[0].message("en")  # its params fill the template
                except (KeyError, IndexError, ValueError):
                    self.problems = [problem("E_SYNC_UNKNOWN_KEY", self.name, "sync", value=self.name)]

    def _pong(self, msg: dict[str, Any], local: LocalDirectory | None, opts: SyncOptions, now: float) -> None:
        if self.state != "up":
            log.info("sync: %s is up", self.name)
            # The peer's server answers us, so it knows our key now: a whole map sent before (right after a
            # pairing, before it had stored us, or across a missed heartbeat) may have been dropped. Send it again.
            self.states_full = True
        self.state, self.last_answer, self.interval = "up", now, opts.keepalive
        self.next_ping = now + opts.keepalive
        self.stored = str(msg.get("stored") or "")
        there = msg.get("watch_v")
        self.watch_there = there if isinstance(there, str) else None
        if self.watch_there != self.watch_sent:
            self.watch_sent = ""  # lost, or the peer restarted: sent again at the next chance
        self.module_version = str(msg.get("module_version") or "")
        raw = msg.get("features")
        self.features = frozenset(str(f) for f in raw) if isinstance(raw, list) else frozenset()
        self.problems = []
        if self.module_version and major(self.module_version) != major(__version__):
            self.problems.append(problem("W_PEER_MODULE_VERSION", self.name, "module_version",
                                         value=self.name, other=self.module_version, limit=__version__))
        if local is not None and self.stored != local.version and self.sent != local.version:
            self.send_directory(local)
        elif local is not None and self.stored == local.version:
            self.sent = ""

    def heartbeat(self, local: LocalDirectory, opts: SyncOptions, now: float) -> None:
        silent = now - max(self.last_answer, self.created)
        # A peer that refused us (it had not stored our key yet, right after a pairing) and then falls silent is as
        # dead as one that answered: its lamps must read Unavailable too. One that answers is pinged every
        # keepalive seconds (its liveness in between is the ZMTP heartbeats').
        limit = opts.heartbeat_timeout + (opts.keepalive if self.state == "up" else 0.0)
        if self.state in ("up", "connecting", "refused") and silent > limit:
            if self.state == "up":
                log.warning("sync: %s stopped answering", self.name)
                self.interval = 0.0  # the backoff starts from `heartbeat`
            self.state = "down"
        if self.state == "up":
            self.interval = opts.keepalive
        elif self.state != "connecting":
            self.interval = min(max(self.interval * 2, opts.heartbeat), opts.backoff_max)
        self.send({"type": "ping", "from": local.station, "version": local.version})
        self.next_ping = now + self.interval

    @property
    def is_down(self) -> bool:
        return self.state in ("down", "key-mismatch")

    @property
    def is_legacy(self) -> bool:
        """The peer's worker answered without carrying device states (an older module, or no AMI there)."""
        return self.features is not None and FEATURE not in self.features

    def queue_states(self, changes: dict[str, str], watched: frozenset[str] | None) -> None:
        """Our changes for this peer: at once for a number it watches (every number, while it has not said what
        it watches), else at the next trickle. The latest state of a number wins."""
        if self.states_full:
            return
        for number, state in changes.items():
            if watched is None or number in watched:
                self.states_pending[number] = state
                self.states_later.pop(number, None)
            else:
                self.states_later[number] = state

    def flush_states(self, port: StatePort, station: str, now: float, watched: frozenset[str] | None) -> None:
        """Send what is due while connected: the whole map after a handshake, else the changes queued, the current
        state of numbers the peer has just started to watch, and every TRICKLE_S the coalesced rest. A send that
        fails (not connected, queue full) makes the whole map due again: nothing is lost, nothing is replayed."""
        if not self.connected:
            self.states_full = True
            self.states_pending, self.states_later = {}, {}
            self.tail, self.nudge_at = None, float("inf")
            return
        if self.states_full:
            snapshot = port.own_snapshot()
            if snapshot is None:
                return  # Asterisk not read yet: sent as soon as it is
            if self.send(states_message(station, True, snapshot)):
                self.tail, self.nudge_at = None, float("inf")  # the map is newer than any change sent before it
                self.states_full, self.states_pending, self.states_later = False, {}, {}
                self.watch_seen, self.next_trickle = watched, now + TRICKLE_S
                self.counters["states_sent"] = self.counters.get("states_sent", 0) + len(snapshot)
            return
        if watched is not None and watched is not self.watch_seen and watched != self.watch_seen:
            added = watched - self.watch_seen if self.watch_seen is not None else frozenset()
            self.watch_seen = watched
            snapshot = port.own_snapshot() if added else None
            for number in sorted(added):  # a phone there has just started to watch it: its state now
                self.states_later.pop(number, None)
                if snapshot is not None and number in snapshot:
                    self.states_pending[number] = snapshot[number]
        urgent = bool(self.states_pending)
        batches = [self.states_pending]
        if self.states_later and now >= self.next_trickle:
            batches.append(self.states_later)
            self.states_later, self.next_trickle = {}, now + TRICKLE_S
        self.states_pending = {}
        for batch in batches:
            if not batch:
                continue
            msg = states_message(station, False, batch)
            if self.send(msg):
                self.counters["states_sent"] = self.counters.get("states_sent", 0) + len(batch)
                self.tail = msg  # always the latest changes: sending it again can never undo a newer one
            else:
                self.states_full = True
                return
        if urgent:
            self.nudge_at = now + NUDGE_S

    def nudge(self, now: float) -> None:
        """The last changes sent at once, again (see the module's doc): the receiver sets each state once."""
        if self.tail is None or now < self.nudge_at:
            return
        if self.connected and self.send(self.tail):
            self.counters["states_nudged"] = self.counters.get("states_nudged", 0) + 1
        self.tail, self.nudge_at = None, float("inf")

    def offer_watch(self, station: str, numbers: frozenset[str] | None) -> None:
        """Tell the peer which of its numbers our phones watch, when that changed or it does not hold it (its pong
        says which version it holds); only to a peer whose worker filters by it."""
        if numbers is None or not self.connected or self.state != "up" or self.features is None \
                or WATCH not in self.features:
            return
        if numbers is not self._watch_of:  # the loop turns ~40 times a second; the set changes seldom
            self._watch_of, self._watch_v = numbers, watch_version(numbers)
        version = self._watch_v
        if version in (self.watch_there, self.watch_sent):
            return
        if self.send(watch_message(station, numbers)):
            self.watch_sent = version
            self.counters["watch_sent"] = self.counters.get("watch_sent", 0) + 1

    def status(self, now: float, theirs_here: str | None, local: LocalDirectory | None,
               server_problems: list[Problem]) -> dict[str, Any]:
        problems = list(self.problems) + server_problems
        if self.state == "down":
            problems.append(problem("W_SYNC_DOWN", self.name, "sync", value=self.name))
        return {
            "state": self.state, "reachable": self.state == "up", "host": self.host, "sync_port": self.port,
            "their_version_here": theirs_here, "our_version_there": self.stored,
            "in_sync": local is not None and self.stored == local.version,
            "module_version": self.module_version,
            "last_answer_ago": round(now - self.last_answer, 1) if self.last_answer else None,
            "next_heartbeat_in": round(max(0.0, self.next_ping - now), 1),
            "heartbeat_interval": round(self.interval, 2),
            "carries_states": None if self.features is None else FEATURE in self.features,
            "problems": [p.to_json() for p in problems],
        }
