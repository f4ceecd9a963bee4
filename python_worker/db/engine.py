"""SQLAlchemy engines on MikoPBX's SQLite files: read-only views, and writers that take the lock up front."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event


def sqlite_engine(path: Path, *, read_only: bool) -> Engine:
    """An SQLAlchemy engine on a MikoPBX SQLite file; read-only opens never create or write it."""
    if read_only:
        if not path.is_file():
            raise FileNotFoundError(f"config database not found: {path}")
        url = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
    else:
        url = f"sqlite:///{path.resolve()}"
    engine = create_engine(url, connect_args={"timeout": 5.0})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 5000")  # same as Core's PHP
        cur.close()

    return engine


def writer_engine(path: Path, busy_ms: int) -> Engine:
    """Engine whose transactions start with BEGIN IMMEDIATE (take the write lock up front, or fail busy)."""
    if not path.is_file():
        raise FileNotFoundError(f"config database not found: {path}")
    # hide_parameters: an error message must never quote a trunk secret from an INSERT.
    engine = create_engine(f"sqlite:///{path.resolve()}", hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # the driver must not issue its own BEGIN
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and any(
        w in str(orig).lower() for w in ("locked", "busy"))
