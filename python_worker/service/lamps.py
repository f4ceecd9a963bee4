"""Sets the peers' lamp devices in Asterisk when the schedule (core/lamps.py) says they are due."""

from __future__ import annotations

import logging
import time

from python_worker.apply.system import AsteriskCli
from python_worker.core.lamps import DOWN, UP, LampSchedule, lamp_device, steps_to
from python_worker.core.planner import PeerPlan, Plan

log = logging.getLogger("pbxfed")


def set_lamp(cli: AsteriskCli, peer: PeerPlan, want: str) -> bool:
    """Give `peer`'s lamp device the state `want` (UP or DOWN) through the other one."""
    return all(cli.set_device(lamp_device(peer), state) for state in steps_to(want))


class LampDriver:
    def __init__(self, cli: AsteriskCli, wait: float) -> None:
        self.cli = cli
        self.wait = wait  # at most this long for a (queued) reload to show before setting the device anyway
        self.schedule = LampSchedule()

    @property
    def enabled(self) -> bool:
        return bool(self.cli.devstate_cmd)

    @property
    def pending(self) -> bool:
        return bool(self.schedule.due)

    def after_reconcile(self, plan: Plan, down: frozenset[str]) -> None:
        """New hints are in force: schedule the devices that must change, and set those already shown."""
        if not self.enabled:
            return
        # Peers whose states travel over the sync channel have no lamp device in their hints.
        self.schedule.after_reconcile((p.name for p in plan.peers if p.is_stock_blf), down, time.monotonic(),
                                      self.wait)
        self.drive(plan)

    def drive(self, plan: Plan) -> None:
        """Set each due device once Asterisk shows the peer's new hints (or its deadline passed); the rest wait
        for the next poll."""
        if not self.schedule.due or not self.enabled:
            return
        hints = self.cli.hints() if self.cli.hints_cmd else None
        if self.cli.hints_cmd and hints is None:
            return  # Asterisk does not answer (yet, e.g. while the box boots): look again at the next poll
        now = time.monotonic()
        for peer in plan.peers:
            ready = self.schedule.ready(peer, hints, now)
            if ready is None:
                continue
            want, shown = ready
            if not shown:
                log.warning("the reloaded hints for %s did not show in %.0f s; setting its lamps' device anyway",
                            peer.name, self.wait)
            deadline = self.schedule.due[peer.name][1]
            ok = set_lamp(self.cli, peer, want)
            self.schedule.done(peer.name, want, ok)
            if ok:
                log.info("lamps of %s: %s set %s (%.1f s after the reconcile)", peer.name, lamp_device(peer), want,
                         self.wait - (deadline - now))


__all__ = ["DOWN", "UP", "LampDriver", "set_lamp"]
