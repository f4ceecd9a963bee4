"""What the plan depends on besides the two databases: the worker's run-time knowledge, as one value.

Built once per reconcile (by the worker from its liveness state, by the CLI from nothing) and handed to the
planner as one argument, so no layer below reads invitations, polls Asterisk or keeps peer state of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AmiAccount:
    """The worker's own AMI account (its secret is generated once and kept in the state dir, mode 0600)."""

    username: str
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"AmiAccount({self.username!r})"


@dataclass(frozen=True)
class Runtime:
    # Peers found dead (trunk qualify reads Unavail, or sync heartbeats stopped): their lamps read Unavailable.
    down: frozenset[str] = frozenset()
    # Per peer, the generation of our outbound publication to it (0: the plain name); a new one replaces a
    # publication Asterisk gave up on.
    publish_epochs: Mapping[str, int] = field(default_factory=dict)
    # Whether something sets the peers' lamp devices (the worker with a devstate command): only then do the
    # hints carry them; a device nobody sets would read Idle.
    drives_lamps: bool = False
    # (invitation id, address) of pending invitations made for an address: that station may reach the sync
    # port until the invitation is used or expires.
    pairing_sources: tuple[tuple[str, str], ...] = ()
    # The worker carries device states over the sync channel (it has an AMI connection and a sync service):
    # paired peers then get pattern hints on their per-number devices and no SIP publications
    # (docs/design.md "Device states over the sync channel").
    carries_states: bool = False
    # Paired peers whose worker said it does not carry states (an older module): they keep the SIP publications.
    legacy_lamps: frozenset[str] = frozenset()
    # The worker's AMI account, rendered as a module-owned m_AsteriskManagerUsers row (None: no row).
    ami: AmiAccount | None = None

    def is_down(self, peer: str) -> bool:
        return peer in self.down

    def publish_epoch(self, peer: str) -> int:
        return int(self.publish_epochs.get(peer, 0))

    def carries_states_of(self, peer: str) -> bool:
        return self.carries_states and peer not in self.legacy_lamps

    @staticmethod
    def of(*, down: Iterable[str] = (), publish_epochs: Mapping[str, int] | None = None, drives_lamps: bool = False,
           pairing_sources: Iterable[tuple[str, str]] = (), carries_states: bool = False,
           legacy_lamps: Iterable[str] = (), ami: AmiAccount | None = None) -> Runtime:
        return Runtime(frozenset(down), dict(publish_epochs or {}), drives_lamps, tuple(sorted(set(pairing_sources))),
                       carries_states, frozenset(legacy_lamps), ami)


STATIC = Runtime()  # a plan made without a running worker: every peer up, plain publications, no lamp devices
