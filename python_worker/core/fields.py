"""Checks of single fields (names, hosts, ports, transports, patterns, secrets) shared by every entry point."""

from __future__ import annotations

import ipaddress
import re

from python_worker.core.config import PeerConfig
from python_worker.core.patterns import PatternError, parse_pattern_list
from python_worker.core.problems import Problem, problem

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_SECRET_RE = re.compile(r'^[\x21-\x7e]+$')
_SECRET_FORBIDDEN = set(';#[]"\\')
TRANSPORTS = ("udp", "tcp", "tls")
WEAK_SECRET_LENGTH = 16


def is_valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name))


def is_valid_host(host: str) -> bool:
    if not host or len(host) > 253:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(_HOST_LABEL_RE.match(label) for label in labels) and not labels[-1].isdigit()


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_peer_fields(peer: PeerConfig) -> list[Problem]:
    """Checks of one peer's own fields, independent of other peers and of the station."""
    out: list[Problem] = []
    name = peer.name
    if not is_valid_name(peer.name):
        out.append(problem("E_NAME_INVALID", name, "name", value=peer.name))
    if not is_valid_host(peer.host):
        out.append(problem("E_HOST_INVALID", name, "host", value=peer.host))
    if not 1 <= peer.port <= 65535:
        out.append(problem("E_PORT_INVALID", name, "port", value=peer.port))
    if peer.transport not in TRANSPORTS:
        out.append(problem("E_TRANSPORT_INVALID", name, "transport", value=peer.transport))
    try:
        parse_pattern_list(peer.patterns)
    except PatternError as exc:
        out.append(problem("E_PATTERN_INVALID", name, "patterns", value=peer.patterns, reason=exc))
    if not peer.secret:
        out.append(problem("E_SECRET_MISSING", name, "secret"))
    elif not _SECRET_RE.match(peer.secret) or _SECRET_FORBIDDEN & set(peer.secret):
        out.append(problem("E_SECRET_INVALID", name, "secret"))
    elif len(peer.secret) < WEAK_SECRET_LENGTH:
        out.append(problem("W_SECRET_WEAK", name, "secret", limit=WEAK_SECRET_LENGTH))
    return out


def default_station_name(pbx_name: str) -> str:
    """A valid station identifier derived from the PBX's display name."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", pbx_name.strip()).strip("-")[:32]
    return slug if is_valid_name(slug) else "station"
