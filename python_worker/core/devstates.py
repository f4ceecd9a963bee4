"""Device states carried between paired stations over the sync channel: what is sent, and what the receiver sets.

The sender reads the state of each of its own numbers from its hints (AMI `ExtensionStatus`: what a phone's BLF
key on that station shows) and sends `{number: device state}` to each paired peer: all of them on every (re)connect,
then each change. The receiver sets `Custom:FED-<hex>-<number>` (PeerPlan.state_device) for the numbers it allows
that peer (its announced SIP extensions inside its patterns, never one of ours: the filter bounds the AstDB entries
a peer can create), and every one of them UNAVAILABLE when the peer stops answering. Pure bookkeeping: the AMI
connection (service/devstate.py) and the links (sync/) do the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Device states Asterisk's DEVICE_STATE() accepts for a Custom device (main/devicestate.c `ast_devstate_val`).
DEVICE_STATES = frozenset({"UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING",
                           "RINGINUSE", "ONHOLD"})
DOWN = "UNAVAILABLE"
MAX_STATES = 20_000  # per peer; a directory holds at most as many entries
_NUMBER = re.compile(r"^[0-9]{1,20}$")

# A hint's state (AMI ExtensionStatus `StatusText`, main/pbx.c `ast_extension_state2str`) as the device state that
# gives the same lamp on the receiving station's hint.
_FROM_HINT = {
    "idle": "NOT_INUSE",
    "inuse": "INUSE",
    "busy": "BUSY",
    "unavailable": DOWN,
    "ringing": "RINGING",
    "inuse&ringing": "RINGINUSE",
    "hold": "ONHOLD",
    "inuse&hold": "ONHOLD",
}
# ... and by its number (`Status`), for a text this version does not name: bits InUse 1, Busy 2, Unavailable 4,
# Ringing 8, OnHold 16; -1 and -2 mean the hint was removed or deactivated.
_FROM_STATUS = {0: "NOT_INUSE", 1: "INUSE", 2: "BUSY", 4: DOWN, 8: "RINGING", 9: "RINGINUSE", 16: "ONHOLD",
                17: "ONHOLD"}


def from_hint_state(text: str, status: str = "") -> str | None:
    """The device state for a hint's ExtensionStatus; None when it says nothing usable."""
    found = _FROM_HINT.get(text.strip().lower())
    if found is not None:
        return found
    try:
        code = int(status)
    except ValueError:
        return None
    return DOWN if code < 0 else _FROM_STATUS.get(code)


def is_number(value: object) -> bool:
    return isinstance(value, str) and bool(_NUMBER.match(value))


def valid_states(raw: object) -> dict[str, str]:
    """A received `{number: state}` map, checked: digits only, known states, at most MAX_STATES (ValueError)."""
    if not isinstance(raw, dict):
        raise ValueError("states must be an object")
    if len(raw) > MAX_STATES:
        raise ValueError(f"more than {MAX_STATES} states")
    out: dict[str, str] = {}
    for number, state in raw.items():
        if not is_number(number) or not isinstance(state, str) or state not in DEVICE_STATES:
            raise ValueError(f"bad state {number!r}: {state!r}")
        out[number] = state
    return out


Setting = tuple[str, str]  # (device, state) for AMI Setvar DEVICE_STATE(device)=state


@dataclass
class PeerStates:
    """What one paired peer has told us, and what of it we have set here."""

    prefix: str  # device name before the number: "Custom:FED-<hex>-"
    allowed: frozenset[str] = frozenset()
    latest: dict[str, str] = field(default_factory=dict)  # everything it announced (bounded), allowed or not yet
    applied: dict[str, str] = field(default_factory=dict)  # number -> the state we set (allowed numbers only)
    down: bool = False
    heard: bool = False  # a snapshot arrived since we started (until then we set nothing but DOWN)

    def _set(self, numbers: Iterable[str], state_of: Mapping[str, str] | None, default: str | None) -> list[Setting]:
        out = []
        for n in sorted(numbers):
            want = state_of.get(n, default) if state_of is not None else default
            if want is None or self.applied.get(n) == want:
                continue
            self.applied[n] = want
            out.append((self.prefix + n, want))
        return out


