"""The rules for every single field, wherever its value comes from (the CLI, the admin form, a module.db row, the
sync wire): strict by whitelist, bounded, and with one canonical form for comparing values. The PSTN fallback,
transit and public-number fields (issue #15) follow the same rules in core/public_fields.py.

One home: core/inputs.py (CLI and form), db/moduledb.py (rows), sync/messages.py (the wire) and the planner all
call these functions, so a rule changes in one place. A new peer field gets its checker in PEER_FIELD_CHECKS.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from python_worker.core.patterns import (
    MAX_PATTERNS,
    MAX_PATTERNS_TEXT,
    PatternError,
    is_number,
    parse_pattern_list,
)
from python_worker.core.problems import Problem, problem

if TYPE_CHECKING:  # config.py imports name_key from here
    from python_worker.core.config import PeerConfig

__all__ = ["is_number"]

# Bounds: every text and count the module takes from outside has one.
MAX_NAME = 32
MAX_HOST = 253
MAX_SECRET = 128
MAX_NOTE = 256
MAX_DISPLAY_NAME = 64
MAX_PEERS = 200
MAX_TTL = 7 * 86400.0

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")  # always used with fullmatch: `$` would let "\n" through
_HOST_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # decimal, no leading zero: 127.000.0.9 is refused
_IPV4_RE = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}")
# Numbers that inet_aton would read as an IPv4 address (0x7f000009, 127.1, 0177.0.0.1): never a DNS name.
_NUMERIC_HOST_RE = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?", re.IGNORECASE)
_IPV6_CHARS_RE = re.compile(r"[0-9A-Fa-f:.]+")
_SECRET_RE = re.compile(r"[\x21-\x7e]+")
_SECRET_FORBIDDEN = frozenset(';#[]"\\')
_Z85_KEY_RE = re.compile(r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}")
_TEXT_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
TRANSPORTS = ("udp", "tcp", "tls")
WEAK_SECRET_LENGTH = 16


# ---- names -------------------------------------------------------------------------------------------------
def is_valid_name(name: object) -> bool:
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def name_key(name: str) -> str:
    """The form two names are compared in: Unicode-normalised, case-folded, without any space or invisible
    character (NBSP, zero-width space, BOM ...). 'SPB', 'spb ' and 'spb\\u00a0' all have the key 'spb'."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(c for c in folded if not (c.isspace() or unicodedata.category(c) in _TEXT_FORBIDDEN_CATEGORIES))


def default_station_name(pbx_name: str) -> str:
    """A valid station identifier derived from the PBX's display name."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", pbx_name.strip()).strip("-")[:MAX_NAME]
    return slug if is_valid_name(slug) else "station"


# ---- hosts -------------------------------------------------------------------------------------------------
class HostError(ValueError):
    """Why a host is refused: 'invalid' (not an address or a name) or 'unusable' (an address no peer can have)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _unusable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if ip.is_unspecified or ip.is_multicast:
        return True
    if isinstance(ip, ipaddress.IPv4Address):
        return ip == ipaddress.IPv4Address("255.255.255.255") or ip in ipaddress.IPv4Network("0.0.0.0/8") \
            or ip in ipaddress.IPv4Network("240.0.0.0/4")
    # link-local needs a zone (refused), mapped/compatible addresses are IPv4 written another way
    compatible = ip in ipaddress.IPv6Network("::/96") and not ip.is_loopback
    return ip.is_link_local or ip.ipv4_mapped is not None or compatible


