"""Watching both databases: a watchdog callback that only wakes the loop, and a cheap "did anyone commit?" probe."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from python_worker.db.engine import sqlite_engine

_WATCHED_EVENTS = frozenset({"modified", "created", "deleted", "moved", "closed"})


class Wake(FileSystemEventHandler):
    """watchdog callback: sets the event when one of the watched file names changes; nothing else."""

    def __init__(self, names: set[str], wake: threading.Event) -> None:
        self.names = names
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _WATCHED_EVENTS:
            return
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p and os.path.basename(os.fsdecode(p)) in self.names:
                self.wake.set()
                return


class VersionProbe:
    """Cheap "did anyone commit?" check: PRAGMA data_version on connections held open for the worker's life.

    Holding a connection also keeps SQLite from deleting the -wal file each time our own short-lived
    connections close, which would otherwise fire file events forever.
    """

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._open: dict[Path, tuple[Engine, Connection, int]] = {}

    def _conn(self, path: Path) -> tuple[Connection, int] | None:
        try:
            ino = path.stat().st_ino
        except FileNotFoundError:
            return None
        held = self._open.get(path)
        if held is not None and held[2] != ino:  # file replaced (e.g. a restored backup)
            self._close(path)
            held = None
        if held is None:
            engine = sqlite_engine(path, read_only=True)
            held = (engine, engine.connect(), ino)
            self._open[path] = held
        return held[1], ino

    def _close(self, path: Path) -> None:
        engine, conn, _ = self._open.pop(path)
        with contextlib.suppress(Exception):
            conn.close()
        engine.dispose()

    def snapshot(self) -> tuple[object, ...]:
        out: list[object] = []
        for path in self.paths:
            try:
                got = self._conn(path)
                if got is None:
                    out.append(None)
                    continue
                conn, ino = got
                version = conn.exec_driver_sql("PRAGMA data_version").scalar()
                conn.rollback()
                out.append((ino, version))
            except Exception:  # a probe failure must only cost a reconcile, never the worker
                out.append(object())
        return tuple(out)

    def close(self) -> None:
        for path in list(self._open):
            self._close(path)


class DbWatch:
    """Both databases watched: file events wake `wake`; `changed()` says whether a commit happened since last asked."""

    def __init__(self, dbs: list[Path], wake: threading.Event) -> None:
        self.dbs = dbs
        self.probe = VersionProbe(dbs)
        self._seen: tuple[object, ...] = ()
        names: set[str] = set()
        for db in dbs:
            names.update({db.name, f"{db.name}-wal", f"{db.name}-journal"})
        self._handler = Wake(names, wake)
        self._observer = self._new_observer()

    def _new_observer(self) -> Any:
        observer = Observer()
        for directory in sorted({str(db.resolve().parent) for db in self.dbs}):
            observer.schedule(self._handler, directory, recursive=False)
        return observer

    def start(self) -> None:
        self._observer.start()

    def is_alive(self) -> bool:
        return bool(self._observer.is_alive())

    def restart(self) -> None:
        """A new observer in place of one whose thread died (the loop's resync covers the gap)."""
        with contextlib.suppress(Exception):
            self._observer.stop()
        self._observer = self._new_observer()
        self._observer.start()

    def changed(self) -> bool:
        """True when either database was committed to since the last call (or the first time)."""
        seen = self.probe.snapshot()
        if seen == self._seen:
            return False
        self._seen = seen
        return True

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
        self.probe.close()
