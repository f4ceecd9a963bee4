"""Which peers are alive, as a pure state machine fed by what the worker observes.

Observations: the trunks' qualify states (`pjsip show contacts`), the sync heartbeats of paired peers, and the
remote lamps Asterisk shows (a peer whose states reach us has configured us). What follows from them: the peers
that are down (their lamps read Unavailable) and the publications to renew. Asterisk gives up on an outbound
publication the peer refused (e.g. before it knew us) and never resends what a peer missed while it was away; a
renamed publication (a new epoch) is a new one that starts by sending every current state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from python_worker.core.runtime import AmiAccount, Runtime

MAX_EPOCH = 9  # epochs cycle 1..9: enough to always differ from the previous name


@dataclass(frozen=True)
class Watched:
    """A planned peer as liveness sees it."""

    name: str
    provider_id: str
    is_blf: bool = False
    hint_numbers: tuple[str, ...] = ()
    is_up: bool = True  # planned as reachable (hints on its phones, not on its lamp device)


@dataclass
class Liveness:
    trunk_down: frozenset[str] = frozenset()  # qualify said Unavail (and not Avail since)
    sync_down: frozenset[str] = frozenset()  # paired peers whose sync heartbeats stopped
    publishing: frozenset[str] | None = None  # peers whose states reach us (None: not looked yet)
    epochs: dict[str, int] = field(default_factory=dict)  # peer -> generation of our publication to it
    _renew_next: set[str] = field(default_factory=set)  # back through sync: renewed at the next runtime()

    @property
    def down(self) -> frozenset[str]:
        return self.trunk_down | self.sync_down

    def renew(self, peers: Iterable[str]) -> None:
        for name in peers:
            self.epochs[name] = self.epochs.get(name, 0) % MAX_EPOCH + 1

    def on_qualify(self, peers: Iterable[Watched], reach: Mapping[str, str]) -> bool:
        """A contacts poll ({provider id: reachable|unreachable|unknown}). Only an explicit Avail or Unavail
        changes what is known (Unknown right after a reload keeps it); a peer back gets a renewed publication.
        True when the set of dead trunks changed (re-plan)."""
        down = frozenset(p.name for p in peers if reach.get(p.provider_id) == "unreachable"
                         or (p.name in self.trunk_down and reach.get(p.provider_id) != "reachable"))
        if down == self.trunk_down:
            return False
        self.renew(self.trunk_down - down)
        self.trunk_down = down
        return True

    def on_sync(self, down: Iterable[str]) -> bool:
        """The paired peers that stopped answering sync heartbeats; those back are renewed at the next plan.
        True when it changed."""
        down = frozenset(down)
        if down == self.sync_down:
            return False
        self._renew_next |= self.sync_down - down
        self.sync_down = down
        return True

    def needs_hints(self, peers: Iterable[Watched]) -> bool:
        """Whether a look at Asterisk's hints could tell something new: some BLF peer that is up is not yet
        known to publish to us."""
        peers = list(peers)
        watched = [p for p in peers if p.is_blf and p.is_up]
        if self.publishing is not None and all(p.name in self.publishing for p in watched):
            self.publishing &= {p.name for p in peers}
            return False
        return True

    def on_hints(self, peers: Iterable[Watched], states: Mapping[str, str]) -> frozenset[str]:
        """Asterisk's hint states ({extension: state}): a BLF peer with any lamp not Unavailable publishes to us.
        Returns the peers newly seen publishing, whose publications are renewed (also at the first look: a peer
        already publishing may have refused ours before it knew us)."""
        peers = list(peers)
        watched = [p for p in peers if p.is_blf and p.is_up]
        seen = {p.name for p in watched if any(states.get(n, "Unavailable") != "Unavailable" for n in p.hint_numbers)}
        new = frozenset(seen - (self.publishing or frozenset()))
        self.publishing = frozenset(((self.publishing or frozenset()) & {p.name for p in peers}) | seen)
        self.renew(new)
        return new

    def blf_state(self, peer: str, is_blf: bool) -> str:
        """The admin page's BLF dot: ok once the peer's device states reach us."""
        if not is_blf:
            return "disabled"
        if self.publishing is None:
            return "unknown"
        return "ok" if peer in self.publishing else "waiting"

    def runtime(self, *, drives_lamps: bool, pairing_sources: Iterable[tuple[str, str]] = (),
                carries_states: bool = False, legacy_lamps: Iterable[str] = (),
                ami: AmiAccount | None = None) -> Runtime:
        """The run-time value the next plan is made with."""
        if self._renew_next:
            self.renew(self._renew_next)
            self._renew_next = set()
        return Runtime.of(down=self.down, publish_epochs=self.epochs, drives_lamps=drives_lamps,
                          pairing_sources=pairing_sources, carries_states=carries_states,
                          legacy_lamps=legacy_lamps, ami=ami)
