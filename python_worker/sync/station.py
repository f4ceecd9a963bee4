"""What the sync service reads and writes on this station: the Station protocol and its two databases."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from python_worker.core.config import ModuleConfig, PeerConfig, RemoteDirectory
from python_worker.core.directory import LocalDirectory, build_local_directory
from python_worker.core.fields import name_key
from python_worker.core.planner import build_plan
from python_worker.core.problems import Problem
from python_worker.core.station import StationSnapshot
from python_worker.core.validation import dropped_peers, peer_problems
from python_worker.db.moduledb import read_config, upsert_peer, write_directory
from python_worker.db.probe import VersionProbe
from python_worker.db.snapshot import read_snapshot

log = logging.getLogger("pbxfed")
T = TypeVar("T")


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
    """The station as its two databases: reads are as fresh as the last commit to either, writes go to module.db.

    What was read and computed from them is kept until a commit to either file (db/probe.py, asked by the
    thread that reads): the sync service reads the config, the local directory and the grants after every
    reconcile of the worker, and reading and planning 9 peers' directories anew each time cost the sync thread
    a second of CPU on a ten-station mesh, long enough to miss heartbeats. A probe that fails keeps nothing."""

    def __init__(self, mikopbx_db: Path, module_db: Path) -> None:
        self.mikopbx_db = mikopbx_db
        self.module_db = module_db
        self._probe: tuple[int, VersionProbe] | None = None  # (the thread that asks, its probe)
        self._seen: tuple[object, ...] | None = None
        self._kept: dict[str, Any] = {}

    def _memo(self, what: str, read: Callable[[], T]) -> T:
        thread = threading.get_ident()
        if self._probe is None or self._probe[0] != thread:  # SQLite connections belong to their thread
            if self._probe is not None:
                with contextlib.suppress(Exception):  # the old thread's connections: closed as far as SQLite lets
                    self._probe[1].close()
            self._probe = (thread, VersionProbe([self.mikopbx_db, self.module_db]))
        seen = self._probe[1].snapshot()
        if seen != self._seen or not all(isinstance(v, tuple) for v in seen):
            self._seen, self._kept = seen, {}
        if what not in self._kept:
            self._kept[what] = read()
        value: T = self._kept[what]
        return value

    def _snapshot(self) -> StationSnapshot:
        return self._memo("snapshot", lambda: read_snapshot(self.mikopbx_db))

    def config(self) -> ModuleConfig:
        return self._memo("config", lambda: read_config(self.module_db))

    def directory(self) -> LocalDirectory:
        return self._memo("directory", lambda: build_local_directory(self._snapshot(), self.config()))

    def sip_port(self) -> int:
        return self._snapshot().sip_port

    def check_new_peer(self, peer: PeerConfig) -> list[Problem]:
        """The errors saving `peer` would bring (for it or station-wide), as the admin form would see them."""
        return peer_problems(self._snapshot(), self.config(), peer)[0]

    def save_peer(self, peer: PeerConfig) -> None:
        """Store a peer pairing made; a row of that name made by hand keeps what the admin set for it here."""
        old = self.config().peer(peer.name)
        upsert_peer(self.module_db, peer if old is None else peer.with_local_settings_of(old))

    def grants(self) -> dict[str, str]:
        """Per peer (its name_key), the numbers it may call out through us as planned now (a grant the planner
        refuses, e.g. its provider was deleted, is no grant): what its directory carries."""
        def read() -> dict[str, str]:
            plan = build_plan(self._snapshot(), self.config())
            return {name_key(p.name): ",".join(p.transit.patterns) for p in plan.peers if p.transit is not None}
        return dict(self._memo("grants", read))

    def save_directory(self, directory: RemoteDirectory) -> None:
        write_directory(self.module_db, directory)
        config = self.config()
        peer = config.peer(directory.peer)
        if peer is None or not peer.paired:
            return
        changed = peer
        if directory.patterns and peer.patterns != directory.patterns:
            # The peer's own word on its numbers; an overlap with ours is then reported by the planner. But a
            # paired peer never takes another working peer out of the plan by its patterns: that is refused.
            proposed = replace(peer, patterns=directory.patterns)
            drops = dropped_peers(self._snapshot(), config, config.with_peer(proposed),
                                  exempt=peer.name)
            if drops:
                log.error("peer %s announced patterns %s that would take %s out of the plan; its patterns stay %s",
                          peer.name, directory.patterns, ", ".join(sorted(drops)), peer.patterns)
            else:
                log.warning("peer %s changed its patterns: %s -> %s", peer.name, peer.patterns, directory.patterns)
                changed = proposed
        if peer.via_patterns != directory.grant:
            # What it lets us call out through it: its routes here follow (a grant taken back removes them). The
            # grant was cleaned on receipt (core/directory.py: whole public numbers only, else no grant).
            log.info("peer %s grants transit: %s -> %s", peer.name, peer.via_patterns or "-", directory.grant or "-")
            changed = replace(changed, via_patterns=directory.grant)
        if changed != peer:
            upsert_peer(self.module_db, changed)
