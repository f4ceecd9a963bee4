"""Watching both databases: a watchdog callback that only wakes the loop, and a cheap "did anyone commit?" probe."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from python_worker.db.probe import VersionProbe

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
