"""The module's own configuration as plain data (what module.db holds), and how a switch value reads."""

from __future__ import annotations

from dataclasses import dataclass, replace

from python_worker.core.fields import name_key

_ON = frozenset({"1", "true", "on", "yes"})
_OFF = frozenset({"0", "false", "off", "no"})


def parse_switch(value: object) -> bool | None:
    """How every switch reads, wherever it comes from (a module.db row, the admin form, a CLI flag):
    1/true/on/yes and 0/false/off/no in any case; None for empty or anything else ("station default")."""
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    word = str(value).strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    return None


def switch_or(value: object, default: bool) -> bool:
    """A switch with a default for empty or unreadable values."""
    parsed = parse_switch(value)
    return default if parsed is None else parsed


@dataclass(frozen=True)
class Settings:
    """This station's own settings (the single row of m_ModulePbxFederation)."""

    station_name: str = ""
    display_name: str = ""
    own_patterns: str = ""
    blf_default: bool = True
    transfers_default: bool = True
    overlap_fix_default: bool = False
    # This station's number in the public network, and how one of its own extensions becomes its public number
    # (drop `public_trim` leading digits, put `public_prepend` in front; both empty: every extension presents
    # `public_number`). Used as the caller number of calls that leave through a public provider for a peer.
    public_number: str = ""
    public_trim: int = 0
    public_prepend: str = ""


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
    # PSTN fallback: when the peer's station answers nothing, calls to its numbers go out through this station's
    # provider `fallback_provider`, the number rewritten like a MikoPBX route (trim, then prepend). '' = off.
    fallback_provider: str = ""
    fallback_trim: int = 0
    fallback_prepend: str = ""
    # Transit: numbers of `transit_patterns` the peer may call out through this station's `transit_provider`,
    # at most `transit_limit` at a time (None: no cap), presenting `transit_callerid` (else the station's public
    # number). '' = off.
    transit_patterns: str = ""
    transit_provider: str = ""
    transit_limit: int | None = None
    transit_callerid: str = ""
    # The other way round: numbers this peer lets us call out through it (its grant; for a paired peer the sync
    # link keeps this equal to what the peer grants us).
    via_patterns: str = ""

    def has_fallback(self) -> bool:
        return bool(self.fallback_provider.strip())

    def has_transit(self) -> bool:
        return bool(self.transit_patterns.strip())

    def with_local_settings_of(self, old: PeerConfig) -> PeerConfig:
        """This peer (as pairing made it) keeping what the admin set for it here: fallback and transit."""
        return replace(self, **{f: getattr(old, f) for f in LOCAL_PEER_SETTINGS})


# The peer columns only this station's admin sets (pairing and directory sync never overwrite them).
LOCAL_PEER_SETTINGS = ("fallback_provider", "fallback_trim", "fallback_prepend", "transit_patterns",
                       "transit_provider", "transit_limit", "transit_callerid")


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
    grant: str = ""  # the numbers the peer lets this station call out through it (transit), as it sent them


@dataclass(frozen=True)
class ModuleConfig:
    settings: Settings
    peers: tuple[PeerConfig, ...]
    directories: tuple[RemoteDirectory, ...] = ()

    def directory(self, peer: str) -> RemoteDirectory | None:
        """The synced directory of `peer` (case-insensitive), or None for a hand-made or unsynced peer."""
        return next((d for d in self.directories if name_key(d.peer) == name_key(peer)), None)

    def synced_directory(self, peer: PeerConfig) -> RemoteDirectory | None:
        """A paired peer's synced directory; hand-made peers keep pattern expansion."""
        return self.directory(peer.name) if peer.paired else None

    def with_peer(self, peer: PeerConfig) -> ModuleConfig:
        """The config with `peer` added, or replacing the peer of the same name."""
        others = tuple(p for p in self.peers if name_key(p.name) != name_key(peer.name))
        return replace(self, peers=(*others, peer))

    def peer(self, name: str) -> PeerConfig | None:
        """The peer of that name (compared by name_key), or None."""
        return next((p for p in self.peers if name_key(p.name) == name_key(name)), None)