def parse_host(host: object) -> str:
    """The canonical form of a peer's host, or HostError.

    Accepted: IPv4 as four decimal numbers (no leading zeros), IPv6 without a zone (returned compressed, lower
    case), or a DNS name of ASCII letters, digits, '-' and '.' (returned lower case, without a trailing dot) that
    does not read as a number. Refused as unusable: 0.0.0.0/8, ::, multicast, broadcast, 240/4, IPv6 link-local and
    IPv4-mapped. Loopback is allowed (single-box labs and tests)."""
    if not isinstance(host, str) or not host or len(host) > MAX_HOST:
        raise HostError("invalid")
    if _IPV4_RE.fullmatch(host):
        ip4 = ipaddress.IPv4Address(host)
        if _unusable(ip4):
            raise HostError("unusable")
        return str(ip4)
    if ":" in host:
        if not _IPV6_CHARS_RE.fullmatch(host):  # a zone (%eth0), brackets, spaces ...
            raise HostError("invalid")
        try:
            ip6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise HostError("invalid") from None
        if _unusable(ip6):
            raise HostError("unusable")
        return ip6.compressed
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if not name or not all(_HOST_LABEL_RE.fullmatch(label) for label in labels):
        raise HostError("invalid")
    if _NUMERIC_HOST_RE.fullmatch(name) or labels[-1].isdigit():
        raise HostError("invalid")  # 0x7f000009, 127.000.0.9, 2130706441: numbers, not names
    return name.lower()


def is_valid_host(host: object) -> bool:
    try:
        parse_host(host)
    except HostError:
        return False
    return True


def host_key(host: str) -> str:
    """The form two hosts are compared in (duplicates, our own addresses, the admin's providers)."""
    try:
        return parse_host(host.strip())
    except HostError:
        return host.strip().lower()


