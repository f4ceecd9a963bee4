"""Pure planning: from a station snapshot and the module config to the exact objects each peer needs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from python_worker.core.breakout import (
    Breakout,
    CallerRewrite,
    FallbackPlan,
    TransitPlan,
    caller_rewrite,
    plan_breakout,
)
from python_worker.core.checks import (
    MAX_NUMBERS_PER_PEER,
    check_admin_records,
    check_fallback_order,
    check_identity,
    check_patterns,
    check_via,
)
from python_worker.core.config import DirectoryEntry, ModuleConfig, PeerConfig
from python_worker.core.fields import (
    MAX_PEERS,
    check_peer_fields,
    check_settings_fields,
    default_station_name,
    is_number,
)
from python_worker.core.patterns import (
    Pattern,
    PatternError,
    derive_patterns,
    numbers_regex,
    parse_pattern_list,
    patterns_regex,
)
from python_worker.core.problems import Problem, problem
from python_worker.core.public_fields import check_public_settings
from python_worker.core.runtime import STATIC, AmiAccount, Runtime
from python_worker.core.station import StationSnapshot

ROUTE_PRIORITY = 0  # constant, so adding or removing one peer never renumbers another peer's routes
INCOMING_PRIORITY = 1


@dataclass(frozen=True)
class RoutePlan:
    pattern: str
    numberbeginswith: str
    restnumbers: int


@dataclass(frozen=True)
class PeerPlan:
    """Everything one peer needs on this station; every name here is derived, never stored."""

    name: str
    host: str
    port: int
    transport: str
    secret: str
    note: str
    provider_id: str
    patterns: tuple[str, ...]
    asterisk_patterns: tuple[str, ...]
    accept_regex: str
    routes: tuple[RoutePlan, ...]
    hint_numbers: tuple[str, ...]
    is_blf: bool
    is_transfers: bool
    is_overlap_fix: bool
    is_reachable: bool = True
    is_paired: bool = False  # paired through invitations: the directory-sync port is opened for it
    publish_epoch: int = 0  # bumped by the worker to replace a publication Asterisk gave up on
    has_directory: bool = False  # its numbers come from the peer's synced directory
    is_lamp_driven: bool = False  # the worker sets this peer's lamp device: the hints carry it
    fallback: FallbackPlan | None = None  # calls to the peer's numbers go out to the PSTN when it answers nothing
    transit: TransitPlan | None = None  # what the peer may call out through this station
    via_routes: tuple[RoutePlan, ...] = ()  # numbers the peer lets us call out through it: routes to its trunk

    @property
    def transit_context(self) -> str:
        return f"{self.provider_id}-transit"
    # Paired, and both workers carry device states over the sync channel: pattern hints on the per-number
    # devices `Custom:FED-<hex>-<n>`, set by our worker; no SIP publication objects (docs/design.md).
    carries_states: bool = False

    @property
    def is_stock_blf(self) -> bool:
        """BLF through Asterisk's own publications (hand-made peers, or a paired peer whose worker cannot carry
        states): explicit hints, the lamp device, outbound-publish and inbound-publication."""
        return self.is_blf and not self.carries_states

    @property
    def is_replanned_on_liveness(self) -> bool:
        """Whether this peer's dialplan depends on it being reachable: its explicit hints move to the lamp device
        while it is down (hint_devices). A peer whose states ride the sync channel (or without BLF) renders the
        same either way; its lamps and down flag are set in Asterisk directly, so its ups and downs cost no
        reconcile, which on a busy mesh would delay the heartbeats that decide them."""
        return self.is_stock_blf

    @property
    def lamp_device(self) -> str:
        """`FED-<the provider id's hex>`: the peer's lamp device is `Custom:FED-<hex>` (see hint_devices)."""
        return "FED-" + self.provider_id.removeprefix("SIP-TRUNK-")

    def hint_devices(self, number: str) -> str:
        """The device list of `number`'s hint, the one place that decides it.

        When the worker drives the lamps (`is_lamp_driven`), `Custom:FED-<hex>` is in every hint for the peer's
        numbers: after `PJSIP/<n>&` while the peer is up (the worker keeps it INVALID then: every other state
        outweighs INVALID in Asterisk's aggregate, so the lamp is the remote phone's), alone while it is down (kept
        UNAVAILABLE). Its change after the reload that swaps the hints makes Asterisk recompute them: a reload
        alone keeps a watched hint's last state. Without a driver a dead peer's hints point at `PJSIP/FED-<hex>`,
        which does not exist (Unavailable, except on hints that keep their watched state)."""
        if self.is_reachable:
            return f"PJSIP/{number}&Custom:{self.lamp_device}" if self.is_lamp_driven else f"PJSIP/{number}"
        return f"Custom:{self.lamp_device}" if self.is_lamp_driven else f"PJSIP/{self.lamp_device}"

    def state_device(self, number: str) -> str:
        """The device that shows this peer's number `number` here when states travel over the sync channel: the
        receiving worker sets it (AMI `Setvar DEVICE_STATE(...)`), the pattern hint reads it."""
        return f"Custom:{self.lamp_device}-{number}"

    @property
    def down_flag(self) -> str:
        """The global variable our worker sets to 1 while this peer's sync link is down (states carried only): its
        route then dials `dead_dial`, which fails at once, instead of an INVITE nobody answers for 32 s."""
        return "FED_DOWN_" + self.provider_id.removeprefix("SIP-TRUNK-")

    @property
    def dead_dial(self) -> str:
        return f"PJSIP/${{EXTEN}}@{self.provider_id}-FED-DOWN"

    @property
    def pattern_hints(self) -> tuple[tuple[str, str], ...]:
        """(extension pattern, devices) of each hint when states travel over the sync channel: one per pattern,
        `${EXTEN}` in the device name (Asterisk substitutes it in the hint it creates for a watched number). A
        local number inside the pattern keeps its own exact hint, which wins over a pattern."""
        return tuple((ap, self.state_device("${EXTEN}" if ap.startswith("_") else ap))
                     for ap in self.asterisk_patterns)

    @property
    def auth_in(self) -> str:
        return f"{self.provider_id}-FED-IN"

    @property
    def auth_out(self) -> str:
        return f"{self.provider_id}-FED-OUT"

    @property
    def outbound_publish(self) -> str:
        """`<U>-FED-PUB`, or `<U>-FED-PUB-<epoch>`: Asterisk never retries an outbound publication the peer
        refused (e.g. because it did not know us yet), and a reload keeps it; only a new name starts a new one."""
        return f"{self.provider_id}-FED-PUB" + (f"-{self.publish_epoch}" if self.publish_epoch else "")


