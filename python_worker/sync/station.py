"""What the sync service reads and writes on this station: the Station protocol and its two databases."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from python_worker.core.config import ModuleConfig, PeerConfig, RemoteDirectory
from python_worker.core.directory import LocalDirectory, build_local_directory
from python_worker.core.problems import Problem
from python_worker.core.validation import dropped_peers, peer_problems
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
        upsert_peer(self.module_db, peer)

    def save_directory(self, directory: RemoteDirectory) -> None:
        write_directory(self.module_db, directory)
        config = self.config()
        peer = config.peer(directory.peer)
        if peer is not None and peer.paired and directory.patterns and peer.patterns != directory.patterns:
            # The peer's own word on its numbers; an overlap with ours is then reported by the planner. But a
            # paired peer never takes another working peer out of the plan by its patterns: that is refused.
            changed = replace(peer, patterns=directory.patterns)
            drops = dropped_peers(read_snapshot(self.mikopbx_db), config, config.with_peer(changed),
                                  exempt=peer.name)
            if drops:
                log.error("peer %s announced patterns %s that would take %s out of the plan; its patterns stay %s",
                          peer.name, directory.patterns, ", ".join(sorted(drops)), peer.patterns)
                return
            log.warning("peer %s changed its patterns: %s -> %s", peer.name, peer.patterns, directory.patterns)
            upsert_peer(self.module_db, changed)