def ip_literal(host: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address when `host` is a valid IP literal (as parse_host accepts it), else None."""
    try:
        canonical = parse_host(host)
    except HostError:
        return None
    try:
        return ipaddress.ip_address(canonical)
    except ValueError:
        return None


def is_ip_literal(host: object) -> bool:
    return ip_literal(host) is not None


# ---- numbers -----------------------------------------------------------------------------------------------
def is_port(value: object) -> bool:
    """A TCP/UDP port: an int (never a bool) from 1 to 65535."""
    return type(value) is int and 1 <= value <= 65535


def ascii_int(text: object) -> int | None:
    """An int written in ASCII digits ('5060', '-1'); None for '٥٠٦٠', '5_060', ' 5060', '', 5060.0, True."""
    if type(text) is int:
        return text
    if not isinstance(text, str) or not re.fullmatch(r"-?[0-9]{1,12}", text):
        return None
    return int(text)


def finite_number(value: object, low: float, high: float) -> float | None:
    """A real number within [low, high] (ints and floats, or their ASCII text); None for inf, nan, bools, '1e999'."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not re.fullmatch(r"-?[0-9]{1,12}(\.[0-9]{1,9})?", value):
            return None
        value = float(value)
    if not isinstance(value, int | float) or not math.isfinite(value) or not low <= value <= high:
        return None
    return float(value)


# ---- texts -------------------------------------------------------------------------------------------------
def is_plain_text(text: object, limit: int) -> bool:
    """Free text (a note, a display name): at most `limit` characters, no control, format, private-use,
    unassigned or line/paragraph separator characters (so it can never start a line anywhere it is shown)."""
    return isinstance(text, str) and len(text) <= limit and not any(
        unicodedata.category(c) in _TEXT_FORBIDDEN_CATEGORIES for c in text)


def is_valid_key(key: object) -> bool:
    """A CurveZMQ public key in Z85 (40 characters)."""
    return isinstance(key, str) and _Z85_KEY_RE.fullmatch(key) is not None


def secret_problem(peer: str | None, secret: object) -> Problem | None:
    """E_SECRET_MISSING / E_SECRET_INVALID / W_SECRET_WEAK for a trunk secret, or None."""
    if not isinstance(secret, str) or not secret:
        return problem("E_SECRET_MISSING", peer, "secret")
    if len(secret) > MAX_SECRET or not _SECRET_RE.fullmatch(secret) or _SECRET_FORBIDDEN & set(secret):
        return problem("E_SECRET_INVALID", peer, "secret", limit=MAX_SECRET)
    if len(secret) < WEAK_SECRET_LENGTH:
        return problem("W_SECRET_WEAK", peer, "secret", limit=WEAK_SECRET_LENGTH)
    return None


# ---- one peer ----------------------------------------------------------------------------------------------
def _check_name(peer: PeerConfig) -> list[Problem]:
    return [] if is_valid_name(peer.name) else [problem("E_NAME_INVALID", peer.name, "name", value=peer.name)]


def _check_host(peer: PeerConfig) -> list[Problem]:
    try:
        parse_host(peer.host)  # the boundaries store the canonical form; comparisons use host_key
    except HostError as exc:
        code = "E_HOST_UNUSABLE" if exc.kind == "unusable" else "E_HOST_INVALID"
        return [problem(code, peer.name, "host", value=peer.host)]
    return []


def _check_port(peer: PeerConfig) -> list[Problem]:
    return [] if is_port(peer.port) else [problem("E_PORT_INVALID", peer.name, "port", value=peer.port)]


def _check_transport(peer: PeerConfig) -> list[Problem]:
    if isinstance(peer.transport, str) and peer.transport in TRANSPORTS:
        return []
    return [problem("E_TRANSPORT_INVALID", peer.name, "transport", value=peer.transport)]


def _check_patterns(peer: PeerConfig) -> list[Problem]:
    try:
        parse_pattern_list(peer.patterns)
    except PatternError as exc:
        return [problem("E_PATTERN_INVALID", peer.name, "patterns", value=peer.patterns, reason=exc)]
    return []


def _check_secret(peer: PeerConfig) -> list[Problem]:
    found = secret_problem(peer.name, peer.secret)
    return [] if found is None else [found]


def _check_note(peer: PeerConfig) -> list[Problem]:
    if is_plain_text(peer.note, MAX_NOTE):
        return []
    return [problem("E_TEXT_INVALID", peer.name, "note", limit=MAX_NOTE)]


def _check_sync(peer: PeerConfig) -> list[Problem]:
    out = []
    if peer.sync_port is not None and not is_port(peer.sync_port):
        out.append(problem("E_PORT_INVALID", peer.name, "sync_port", value=peer.sync_port))
    if peer.public_key and not is_valid_key(peer.public_key):
        out.append(problem("E_KEY_INVALID", peer.name, "public_key"))
    return out


# field -> its check; the order is the order problems are reported in. New peer fields add theirs here.
PEER_FIELD_CHECKS: dict[str, Callable[[PeerConfig], list[Problem]]] = {
    "name": _check_name,
    "host": _check_host,
    "port": _check_port,
    "transport": _check_transport,
    "patterns": _check_patterns,
    "secret": _check_secret,
    "note": _check_note,
    "sync": _check_sync,
}
# The PSTN fallback, transit and via fields have their checkers in core/public_fields.py (check_fallback_fields,
# check_transit_fields, check_via_fields), called by core/breakout.py: an error there leaves out only that feature,
# never the trunk (a provider deleted later must not cut the office link), so they are not in PEER_FIELD_CHECKS,
# whose errors leave the whole peer out.


def check_peer_fields(peer: PeerConfig) -> list[Problem]:
    """Checks of one peer's own fields, independent of other peers and of the station."""
    out: list[Problem] = []
    for check in PEER_FIELD_CHECKS.values():
        out += check(peer)
    return out


def check_settings_fields(station_name: str, display_name: str) -> list[Problem]:
    """The station's own single-value fields (its patterns are the planner's)."""
    out = []
    if station_name and not is_valid_name(station_name):
        out.append(problem("E_NAME_INVALID", None, "station_name", value=station_name))
    if not is_plain_text(display_name, MAX_DISPLAY_NAME):
        out.append(problem("E_TEXT_INVALID", None, "display_name", limit=MAX_DISPLAY_NAME))
    return out


__all__ += ["MAX_PATTERNS", "MAX_PATTERNS_TEXT"]
