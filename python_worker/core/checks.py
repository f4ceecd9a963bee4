"""The checks of a configuration as a whole against the station: identities, overlaps, the admin's own records.

Each check adds problems and excludes the peers an error makes unplannable; the others still plan.
"""

from __future__ import annotations

import re
from itertools import combinations

from python_worker.core.config import ModuleConfig, PeerConfig
from python_worker.core.fields import host_key, is_number, name_key
from python_worker.core.patterns import Pattern, patterns_overlap
from python_worker.core.problems import Problem, problem
from python_worker.core.station import StationSnapshot

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
