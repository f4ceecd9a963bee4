"""The module's own configuration as plain data, and the field checks the form and the worker share."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from python_worker.core.patterns import PatternError, parse_pattern_list
from python_worker.core.problems import Problem, problem

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_SECRET_RE = re.compile(r'^[\x21-\x7e]+$')
_SECRET_FORBIDDEN = set(';#[]"\\')
TRANSPORTS = ("udp", "tcp", "tls")
WEAK_SECRET_LENGTH = 16


@dataclass(frozen=True)
class Settings:
    """This station's own settings (the single row of m_ModulePbxFederation)."""

    station_name: str = ""
    display_name: str = ""
    own_patterns: str = ""
    blf_default: bool = True
    transfers_default: bool = True
    overlap_fix_default: bool = False


@dataclass(frozen=True, order=True)
class PeerConfig:
    """One row of m_ModulePbxFederationPeers. None in a switch means "station default"."""

    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    patterns: str = ""
    secret: str = ""
    enabled: bool = True
    blf: bool | None = None
    transfers: bool | None = None
    overlap_fix: bool | None = None
    note: str = ""
    paired: bool = False  # added by pairing: its directory is synced, its key pinned
    sync_port: int | None = None
    public_key: str = ""  # CurveZMQ public key (Z85), pinned at pairing


@dataclass(frozen=True, order=True)
class DirectoryEntry:
    """One extension a peer shows to its peers."""

    number: str
    name: str
    kind: str  # m_Extensions.type: SIP, QUEUE, IVR MENU, CONFERENCE, DIALPLAN APPLICATION


@dataclass(frozen=True)
class RemoteDirectory:
    """The last directory a paired peer sent: plain data the planner reads, never fetches."""

    peer: str
    version: str
    module_version: str
    patterns: str
    entries: tuple[DirectoryEntry, ...]


@dataclass(frozen=True)
class ModuleConfig:
    settings: Settings
    peers: tuple[PeerConfig, ...]
    directories: tuple[RemoteDirectory, ...] = ()

    def directory(self, peer: str) -> RemoteDirectory | None:
        """The synced directory of `peer` (case-insensitive), or None for a hand-made or unsynced peer."""
        return next((d for d in self.directories if d.peer.lower() == peer.lower()), None)

    def with_peer(self, peer: PeerConfig) -> ModuleConfig:
        """The config with `peer` added, or replacing the peer of the same name."""
        others = tuple(p for p in self.peers if p.name.lower() != peer.name.lower())
        return replace(self, peers=(*others, peer))


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
