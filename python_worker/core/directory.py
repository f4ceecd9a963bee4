"""Station directories as plain data: what a station shows its paired peers, its version, its wire form."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from python_worker import __version__
from python_worker.core.config import DirectoryEntry, ModuleConfig, RemoteDirectory
from python_worker.core.patterns import PatternError, is_number, parse_pattern_list
from python_worker.core.planner import own_patterns_of, station_name_of
from python_worker.core.public_fields import MIN_TRANSIT_DIGITS, parse_public_patterns
from python_worker.core.station import StationSnapshot

# Extension kinds a peer may dial or watch; EXTERNAL (mobile numbers), SYSTEM, MODULES and PARKING stay private.
VISIBLE_KINDS = ("SIP", "QUEUE", "IVR MENU", "CONFERENCE", "DIALPLAN APPLICATION")
MAX_ENTRIES = 20_000
MAX_NAME = 64
MAX_RAW_NAME = 512  # characters of a received name looked at before cleaning
_VERSION_RE = re.compile(r"[0-9A-Za-z.+~-]{1,32}")  # a module version as shown (never a line, never markup)
# What survives of a received name: letters and digits of any script, space and a few marks. Everything else
# (`,` `(` `)` `$` `;` quotes, control characters) could change the meaning of a text it is written into.
_NAME_UNSAFE_RE = re.compile(r"[^\w .@+-]+", flags=re.UNICODE)


class DirectoryError(ValueError):
    """A directory received from a peer that does not have the agreed shape."""


@dataclass(frozen=True)
class LocalDirectory:
    """This station's own directory: what it sends to every paired peer."""

    station: str
    module_version: str
    patterns: str
    entries: tuple[DirectoryEntry, ...]
    grant: str = ""  # the numbers the receiving peer may call out through us (transit): one directory per peer

    @cached_property
    def version(self) -> str:
        """The content's digest, computed once (the sync service asks it at every heartbeat and status)."""
        return directory_version(self.module_version, self.patterns, self.entries, self.grant)

    def for_peer(self, grant: str) -> LocalDirectory:
        """This directory as one peer gets it: with what we grant that peer."""
        return replace(self, grant=grant)

    def to_wire(self) -> dict[str, Any]:
        wire = {"station": self.station, "module_version": self.module_version, "patterns": self.patterns,
                "version": self.version, "entries": [[e.number, e.name, e.kind] for e in self.entries]}
        if self.grant:
            wire["grant"] = self.grant
        return wire


def clean_name(name: str) -> str:
    """A display name safe anywhere in config text; '' when nothing printable is left."""
    return " ".join(_NAME_UNSAFE_RE.sub(" ", name[:MAX_RAW_NAME]).split())[:MAX_NAME].strip()


def directory_version(module_version: str, patterns: str, entries: tuple[DirectoryEntry, ...], grant: str = "") -> str:
    """A digest of the content: both ends compute it, so equal versions mean equal directories. A grant counts
    only when there is one, so a directory without one keeps the digest older modules compute."""
    content: list[Any] = [module_version, patterns, [[e.number, e.name, e.kind] for e in sorted(entries)]]
    if grant:
        content.append(grant)
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def build_local_directory(snapshot: StationSnapshot, config: ModuleConfig) -> LocalDirectory:
    """Every local extension a peer may reach: a visible kind and a number within our own patterns."""
    own = own_patterns_of(config, snapshot)
    entries = sorted({
        DirectoryEntry(e.number, clean_name(e.display_name), e.kind)
        for e in snapshot.extensions
        if e.kind in VISIBLE_KINDS and is_number(e.number) and any(p.matches(e.number) for p in own)
    })
    return LocalDirectory(station=station_name_of(config, snapshot), module_version=__version__,
                          patterns=",".join(p.text for p in own), entries=tuple(entries))


def entries_from_rows(raw: list[object], *, limit: int = MAX_ENTRIES) -> tuple[DirectoryEntry, ...]:
    """Entries `[number, name, kind]` as stored or sent, checked and cleaned; DirectoryError for a wrong shape."""
    if len(raw) > limit:
        raise DirectoryError("too many entries")
    entries: set[DirectoryEntry] = set()
    for item in raw:
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(x, str) for x in item)):
            raise DirectoryError("an entry is not [number, name, kind]")
        number, name, kind = item
        if not is_number(number) or kind not in VISIBLE_KINDS:
            raise DirectoryError(f"bad entry {number[:40]!r} ({kind[:40]!r})")
        entries.add(DirectoryEntry(number, clean_name(name), kind))
    return tuple(sorted(entries))


def directory_from_wire(peer: str, data: object) -> RemoteDirectory:
    """Check a received directory and make it plain data; numbers and names are cleaned, never trusted."""
    if not isinstance(data, dict):
        raise DirectoryError("not an object")
    raw = data.get("entries")
    if not isinstance(raw, list):
        raise DirectoryError("entries missing")
    ordered = entries_from_rows(raw)
    patterns = data.get("patterns")
    if not isinstance(patterns, str):
        raise DirectoryError("patterns missing")
    try:
        parsed = parse_pattern_list(patterns)
    except PatternError as exc:
        raise DirectoryError(f"bad patterns: {exc}") from None
    patterns = ",".join(p.text for p in parsed)  # the normal form: what the peers table then holds
    module_version = data.get("module_version")
    if not isinstance(module_version, str) or not _VERSION_RE.fullmatch(module_version):
        raise DirectoryError("bad module version")
    grant = clean_grant(data.get("grant"))  # its shape (a bounded text) is sync/messages.py's
    return RemoteDirectory(peer=peer, version=directory_version(module_version, patterns, ordered, grant),
                           module_version=module_version, patterns=patterns, entries=ordered, grant=grant)


def clean_grant(raw: object) -> str:
    """A peer's transit grant as we keep it: whole-number patterns only, normalised; '' for anything else (a bad
    grant grants nothing: the routes it would make are left out, the directory itself still counts)."""
    if not isinstance(raw, str) or not raw.strip():
        return ""
    try:
        patterns = parse_public_patterns(raw)
    except PatternError:
        return ""
    if any(p.length < MIN_TRANSIT_DIGITS for p in patterns):
        return ""
    return ",".join(p.text for p in patterns)
