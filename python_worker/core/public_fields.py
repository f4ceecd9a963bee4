"""The rules of the fields that reach the public network (issue #15): the PSTN fallback of a peer, the transit
it is granted and the numbers it lets us call through it (via), and the station's public number. Whitelists,
bounded, like every field of core/fields.py; an error here leaves out only that feature of the peer, never its
trunk (core/breakout.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from python_worker.core.patterns import Pattern, PatternError, parse_pattern_list
from python_worker.core.problems import Problem, problem

if TYPE_CHECKING:
    from python_worker.core.config import PeerConfig, Settings

# A number the public network sees (or a prefix of one): ASCII digits, an optional leading '+'.
# Always used with fullmatch (`$` would let a trailing "\n" through).
_NUMBER_RE = re.compile(r"\+?[0-9]{1,16}")
_PREPEND_RE = re.compile(r"\+?[0-9]{0,16}")
_PROVIDER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_TRIM = 15
# Transit and via patterns are whole public numbers: at least this many digits, so no emergency number (112, 911,
# 999, 000, 01-04, 101-104) and no short service number can ever match one.
MIN_TRANSIT_DIGITS = 7
MAX_TRANSIT_PATTERNS = 20
MAX_PUBLIC_PATTERNS_TEXT = 400
MAX_TRANSIT_LIMIT = 1000


def is_public_number(value: object) -> bool:
    return isinstance(value, str) and _NUMBER_RE.fullmatch(value) is not None


def is_prepend(value: object) -> bool:
    return isinstance(value, str) and _PREPEND_RE.fullmatch(value) is not None


def is_provider_id(value: object) -> bool:
    return isinstance(value, str) and _PROVIDER_ID_RE.fullmatch(value) is not None


def parse_public_patterns(raw: str) -> list[Pattern]:
    """A transit/via pattern list: fixed-length patterns of whole public numbers, at most MAX_TRANSIT_PATTERNS.
    Raises PatternError with the reason (the message says which pattern)."""
    if not isinstance(raw, str):
        raise PatternError("not a text")
    if len(raw) > MAX_PUBLIC_PATTERNS_TEXT:
        raise PatternError(f"longer than {MAX_PUBLIC_PATTERNS_TEXT} characters")
    patterns = parse_pattern_list(raw)
    if len(patterns) > MAX_TRANSIT_PATTERNS:
        raise PatternError(f"more than {MAX_TRANSIT_PATTERNS} patterns")
    return patterns


def _short_patterns(patterns: list[Pattern]) -> list[Pattern]:
    return [p for p in patterns if p.length < MIN_TRANSIT_DIGITS]


def check_public_settings(settings: Settings) -> list[Problem]:
    """The station's public number and its extension-to-public-number rewrite (station-wide problems)."""
    out: list[Problem] = []
    if settings.public_number and not is_public_number(settings.public_number):
        out.append(problem("E_PUBLIC_NUMBER_INVALID", None, "public_number", value=settings.public_number))
    if not 0 <= settings.public_trim <= MAX_TRIM:
        out.append(problem("E_PUBLIC_TRIM_INVALID", None, "public_trim", limit=MAX_TRIM))
    if not is_prepend(settings.public_prepend):
        out.append(problem("E_PUBLIC_PREPEND_INVALID", None, "public_prepend", value=settings.public_prepend))
    return out


def check_fallback_fields(peer: PeerConfig) -> list[Problem]:
    """The fallback fields of one peer on their own (their fit with the station is core/checks.py's)."""
    if not peer.has_fallback() and not peer.fallback_prepend and not peer.fallback_trim:
        return []
    out: list[Problem] = []
    name = peer.name
    if not peer.has_fallback():
        out.append(problem("E_FALLBACK_PROVIDER_MISSING", name, "fallback_provider"))
    elif not is_provider_id(peer.fallback_provider):
        out.append(problem("E_FALLBACK_PROVIDER_UNKNOWN", name, "fallback_provider", value=peer.fallback_provider))
    if not 0 <= peer.fallback_trim <= MAX_TRIM:
        out.append(problem("E_FALLBACK_TRIM_INVALID", name, "fallback_trim", limit=MAX_TRIM))
    if not is_prepend(peer.fallback_prepend):
        out.append(problem("E_FALLBACK_PREPEND_INVALID", name, "fallback_prepend", value=peer.fallback_prepend))
    return out


def check_transit_fields(peer: PeerConfig) -> list[Problem]:
    """The transit grant of one peer on its own: whole public numbers only, a provider, a sane cap and caller."""
    if not peer.has_transit() and not peer.transit_provider and not peer.transit_callerid \
            and peer.transit_limit is None:
        return []
    out: list[Problem] = []
    name = peer.name
    if not peer.has_transit():
        out.append(problem("E_TRANSIT_PATTERNS_MISSING", name, "transit_patterns"))
    else:
        try:
            short = _short_patterns(parse_public_patterns(peer.transit_patterns))
        except PatternError as exc:
            out.append(problem("E_TRANSIT_PATTERN_INVALID", name, "transit_patterns", value=peer.transit_patterns,
                               reason=exc))
        else:
            out += [problem("E_TRANSIT_PATTERN_SHORT", name, "transit_patterns", value=p.text,
                            limit=MIN_TRANSIT_DIGITS) for p in short]
    if not peer.transit_provider:
        out.append(problem("E_TRANSIT_PROVIDER_MISSING", name, "transit_provider"))
    elif not is_provider_id(peer.transit_provider):
        out.append(problem("E_TRANSIT_PROVIDER_UNKNOWN", name, "transit_provider", value=peer.transit_provider))
    if peer.transit_limit is not None and not 1 <= peer.transit_limit <= MAX_TRANSIT_LIMIT:
        out.append(problem("E_TRANSIT_LIMIT_INVALID", name, "transit_limit", limit=MAX_TRANSIT_LIMIT))
    if peer.transit_callerid and not is_public_number(peer.transit_callerid):
        out.append(problem("E_TRANSIT_CALLERID_INVALID", name, "transit_callerid", value=peer.transit_callerid))
    return out


def check_via_fields(peer: PeerConfig) -> list[Problem]:
    """The numbers this peer lets us call out through it: whole public numbers only."""
    if not peer.via_patterns.strip():
        return []
    try:
        short = _short_patterns(parse_public_patterns(peer.via_patterns))
    except PatternError as exc:
        return [problem("E_VIA_PATTERN_INVALID", peer.name, "via_patterns", value=peer.via_patterns, reason=exc)]
    return [problem("E_VIA_PATTERN_SHORT", peer.name, "via_patterns", value=p.text, limit=MIN_TRANSIT_DIGITS)
            for p in short]