@dataclass(frozen=True)
class Plan:
    station_name: str
    entity_id: str
    language: str
    own_patterns: tuple[str, ...]
    own_regex: str
    peers: tuple[PeerPlan, ...]
    disabled_peers: tuple[str, ...]
    problems: tuple[Problem, ...]
    # (invitation id, IP address) of pending invitations made for an address (Runtime.pairing_sources)
    pairing_sources: tuple[tuple[str, str], ...] = ()
    # How our own callers present their public number on fallback calls (set when a peer has a fallback)
    caller_rewrite: CallerRewrite | None = None
    ami: AmiAccount | None = None  # the worker's AMI account (Runtime.ami): rendered as a module-owned row
    version: str = ""  # the station's PBXVersion (which form of AMI access list Core understands)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    def peer(self, name: str) -> PeerPlan | None:
        return next((p for p in self.peers if p.name == name), None)


def provider_id(peer_name: str) -> str:
    """Stable provider uniqid for a peer: same name, same id, forever."""
    # surrogatepass: even a name that is refused (a lone surrogate) has an id, so its problem can be shown
    digest = hashlib.sha256(f"ModulePbxFederation:{peer_name.lower()}".encode("utf-8", "surrogatepass")).hexdigest()
    return "SIP-TRUNK-" + digest[:10].upper()


