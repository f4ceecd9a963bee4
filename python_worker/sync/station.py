"""What the sync service reads and writes on this station: the Station protocol and its two databases."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from python_worker.core.config import ModuleConfig, PeerConfig, RemoteDirectory
from python_worker.core.directory import LocalDirectory, build_local_directory
from python_worker.core.planner import build_plan
from python_worker.core.problems import Problem
from python_worker.core.validation import peer_problems
from python_worker.db.moduledb import read_config, upsert_peer, write_directory
from python_worker.db.snapshot import read_snapshot

log = logging.getLogger("pbxfed")


class Station(Protocol):
    """What the sync service reads and writes on this station (a fake in tests, the DB files in the worker)."""

    def config(self) -> ModuleConfig: ...
    def directory(self) -> LocalDirectory: ...
    def sip_port(self) -> int: ...
    def check_new_peer(self, peer: PeerConfig) -> list[Problem]: ...
    def save_peer(self, peer: PeerConfig) -> None: ...
    def save_directory(self, directory: RemoteDirectory) -> None: ...
    def grants(self) -> dict[str, str]: ...


class FileStation:
    """The station as its two databases: reads are fresh each time, writes go to module.db."""

    def __init__(self, mikopbx_db: Path, module_db: Path) -> None:
        self.mikopbx_db = mikopbx_db
        self.module_db = module_db

    def config(self) -> ModuleConfig:
        return read_config(self.module_db)

    def directory(self) -> LocalDirectory:
        return build_local_directory(read_snapshot(self.mikopbx_db), self.config())

    def sip_port(self) -> int:
        return read_snapshot(self.mikopbx_db).sip_port

    def check_new_peer(self, peer: PeerConfig) -> list[Problem]:
        """The errors saving `peer` would bring (for it or station-wide), as the admin form would see them."""
        return peer_problems(read_snapshot(self.mikopbx_db), self.config(), peer)[0]

    def save_peer(self, peer: PeerConfig) -> None:
        """Store a peer pairing made; a row of that name made by hand keeps what the admin set for it here."""
        old = next((p for p in self.config().peers if p.name.lower() == peer.name.lower()), None)
        upsert_peer(self.module_db, peer if old is None else peer.with_local_settings_of(old))

    def grants(self) -> dict[str, str]:
        """Per peer (lower-case name), the numbers it may call out through us as planned now (a grant the planner
        refuses, e.g. its provider was deleted, is no grant): what its directory carries."""
        plan = build_plan(read_snapshot(self.mikopbx_db), self.config())
        return {p.name.lower(): ",".join(p.transit.patterns) for p in plan.peers if p.transit is not None}

    def save_directory(self, directory: RemoteDirectory) -> None:
        write_directory(self.module_db, directory)
        config = self.config()
        peer = next((p for p in config.peers if p.name.lower() == directory.peer.lower()), None)
        if peer is None or not peer.paired:
            return
        patterns, via = peer.patterns, peer.via_patterns
        if directory.patterns and peer.patterns != directory.patterns:
            # The peer's own word on its numbers; an overlap with ours is then reported by the planner.
            log.warning("peer %s changed its patterns: %s -> %s", peer.name, peer.patterns, directory.patterns)
            patterns = directory.patterns
        if peer.via_patterns != directory.grant:
            # What it lets us call out through it: its routes here follow (a grant taken back removes them).
            log.info("peer %s grants transit: %s -> %s", peer.name, peer.via_patterns or "-", directory.grant or "-")
            via = directory.grant
        if (patterns, via) != (peer.patterns, peer.via_patterns):
            upsert_peer(self.module_db, replace(peer, patterns=patterns, via_patterns=via))
