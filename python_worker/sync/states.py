"""Device states on the sync channel: the message, and the port through which the sync thread meets Asterisk.

A link sends `{"type": "states", "full": bool, "states": {number: device state}}` to its peer's server: the full map
after every handshake (so nothing missed while the link was down stays wrong), then each batch of changes, pipelined
(no answer; TCP keeps them in order). The server checks the map (core/devstates.py `valid_states`) and hands it to the
port with the name of the paired peer its CURVE key belongs to: a peer can only ever set its own lamps. When a link
goes down the port is told, and the peer's lamps read Unavailable; when it answers again the port is told too. The
port is the AMI side of the worker (service/devstate.py); the sync service only calls it.

Interest (`watch`): a receiver tells each peer which of its numbers a phone here watches (the hints Asterisk made
from the peer's pattern hint when a phone subscribed: service/devstate.py reads them). The sender then sends a
change of a watched number at once and coalesces the others, sending them every TRICKLE_S seconds: at ten stations
98 % of the states set nobody's lamp (bench/bench_busy_cpu.py). A newly watched number's current state goes out at
once; the whole map still goes after every handshake, so an outage heals and a dead peer's lamps still read
Unavailable. A peer that never said what it watches (an older worker, or Asterisk not read yet) gets every change
at once, as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from python_worker.core.devstates import MAX_STATES, is_number, valid_states

FEATURE = "states"  # announced in hello and pong by a worker that carries device states
WATCH = "watch"  # announced too by a worker that says which numbers it watches (and filters by what it is told)
# Changes of numbers nobody watches on a peer wait at most this long, coalesced (the last state of each number): so
# every carried state is right within TRICKLE_S + one trip, and what a lamp shows at the moment a phone starts
# watching it is at most that old (then it is live once the watch is seen, service/devstate.WATCH_POLL_S). In a
# busy hour a number changes 2-3 times per call within a few seconds: the receiver sets fewer states, and each
# peer gets one message per TRICKLE_S instead of one per change.
TRICKLE_S = 2.0
# A change sent at once is sent again this long after (sync/links.py), unless another followed it, so that its segment
# is not the last one in flight: long enough for the two to leave as two segments, short against one RTT.
NUDGE_S = 0.005


class StatePort(Protocol):
    """What the sync thread asks of the worker's AMI side (every method is quick and thread-safe)."""

    def own_snapshot(self) -> Mapping[str, str] | None:
        """Every own number's state, or None while Asterisk has not been read yet."""
        ...

    def take_own_changes(self) -> dict[str, str]:
        """The own states changed since the last call."""
        ...

    def on_remote(self, peer: str, full: bool, states: Mapping[str, str]) -> None:
        """States a paired peer sent (checked)."""
        ...

    def on_peer_down(self, peer: str) -> None:
        """Our link to a paired peer stopped answering."""
        ...

    def on_peer_up(self, peer: str) -> None:
        """Our link to a paired peer answers again (after on_peer_down)."""
        ...

    def watching(self) -> Mapping[str, frozenset[str]] | None:
        """Per paired peer (its name), its numbers a phone here watches; None while Asterisk has not been read."""
        ...


def states_message(station: str, full: bool, states: Mapping[str, str]) -> dict[str, Any]:
    return {"type": "states", "from": station, "full": full, "states": dict(states)}


def read_states(msg: Mapping[str, Any]) -> tuple[bool, dict[str, str]]:
    """(full, states) of a received states message; ValueError when malformed."""
    return bool(msg.get("full")), valid_states(msg.get("states"))


def watch_message(station: str, numbers: frozenset[str]) -> dict[str, Any]:
    return {"type": "watch", "from": station, "numbers": sorted(numbers)}


def watch_version(numbers: frozenset[str]) -> str:
    """A short fingerprint of a watch set, made by each side itself (a received one is never trusted): the pong
    echoes the one the peer holds, so a lost or stale set is sent again at the next heartbeat."""
    return hashlib.sha256(",".join(sorted(numbers)).encode()).hexdigest()[:16]


def read_watch(msg: Mapping[str, Any]) -> frozenset[str]:
    """The numbers of a received watch message; ValueError when malformed (digits only, at most MAX_STATES)."""
    raw = msg.get("numbers")
    if not isinstance(raw, list) or len(raw) > MAX_STATES or not all(is_number(n) for n in raw):
        raise ValueError("bad watch numbers")
    return frozenset(raw)
