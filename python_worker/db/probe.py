"""Did anyone commit to these SQLite files? `PRAGMA data_version` on connections held open, exact and cheap (no
file-time granularity to trust): the worker's loop and the sync service's reads ask it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from python_worker.db.engine import sqlite_engine


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
