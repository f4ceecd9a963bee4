"""Device states on the sync channel: the message, and the port through which the sync thread meets Asterisk.

A link sends `{"type": "states", "full": bool, "states": {number: device state}}` to its peer's server: the full map
after every handshake (so nothing missed while the link was down stays wrong), then each batch of changes, pipelined
(no answer; TCP keeps them in order). The server checks the map (core/devstates.py `valid_states`) and hands it to the
port with the name of the paired peer its CURVE key belongs to: a peer can only ever set its own lamps. When a link
goes down the port is told, and the peer's lamps read Unavailable; when it answers again the port is told too. The
port is the AMI side of the worker (service/devstate.py); the sync service only calls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from python_worker.core.devstates import valid_states

FEATURE = "states"  # announced in hello and pong by a worker that carries device states


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


def states_message(station: str, full: bool, states: Mapping[str, str]) -> dict[str, Any]:
    return {"type": "states", "from": station, "full": full, "states": dict(states)}


def read_states(msg: Mapping[str, Any]) -> tuple[bool, dict[str, str]]:
    """(full, states) of a received states message; ValueError when malformed."""
    return bool(msg.get("full")), valid_states(msg.get("states"))
