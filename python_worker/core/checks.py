"""The checks of a configuration as a whole against the station: identities, overlaps, the admin's own records,
and the fit of a peer's PSTN fallback and transit with this station's providers and routes.

Each check adds problems and excludes the peers an error makes unplannable; the others still plan.
"""

from __future__ import annotations

import re
from itertools import combinations

from python_worker import FALLBACK_NOTE_PREFIX, OWNER_MARK
from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.fields import host_key, is_number, name_key
from python_worker.core.patterns import Pattern, patterns_overlap
from python_worker.core.problems import Problem, problem
from python_worker.core.public_fields import MAX_TRIM, is_prepend, is_provider_id
from python_worker.core.station import OutgoingRoute, StationSnapshot

MAX_NUMBERS_PER_PEER = 10_000


def check_identity(
    enabled: list[PeerConfig],
    station: str,
    snapshot: StationSnapshot,
    problems: list[Problem],
    excluded: set[str],
) -> None:
    by_name: dict[str, list[PeerConfig]] = {}
    by_address: dict[tuple[str, int], list[PeerConfig]] = {}
    own_addresses = {host_key(a) for a in snapshot.own_addresses}
    for peer in enabled:
        by_name.setdefault(name_key(peer.name), []).append(peer)
        by_address.setdefault((host_key(peer.host), peer.port), []).append(peer)
        own_address = host_key(peer.host) in own_addresses and peer.port == snapshot.sip_port
        if name_key(peer.name) == name_key(station) or own_address:
            problems.append(problem("E_SELF_PEER", peer.name, "name" if not own_address else "host",
                                    value=peer.name))
            excluded.add(peer.name)
    for same in by_name.values():
        if len(same) > 1:
            for peer in same:
                problems.append(problem("E_DUPLICATE_PEER_NAME", peer.name, "name", value=peer.name))
                excluded.add(peer.name)
    for (host, port), same in by_address.items():
        if len(same) > 1:
            for peer in same:
                other = ", ".join(sorted(p.name for p in same if p is not peer))
                problems.append(problem("E_DUPLICATE_HOST_PORT", peer.name, "host",
                                        value=f"{host}:{port}", other=other))
                excluded.add(peer.name)


def check_patterns(
    enabled: list[PeerConfig],
    own: list[Pattern],
    parsed: dict[str, list[Pattern]],
    problems: list[Problem],
    excluded: set[str],
) -> None:
    own_text = ",".join(p.text for p in own)
    for name, patterns in parsed.items():
        total = sum(p.size() for p in patterns)
        if total > MAX_NUMBERS_PER_PEER:
            problems.append(problem("E_PATTERN_TOO_BROAD", name, "patterns",
                                    value=",".join(p.text for p in patterns),
                                    count=total, limit=MAX_NUMBERS_PER_PEER))
            excluded.add(name)
        for pat in patterns:
            if any(patterns_overlap(pat, mine) for mine in own):
                problems.append(problem("E_PATTERN_OVERLAP_LOCAL", name, "patterns", value=pat.text,
                                        other=own_text))
                excluded.add(name)
    names = [p.name for p in enabled if p.name in parsed]
    for a, b in combinations(names, 2):
        for pa in parsed[a]:
            for pb in parsed[b]:
                if patterns_overlap(pa, pb):
                    problems.append(problem("E_PATTERN_OVERLAP_PEER", a, "patterns",
                                            value=pa.text, other=pb.text, other_peer=b))
                    problems.append(problem("E_PATTERN_OVERLAP_PEER", b, "patterns",
                                            value=pb.text, other=pa.text, other_peer=a))
                    excluded.update((a, b))


