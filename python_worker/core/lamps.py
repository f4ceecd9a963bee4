"""The peers' lamp devices: which state each must get, and when (a pure schedule; service/lamps.py sets them).

Every hint of a BLF peer's numbers carries the peer's `Custom:FED-<hex>` device when the worker drives the lamps
(PeerPlan.hint_devices). The device reads INVALID while the peer is up (every other state outweighs INVALID in
Asterisk's aggregate, so the lamp is the remote phone's) and UNAVAILABLE while it is down. Asterisk keeps a
watched hint's last state across a dialplan reload, even when the reload changed the hint's devices, and
recomputes it only when one of its devices changes state: so after the reload that swaps a peer's hints (down or
back) the device is changed, through the other state, once Asterisk shows the new hints (Core may queue the
reload) or at the latest after a deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from python_worker.core.planner import PeerPlan

UP, DOWN = "INVALID", "UNAVAILABLE"  # the lamp device's state while the peer is up / down
HINT_DEVICES_SHOWN = 60  # `core show hints` cuts the device list there


def lamp_device(peer: PeerPlan) -> str:
    return f"Custom:{peer.lamp_device}"


def steps_to(want: str) -> tuple[str, str]:
    """The states to set, in order, so the hints see a change even if Asterisk already had `want`."""
    return (UP, DOWN) if want == DOWN else (DOWN, UP)


def hints_show(peer: PeerPlan, hints: Mapping[str, tuple[str, str]]) -> bool:
    """Whether Asterisk's hints ({extension: (devices as shown, state)}) are the ones planned for `peer`."""
    return all(hints.get(n, ("", ""))[0] == peer.hint_devices(n)[:HINT_DEVICES_SHOWN] for n in peer.hint_numbers)


@dataclass
class LampSchedule:
    given: dict[str, str] = field(default_factory=dict)  # peer -> the state its device was given
    due: dict[str, tuple[str, float]] = field(default_factory=dict)  # peer -> (state to give, deadline)

    def after_reconcile(self, blf_peers: Iterable[str], down: frozenset[str], now: float, wait: float) -> None:
        """A reconcile put new hints in force: every BLF peer whose device differs from what it needs is due,
        keeping the deadline of a change already due for the same state."""
        blf = set(blf_peers)
        self.given = {name: state for name, state in self.given.items() if name in blf}
        due: dict[str, tuple[str, float]] = {}
        for name in sorted(blf):
            want = DOWN if name in down else UP
            if self.given.get(name) == want:
                continue
            was = self.due.get(name)
            due[name] = was if was is not None and was[0] == want else (want, now + wait)
        self.due = due

    def ready(self, peer: PeerPlan, hints: Mapping[str, tuple[str, str]] | None, now: float) -> tuple[str, bool] | None:
        """(state to set, whether the hints show) for a due peer whose new hints are in force (`hints` None: no
        way to see them) or whose deadline passed; None while it must wait."""
        if peer.name not in self.due:
            return None
        want, deadline = self.due[peer.name]
        shown = hints is None or hints_show(peer, hints)
        if not shown and now < deadline:
            return None
        return want, shown

    def done(self, peer: str, want: str, ok: bool) -> None:
        """The device was set (ok) or the attempt failed (a later reconcile makes it due again)."""
        self.due.pop(peer, None)
        if ok:
            self.given[peer] = want