@dataclass
class RemoteStates:
    """The receiver's side for all paired peers; every method returns the Setvars to make, in order."""

    peers: dict[str, PeerStates] = field(default_factory=dict)
    # Paired peers whose states we do not carry yet (the plan that carries them is still being made, e.g. right
    # after pairing): their last snapshot, used as soon as a plan carries them. The snapshot comes once per
    # connection, so dropping it would leave that peer's lamps unset until each of its numbers changes.
    pending: dict[str, dict[str, str]] = field(default_factory=dict)

    def set_filters(self, filters: Mapping[str, tuple[str, frozenset[str]]]) -> tuple[list[Setting], list[str]]:
        """A new plan: per peer (device prefix, the numbers it may set). Returns the Setvars for numbers newly
        allowed (their latest state, or DOWN while the peer is down) and the devices no longer used (to forget)."""
        sets: list[Setting] = []
        gone: list[str] = []
        for name in sorted(set(self.peers) - set(filters)):
            ps = self.peers.pop(name)
            gone += [ps.prefix + n for n in sorted(ps.applied)]
        for name, (prefix, allowed) in sorted(filters.items()):
            was = self.peers.get(name)
            if was is not None and was.prefix != prefix:
                gone += [was.prefix + n for n in sorted(was.applied)]
                was = None
            if was is None:
                ps = PeerStates(prefix)
                early = self.pending.pop(name, None)
                if early is not None:
                    ps.latest, ps.heard = early, True
            else:
                ps = was
            self.peers[name] = ps
            added, removed = allowed - ps.allowed, ps.allowed - allowed
            ps.allowed = frozenset(allowed)
            for n in sorted(removed):
                if ps.applied.pop(n, None) is not None:
                    gone.append(prefix + n)
            if ps.down:
                sets += ps._set(added, None, DOWN)
            elif ps.heard:
                sets += ps._set(added, ps.latest, DOWN)
        return sets, gone

    def receive(self, peer: str, full: bool, states: Mapping[str, str]) -> list[Setting]:
        """States from `peer` (already checked by valid_states): a full snapshot sets every allowed number (one it
        did not list reads DOWN), a change only the numbers in it."""
        ps = self.peers.get(peer)
        if ps is None:
            if full:
                self.pending[peer] = dict(states)
            elif peer in self.pending:
                _merge(self.pending[peer], states)
            return []
        if full:
            ps.latest = dict(states)
        else:
            _merge(ps.latest, states)
        was_down, ps.down = ps.down, False
        if full:
            ps.heard = True
            return ps._set(ps.allowed, ps.latest, DOWN)
        if was_down and ps.heard:
            return ps._set(ps.allowed, ps.latest, DOWN)  # its lamps, set Unavailable meanwhile, come back
        if not ps.heard:
            return ps._set((n for n in states if n in ps.allowed), states, None)
        return ps._set((n for n in states if n in ps.allowed), ps.latest, None)

    def peer_down(self, peer: str) -> list[Setting]:
        """`peer` stopped answering: all its lamps Unavailable, until its next snapshot."""
        ps = self.peers.get(peer)
        if ps is None:
            self.pending.pop(peer, None)  # it sends a new snapshot when it is back
            return []
        ps.down = True
        return ps._set(ps.allowed, None, DOWN)

    def peer_up(self, peer: str) -> list[Setting]:
        """Our link to `peer` answers again. Its states reach us on *its* link to us, which may never have gone
        down (our heartbeats were late, e.g. on a busy box): then no new snapshot comes, but every change did, so
        what we heard last is right and is set again. Had its link gone down too, its snapshot follows."""
        ps = self.peers.get(peer)
        if ps is None or not ps.down:
            return []
        ps.down = False
        return ps._set(ps.allowed, ps.latest, DOWN) if ps.heard else []

    def reapply(self) -> list[Setting]:
        """Everything set so far, again (Asterisk restarted, or the AMI connection was lost meanwhile)."""
        out: list[Setting] = []
        for _name, ps in sorted(self.peers.items()):
            out += [(ps.prefix + n, st) for n, st in sorted(ps.applied.items())]
        return out


def _merge(latest: dict[str, str], changes: Mapping[str, str]) -> None:
    """Changes into a peer's announced map, which stays bounded at MAX_STATES numbers."""
    room = MAX_STATES - len(latest)
    for n, st in changes.items():
        if n in latest or room > 0:
            room -= n not in latest
            latest[n] = st


@dataclass
class OwnStates:
    """The sender's side: the last known state of each of this station's own numbers, and the changes not yet sent."""

    states: dict[str, str] = field(default_factory=dict)
    changes: dict[str, str] = field(default_factory=dict)
    known: bool = False  # a full look at Asterisk's hints has been made

    def load(self, snapshot: Mapping[str, str]) -> None:
        """A full look (ExtensionStateList): differences become changes; numbers gone read DOWN."""
        for n in set(self.states) - set(snapshot):
            if self.states[n] != DOWN:
                self.changes[n] = DOWN
            self.states[n] = DOWN
        for n, st in snapshot.items():
            self.update(n, st)
        self.known = True

    def update(self, number: str, state: str) -> bool:
        if self.states.get(number) == state:
            return False
        self.states[number] = state
        self.changes[number] = state
        return True

    def take_changes(self) -> dict[str, str]:
        out, self.changes = self.changes, {}
        return out


@dataclass
class Watches:
    """The receiver's side of interest (sync/states.py `watch`): which of each paired peer's numbers a phone here
    watches. Asterisk makes a hint from the peer's pattern hint when a phone subscribes to one of its numbers and
    tells nobody; the AMI side lists the hints now and then (`start`, `listed`, `finish`) and sees such a hint's
    events in between (`seen`). Until a first list is read it says nothing (`by_peer` None): the peers then send
    every change at once."""

    hinted: frozenset[str] = frozenset()  # peer numbers with a hint here: the last list, and events since
    listing: set[str] | None = None  # the peer numbers of the list being read (None: no list under way)
    by_peer: dict[str, frozenset[str]] | None = None  # peer -> its numbers watched here; replaced, never changed
    read: bool = False  # a list has been read whole

    def start(self) -> None:
        self.listing = set()

    def listed(self, number: str) -> None:
        if self.listing is not None:
            self.listing.add(number)

    def finish(self, peers: Mapping[str, PeerStates]) -> bool:
        """The list is read: it replaces what was hinted (a dialplan reload drops hints nobody watches any more).
        Returns whether what is watched changed."""
        self.hinted, self.listing, self.read = frozenset(self.listing or ()), None, True
        return self.update(peers)

    def seen(self, number: str, peers: Mapping[str, PeerStates]) -> bool:
        """An event of a peer number's hint: one made since the last list (its lamp was just set)."""
        if number in self.hinted:
            return False
        self.hinted = self.hinted | {number}
        return self.update(peers)

    def update(self, peers: Mapping[str, PeerStates]) -> bool:
        """Watched = hinted and allowed for that peer (a new plan changes the second); whether that changed."""
        if not self.read:
            return False
        by_peer = {name: self.hinted & ps.allowed for name, ps in sorted(peers.items())}
        if by_peer == self.by_peer:
            return False
        self.by_peer = by_peer
        return True