def check_admin_records(
    enabled: list[PeerConfig],
    snapshot: StationSnapshot,
    parsed: dict[str, list[Pattern]],
    problems: list[Problem],
    excluded: set[str],
    config_dirs: ModuleConfig,
) -> None:
    admin_providers = [p for p in snapshot.providers if not p.is_owned and not p.disabled]
    admin_routes = [r for r in snapshot.outgoing_routes if not r.is_owned]
    local_numbers = [e.number for e in snapshot.extensions if is_number(e.number)]
    for peer in enabled:
        if peer.name not in parsed:
            continue
        for prov in admin_providers:
            if host_key(prov.host) == host_key(peer.host) and prov.port == peer.port:
                # Core would give both providers one shared incoming context (docs/platform.md#providers).
                problems.append(problem("E_PROVIDER_HOST_CONFLICT", peer.name, "host",
                                        value=f"{peer.host}:{peer.port}", other=prov.description or prov.uniqid))
                excluded.add(peer.name)
        directory = config_dirs.synced_directory(peer)
        announced = {e.number for e in directory.entries} if directory is not None else None
        for pat in parsed[peer.name]:
            for number in local_numbers:
                if pat.matches(number) and (announced is None or number in announced):
                    problems.append(problem("W_LOCAL_EXTENSION_IN_PEER_PATTERN", peer.name, "patterns",
                                            value=number, other=pat.text))
            if pat.size() > MAX_NUMBERS_PER_PEER:
                continue
            for route in admin_routes:
                if _route_matches_any(route.numberbeginswith, route.restnumbers, pat):
                    problems.append(problem("W_ADMIN_ROUTE_OVERLAP", peer.name, "patterns",
                                            value=pat.text, other=route.rulename))


def _route_matches_any(numberbeginswith: str, restnumbers: int, pat: Pattern) -> bool:
    if len(numberbeginswith) > 64 or not 0 <= restnumbers <= 32:  # the admin's row, but bounded all the same
        return False
    try:
        rx = re.compile(f"^{numberbeginswith}[0-9]{{{restnumbers}}}$")
    except re.error:
        return False
    return any(rx.match(n) for n in pat.expand())


# ---- PSTN fallback and transit (issue #15): their fit with the station ----

def _provider_problems(uniqid: str, snapshot: StationSnapshot, federation_ids: frozenset[str], peer: str,
                       field: str, what: str, *, outbound_only: bool = False) -> list[Problem]:
    """`what` is FALLBACK or TRANSIT: the provider must be one of this station's own SIP providers to the public
    network, enabled (a disabled one has no route in Core's [outgoing])."""
    prov = next((p for p in snapshot.providers if p.uniqid == uniqid), None)
    if uniqid in federation_ids or (prov is not None and prov.is_owned):  # planned trunks not yet written too
        return [problem(f"E_{what}_PROVIDER_FEDERATION", peer, field,
                        value=prov.description if prov is not None and prov.description else uniqid)]
    if prov is None:
        return [problem(f"E_{what}_PROVIDER_UNKNOWN", peer, field, value=uniqid)]
    if prov.disabled:
        return [problem(f"E_{what}_PROVIDER_DISABLED", peer, field, value=prov.description or uniqid)]
    if outbound_only and prov.registration_type == "inbound":
        return [problem(f"E_{what}_PROVIDER_INBOUND", peer, field, value=prov.description or uniqid)]
    return []


def has_public_caller(settings: Settings) -> bool:
    """Whether calls this station sends to the public network for a peer can present a public caller number."""
    return bool(settings.public_number or settings.public_prepend)


def provider_route_for(pattern: Pattern, trim: int, prepend: str, routes: list[OutgoingRoute]) -> \
        tuple[OutgoingRoute | None, str]:
    """The provider's route (first in Core's priority order) that every number of `pattern`, rewritten, takes;
    or (None, the first rewritten number no route, or another route, takes)."""
    chosen: OutgoingRoute | None = None
    for number in pattern.expand():
        rewritten = prepend + number[trim:]
        dialled = rewritten.removeprefix("+")  # Core's [outgoing] strips a leading + before matching routes
        route = next((r for r in routes if r.matches(dialled)), None)
        if route is None or (chosen is not None and route is not chosen):
            return None, rewritten
        chosen = route
    return chosen, ""


