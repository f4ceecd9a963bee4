"""What the worker observes of its peers' liveness, and which observations ask for a re-plan.

Observations come from three threads: the worker's loop (contacts and hints polls of Asterisk), the AMI thread (a
trunk's ContactStatus) and the sync thread (heartbeats, the features a peer's worker announced). They feed
core/liveness.py under one lock; every method answers whether the rendered configuration may change, and the
worker's loop does the reconcile. A change that cannot alter what is rendered (core/planner.py decides per peer:
PeerPlan.is_replanned_on_liveness) asks for none: on a ten-station mesh such reconciles, each holding the sync
thread for a second, made the peers miss heartbeats and read each other down and up again without end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from python_worker.apply.system import AsteriskCli
from python_worker.core.liveness import Liveness, Watched
from python_worker.core.planner import Plan
from python_worker.core.runtime import AmiAccount, Runtime

log = logging.getLogger("pbxfed")


def watched(plan: Plan | None) -> list[Watched]:
    """The planned peers as liveness sees them."""
    peers = plan.peers if plan else ()
    return [Watched(p.name, p.provider_id, p.is_stock_blf, p.hint_numbers, p.is_reachable) for p in peers]


def replans(plan: Plan | None, names: Iterable[str]) -> bool:
    """Whether a change of these peers' liveness changes what is rendered; before the first plan, always."""
    if plan is None:
        return True
    replanned = {p.name.lower() for p in plan.peers if p.is_replanned_on_liveness}
    return any(n.lower() in replanned for n in names)


class Reachability:
    def __init__(self, asterisk: AsteriskCli) -> None:
        self.asterisk = asterisk
        self.liveness = Liveness()
        self.contacts: dict[str, tuple[str, float | None]] | None = None  # the last contacts poll
        self.legacy: frozenset[str] = frozenset()  # paired peers whose workers do not carry states
        self.soon = threading.Event()  # a trunk changed (AMI event): the loop reads the contacts now
        self._lock = threading.Lock()

    def runtime(self, *, drives_lamps: bool, pairing_sources: Iterable[tuple[str, str]], carries_states: bool,
                ami: AmiAccount | None) -> Runtime:
        """The run-time value the next plan is made with."""
        with self._lock:
            return self.liveness.runtime(drives_lamps=drives_lamps, pairing_sources=pairing_sources,
                                         carries_states=carries_states, legacy_lamps=self.legacy, ami=ami)

    def look_at_contacts(self, plan: Plan) -> bool:
        """Loop: the trunks' qualify states (`pjsip show contacts`). True: a re-plan is due (dead peers' lamps
        Unavailable, the returning ones' publications renewed)."""
        if not self.asterisk.contacts_cmd:
            return False
        contacts = self.asterisk.contacts()
        if contacts is None:
            return False
        self.contacts = contacts
        reach = {aor: state for aor, (state, _rtt) in contacts.items()}
        with self._lock:
            before = self.liveness.trunk_down
            changed = self.liveness.on_qualify(watched(plan), reach)
            after = self.liveness.trunk_down
        if not changed:
            return False
        log.warning("trunk reachability changed: down %s", sorted(after))
        return replans(plan, before ^ after)

    def look_at_hints(self, plan: Plan) -> bool:
        """Loop: the remote lamps Asterisk shows, while some stock-BLF peer is not yet known to publish to us.
        True: peers started publishing their states to us; our publications to them are renewed by a re-plan."""
        peers = watched(plan)
        if not self.asterisk.hints_cmd or not self.liveness.needs_hints(peers):
            return False
        hints = self.asterisk.hints()
        if hints is None:
            return False
        with self._lock:
            new = self.liveness.on_hints(peers, {n: state for n, (_app, state) in hints.items()})
        if new:
            log.warning("peers started publishing their states to us: %s; renewing our publications to them",
                        sorted(new))
        return bool(new)

    def on_contact(self, plan: Plan | None, aor: str, status: str) -> bool:
        """AMI thread: a contact changed state. True when it is one of our trunks (the loop reads them now)."""
        if plan is None or not any(p.provider_id == aor for p in plan.peers):
            return False
        log.info("AMI: trunk %s is %s", aor, status)
        self.soon.set()
        return True

    def on_sync(self, plan: Plan | None, down: frozenset[str]) -> bool:
        """Sync thread: the paired peers that stopped answering heartbeats. True: a re-plan is due."""
        with self._lock:
            before = self.liveness.sync_down
            changed = self.liveness.on_sync(down)
        return changed and replans(plan, before ^ down)

    def on_features(self, legacy: frozenset[str]) -> bool:
        """Sync thread: the paired peers whose workers do not carry device states. True: a re-plan is due (they
        keep SIP publications)."""
        if legacy == self.legacy:
            return False
        log.warning("paired peers without device states over sync (SIP publications kept): %s", sorted(legacy))
        self.legacy = legacy
        return True