def entity_id(station_name: str) -> str:
    """A locally administered MAC-shaped Asterisk entity ID, unique per station name."""
    text = f"ModulePbxFederation:entity:{station_name.lower()}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def station_name_of(config: ModuleConfig, snapshot: StationSnapshot) -> str:
    """The name this station is known by: the setting, else derived from the PBX's display name."""
    return config.settings.station_name or default_station_name(snapshot.name)


def own_patterns_of(config: ModuleConfig, snapshot: StationSnapshot) -> list[Pattern]:
    """This station's own patterns (set, else derived from its SIP extensions); [] when unusable."""
    return _own_patterns(config, snapshot)[0]


def _own_patterns(config: ModuleConfig, snapshot: StationSnapshot) -> tuple[list[Pattern], list[Problem]]:
    raw = config.settings.own_patterns.strip()
    if raw:
        try:
            return parse_pattern_list(raw), []
        except PatternError as exc:
            return [], [problem("E_PATTERN_INVALID", None, "own_patterns", value=raw, reason=exc)]
    derived = derive_patterns(list(snapshot.sip_extension_numbers))
    if not derived:
        return [], [problem("E_OWN_PATTERNS_EMPTY", None, "own_patterns")]
    return derived, []


def _switch(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def build_plan(snapshot: StationSnapshot, config: ModuleConfig, runtime: Runtime = STATIC) -> Plan:
    """Plan the federation for this station. Deterministic; problems are values, never exceptions.

    Peers the runtime knows to be down get hints on their lamp device (or on a device that does not exist),
    so remote lamps read Unavailable instead of keeping the last state they heard (Asterisk never expires
    device state).
    """
    problems: list[Problem] = []
    station = station_name_of(config, snapshot)
    problems += check_settings_fields(station, config.settings.display_name)
    if len(config.peers) > MAX_PEERS:
        problems.append(problem("E_VALUE_INVALID", None, "peers", detail="peers",
                                reason=f"more than {MAX_PEERS} peers"))
    own, own_problems = _own_patterns(config, snapshot)
    problems += own_problems
    problems += check_public_settings(config.settings)

    enabled = sorted((p for p in config.peers if p.enabled), key=lambda p: (p.name.lower(), p.name))
    disabled = tuple(sorted(p.name for p in config.peers if not p.enabled))
    excluded: set[str] = set()
    parsed: dict[str, list[Pattern]] = {}

    for peer in enabled:
        field_problems = check_peer_fields(peer)
        problems += field_problems
        if any(p.is_error for p in field_problems):
            excluded.add(peer.name)
            continue
        parsed[peer.name] = parse_pattern_list(peer.patterns)

    check_identity(enabled, station, snapshot, problems, excluded)
    check_patterns(enabled, own, parsed, problems, excluded)
    check_admin_records(enabled, snapshot, parsed, problems, excluded, config)
    for peer in enabled:
        directory = config.synced_directory(peer)
        if directory is not None and peer.name in parsed:
            outside = [e.number for e in directory.entries if not any(p.matches(e.number) for p in parsed[peer.name])]
            if outside:
                problems.append(problem("W_REMOTE_EXTENSION_OUTSIDE_PATTERNS", peer.name, "patterns",
                                        value=peer.name, count=len(outside), other=peer.patterns))

    breakouts = _breakouts(enabled, excluded, parsed, own, snapshot, config, problems)

    station_broken = any(p.is_error and p.peer is None for p in problems)
    local = frozenset(e.number for e in snapshot.extensions if is_number(e.number))
    peers: list[PeerPlan] = []
    if not station_broken:
        for peer in enabled:
            if peer.name in excluded:
                continue
            peers.append(_plan_peer(peer, parsed[peer.name], config, runtime, local, breakouts[peer.name]))
    own_regex = patterns_regex(own)
    return Plan(
        station_name=station,
        entity_id=entity_id(station),
        language=snapshot.language,
        own_patterns=tuple(p.text for p in own),
        own_regex=own_regex,
        peers=tuple(peers),
        disabled_peers=disabled,
        problems=tuple(sorted(set(problems), key=lambda p: (p.peer or "", p.code, p.field, p.params))),
        pairing_sources=runtime.pairing_sources,
        caller_rewrite=caller_rewrite(config.settings, own_regex) if any(p.fallback for p in peers) else None,
        ami=runtime.ami,
        version=snapshot.version,
    )


def _breakouts(enabled: list[PeerConfig], excluded: set[str], parsed: dict[str, list[Pattern]], own: list[Pattern],
               snapshot: StationSnapshot, config: ModuleConfig, problems: list[Problem]) -> dict[str, Breakout]:
    """Each plannable peer's fallback, transit and via numbers; a part with an error is left out alone."""
    federation_ids = frozenset(provider_id(p.name) for p in config.peers)
    out: dict[str, Breakout] = {}
    for peer in enabled:
        if peer.name in excluded or peer.name not in parsed:
            continue
        breakout, found = plan_breakout(peer, parsed[peer.name], own, snapshot, config.settings, federation_ids)
        problems += found
        if breakout.fallback is not None:
            problems += check_fallback_order(peer.name, snapshot)
        out[peer.name] = breakout
    via = {name: list(b.via) for name, b in out.items() if b.via}
    for pr in check_via(via, own, {name: parsed[name] for name in out}):
        problems.append(pr)
        if pr.peer in out:
            out[pr.peer] = replace(out[pr.peer], via=())
    return out


def _plan_peer(peer: PeerConfig, patterns: list[Pattern], config: ModuleConfig, runtime: Runtime,
               local: frozenset[str], breakout: Breakout) -> PeerPlan:
    s = config.settings
    is_blf = _switch(peer.blf, s.blf_default)
    routes = tuple(RoutePlan(p.text, *p.route_parts()) for p in patterns)
    directory = config.synced_directory(peer)
    hints: tuple[str, ...] = ()
    if directory is not None:
        mine: list[DirectoryEntry] = [e for e in directory.entries if any(p.matches(e.number) for p in patterns)]
        if is_blf:  # exactly the peer's phones: only devices have a state to watch
            hints = tuple(sorted({e.number for e in mine if e.kind == "SIP"}, key=lambda n: (len(n), n)))
    elif is_blf:
        hints = tuple(sorted({n for p in patterns for n in p.expand()}, key=lambda n: (len(n), n)))
    # A number that is also ours (W_LOCAL_EXTENSION_IN_PEER_PATTERN, e.g. 250 on both stations) is ours:
    # no hint for the peer's one, and its device state is never accepted, or it would light our own lamp
    # (Asterisk merges same-named devices of all stations).
    accept_regex = patterns_regex(patterns)
    if is_blf and local:
        covered = {n for p in patterns if p.size() <= MAX_NUMBERS_PER_PEER for n in p.expand()}
        if covered & local:
            hints = tuple(n for n in hints if n not in local)
            accept_regex = numbers_regex(frozenset(covered - local)) or "-"  # "-": matches no device
    return PeerPlan(
        name=peer.name,
        host=peer.host,
        port=peer.port,
        transport=peer.transport,
        secret=peer.secret,
        note=peer.note,
        provider_id=provider_id(peer.name),
        patterns=tuple(p.text for p in patterns),
        asterisk_patterns=tuple(p.asterisk() for p in patterns),
        accept_regex=accept_regex,
        routes=routes,
        hint_numbers=hints,
        is_blf=is_blf,
        is_transfers=_switch(peer.transfers, s.transfers_default),
        is_overlap_fix=_switch(peer.overlap_fix, s.overlap_fix_default),
        is_reachable=not runtime.is_down(peer.name),
        is_paired=peer.paired,
        publish_epoch=runtime.publish_epoch(peer.name),
        has_directory=directory is not None,
        is_lamp_driven=runtime.drives_lamps,
        fallback=breakout.fallback,
        transit=breakout.transit,
        via_routes=tuple(RoutePlan(p.text, *p.route_parts()) for p in breakout.via),
        carries_states=peer.paired and is_blf and runtime.carries_states_of(peer.name),
    )
