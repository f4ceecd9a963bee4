"""Calls that leave through the public network for a peer (issue #15), planned as plain data.

PSTN fallback: when a peer's station answers nothing, calls to its numbers go out through one of this station's
providers, rewritten into the peer's public numbers, with our caller's public number. Transit: a peer may call out
through one of our providers, only to the numbers granted to it, at most N at a time, with our public number; and
the numbers a peer grants us become routes to its trunk. The checks are core/fields.py's and core/checks.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_worker.core.checks import check_fallback, check_transit, provider_route_for
from python_worker.core.config import PeerConfig, Settings
from python_worker.core.patterns import Pattern, PatternError, parse_pattern, patterns_regex
from python_worker.core.problems import Problem
from python_worker.core.public_fields import (
    check_fallback_fields,
    check_transit_fields,
    check_via_fields,
    parse_public_patterns,
)
from python_worker.core.station import StationSnapshot

# After the module's own routes (priority 0) in Core's [outgoing], so a peer's trunk is always tried first.
FALLBACK_ROUTE_PRIORITY = 1


@dataclass(frozen=True)
class CallerRewrite:
    """How one of this station's own callers becomes its public number on a call that leaves for a peer:
    `prepend` + the extension without its first `trim` digits, or, with neither, the station's `number`."""

    own_regex: str
    trim: int
    prepend: str
    number: str

    @property
    def is_per_extension(self) -> bool:
        return bool(self.prepend) or self.trim > 0

    def apply(self, caller: str) -> str:
        return self.prepend + caller[self.trim:] if self.is_per_extension else self.number


@dataclass(frozen=True)
class FallbackRoute:
    """One fallback route: the peer's pattern, the number rewrite Core applies (ours composed with the provider
    route whose number format it follows, `follows`), and an example."""

    pattern: str
    numberbeginswith: str
    restnumbers: int
    trimfrombegin: int
    prepend: str
    follows: str  # the rulename of the provider's route that sets the number format
    example: tuple[str, str]  # (a number of the pattern, what the provider is sent)


@dataclass(frozen=True)
class FallbackPlan:
    provider_id: str
    provider_name: str
    routes: tuple[FallbackRoute, ...]


@dataclass(frozen=True)
class TransitPlan:
    """What a peer may call out through this station: exactly `patterns`, through `provider_id`."""

    patterns: tuple[str, ...]
    regex: str
    provider_id: str
    provider_name: str
    limit: int | None
    callerid: str

    @property
    def group(self) -> str:
        """The GROUP() category the peer's transit calls are counted in."""
        return "pbxfed-transit"


@dataclass(frozen=True)
class Breakout:
    fallback: FallbackPlan | None = None
    transit: TransitPlan | None = None
    via: tuple[Pattern, ...] = ()


def caller_rewrite(settings: Settings, own_regex: str) -> CallerRewrite:
    return CallerRewrite(own_regex, settings.public_trim, settings.public_prepend, settings.public_number)


def plan_breakout(peer: PeerConfig, patterns: list[Pattern], own: list[Pattern], snapshot: StationSnapshot,
                  settings: Settings, federation_ids: frozenset[str]) -> tuple[Breakout, list[Problem]]:
    """The peer's fallback, transit and via numbers, each left out alone when it has an error (the trunk itself
    still plans: a provider deleted later must not cut the office off), with every problem found."""
    problems: list[Problem] = []
    fallback = transit = None
    via: tuple[Pattern, ...] = ()
    if peer.has_fallback() or peer.fallback_prepend or peer.fallback_trim:
        found = _merged(check_fallback_fields(peer), check_fallback(peer, patterns, snapshot, settings, federation_ids))
        if not found and peer.has_fallback():
            fallback = _fallback(peer, patterns, snapshot)
        problems += found
    if peer.has_transit() or peer.transit_provider or peer.transit_callerid or peer.transit_limit is not None:
        try:
            granted = parse_public_patterns(peer.transit_patterns) if peer.has_transit() else []
        except PatternError:
            granted = []
        found = _merged(check_transit_fields(peer),
                        check_transit(peer, granted, own, snapshot, settings, federation_ids))
        if not found:
            prov = next(p for p in snapshot.providers if p.uniqid == peer.transit_provider)
            transit = TransitPlan(tuple(p.text for p in granted), patterns_regex(granted), prov.uniqid,
                                  prov.description or prov.uniqid, peer.transit_limit,
                                  peer.transit_callerid or settings.public_number)
        problems += found
    found = check_via_fields(peer)
    if not found and peer.via_patterns.strip():
        via = tuple(parse_public_patterns(peer.via_patterns))
    problems += found
    return Breakout(fallback, transit, via), problems


def _merged(fields: list[Problem], station: list[Problem]) -> list[Problem]:
    """The field checks' problems, then the station checks' ones on other fields (one problem per field)."""
    named = {p.field for p in fields}
    return fields + [p for p in station if p.field not in named]


def _fallback(peer: PeerConfig, patterns: list[Pattern], snapshot: StationSnapshot) -> FallbackPlan | None:
    prov = next(p for p in snapshot.providers if p.uniqid == peer.fallback_provider)
    routes = sorted((r for r in snapshot.outgoing_routes if r.providerid == prov.uniqid and not r.is_owned),
                    key=lambda r: (r.priority, r.id))
    out = []
    for pat in patterns:
        follows, _ = provider_route_for(pat, peer.fallback_trim, peer.fallback_prepend, routes)
        assert follows is not None  # check_fallback made sure
        trim, prepend = follows.after(peer.fallback_trim, peer.fallback_prepend)
        begins, rest = pat.route_parts()
        first = pat.expand()[0]
        out.append(FallbackRoute(pat.text, begins, rest, trim, prepend, follows.rulename,
                                 (first, prepend + first[trim:])))
    return FallbackPlan(prov.uniqid, prov.description or prov.uniqid, tuple(out))


def rewritten_pattern(pattern: str, trim: int, prepend: str) -> str:
    """How a fallback route's numbers look on the wire, as a pattern (for people): `3XX`, 0, `78125550` ->
    `781255503XX`."""
    try:
        pat = parse_pattern(pattern)
    except PatternError:
        return pattern
    return prepend + pat.text[_text_index(pat, trim):]


def _text_index(pat: Pattern, positions: int) -> int:
    """Where position `positions` starts in the pattern's text (a `[..]` class is one position)."""
    text, i, seen = pat.text, 0, 0
    while seen < positions and i < len(text):
        i = text.index("]", i) + 1 if text[i] == "[" else i + 1
        seen += 1
    return i