def check_fallback(peer: PeerConfig, patterns: list[Pattern], snapshot: StationSnapshot, settings: Settings,
                   federation_ids: frozenset[str]) -> list[Problem]:
    """The fallback provider exists and goes to the public network, and every number of the peer's patterns,
    rewritten, is a number one of that provider's own routes carries. Parts whose own field is invalid (the field
    checks say so) are left to those."""
    out: list[Problem] = []
    if is_provider_id(peer.fallback_provider):
        out += _provider_problems(peer.fallback_provider, snapshot, federation_ids, peer.name, "fallback_provider",
                                  "FALLBACK")
    shortest = min(p.length for p in patterns)
    trim_ok = 0 <= peer.fallback_trim <= MAX_TRIM
    if trim_ok and peer.fallback_trim >= shortest:
        out.append(problem("E_FALLBACK_TRIM_INVALID", peer.name, "fallback_trim", limit=shortest - 1))
    if not has_public_caller(settings):
        out.append(problem("E_FALLBACK_PUBLIC_NUMBER_MISSING", peer.name, "fallback_provider"))
    if out or not (trim_ok and is_prepend(peer.fallback_prepend) and is_provider_id(peer.fallback_provider)):
        return out
    prov = next(p for p in snapshot.providers if p.uniqid == peer.fallback_provider)
    routes = sorted((r for r in snapshot.outgoing_routes if r.providerid == prov.uniqid and not r.is_owned),
                    key=lambda r: (r.priority, r.id))
    for pat in patterns:
        route, bad = provider_route_for(pat, peer.fallback_trim, peer.fallback_prepend, routes)
        if route is not None and route.after(peer.fallback_trim, peer.fallback_prepend)[0] >= pat.length:
            bad = route.rewrite(peer.fallback_prepend + pat.expand()[0][peer.fallback_trim:])  # nothing of it left
            route = None
        if route is None:
            out.append(problem("E_FALLBACK_REWRITE_OUTSIDE_ROUTES", peer.name, "fallback_prepend", value=bad,
                               other=pat.text, detail=prov.description or prov.uniqid))
    return out


def check_transit(peer: PeerConfig, granted: list[Pattern], own: list[Pattern], snapshot: StationSnapshot,
                  settings: Settings, federation_ids: frozenset[str]) -> list[Problem]:
    """The transit provider exists, goes to the public network and is one this station dials out through; the
    granted numbers (those that parse) are not this station's own; a caller number the public network may see is
    known."""
    out: list[Problem] = []
    if is_provider_id(peer.transit_provider):
        out += _provider_problems(peer.transit_provider, snapshot, federation_ids, peer.name, "transit_provider",
                                  "TRANSIT", outbound_only=True)
    own_text = ",".join(p.text for p in own)
    for pat in granted:
        if any(patterns_overlap(pat, mine) for mine in own):
            out.append(problem("E_TRANSIT_PATTERN_OVERLAP_LOCAL", peer.name, "transit_patterns", value=pat.text,
                               other=own_text))
    if not peer.transit_callerid and not settings.public_number:
        out.append(problem("E_TRANSIT_CALLERID_MISSING", peer.name, "transit_callerid"))
    return out


def check_via(via: dict[str, list[Pattern]], own: list[Pattern], parsed: dict[str, list[Pattern]]) -> list[Problem]:
    """Numbers we call out through a peer: not our own, and not what another peer carries or owns."""
    out: list[Problem] = []
    own_text = ",".join(p.text for p in own)
    for name, patterns in via.items():
        for pat in patterns:
            if any(patterns_overlap(pat, mine) for mine in own):
                out.append(problem("E_VIA_PATTERN_OVERLAP_LOCAL", name, "via_patterns", value=pat.text,
                                   other=own_text))
            for other, theirs in (*via.items(), *parsed.items()):
                if other == name:
                    continue
                for pb in theirs:
                    if patterns_overlap(pat, pb):
                        out.append(problem("E_VIA_PATTERN_OVERLAP_PEER", name, "via_patterns", value=pat.text,
                                           other=pb.text, other_peer=other))
    return out


def check_fallback_order(peer: str, snapshot: StationSnapshot) -> list[Problem]:
    """A fallback route the admin dragged above its trunk's route never fires (its guard finds no failed trunk
    call yet): say so. Identified by their notes (records.json's identity keys)."""
    out: list[Problem] = []
    owned = {r.note: r for r in snapshot.outgoing_routes if r.is_owned}
    prefix = f"{FALLBACK_NOTE_PREFIX}peer {peer} pattern "
    for note, route in owned.items():
        if not note.startswith(prefix):
            continue
        trunk = owned.get(f"{OWNER_MARK} peer {peer} pattern {note[len(prefix):]}")
        if trunk is not None and route.priority <= trunk.priority:
            out.append(problem("W_FALLBACK_ROUTE_ORDER", peer, "fallback_provider", value=peer,
                               detail=route.rulename))
    return out
