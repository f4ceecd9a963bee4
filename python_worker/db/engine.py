"""SQLAlchemy engines on MikoPBX's SQLite files: read-only views, and writers that take the lock up front.

Every database error leaves this layer as one of two exceptions whose text holds no SQL and no parameter (so no
trunk secret from an INSERT can reach a log or the admin): DatabaseBusy (locked for longer than we wait) and
DatabaseDamaged (not a database, malformed, truncated, a table or a column missing). A missing file stays
FileNotFoundError.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

READ_BUSY_MS = 5000  # same as Core's PHP


class DatabaseError(RuntimeError):
    """A database that cannot be used now; `path` and `reason` fill the admin's message."""

    code = "E_DB_DAMAGED"

    def __init__(self, path: Path, reason: str, waited: float = 0.0) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.waited = waited


class DatabaseBusy(DatabaseError):
    """Locked by another writer for longer than we may wait."""

    code = "E_DB_BUSY"


class DatabaseDamaged(DatabaseError):
    """Not a database, malformed or truncated, or a table or column this module needs is missing."""


def is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and any(
        w in str(orig).lower() for w in ("locked", "busy"))


def _reason(exc: BaseException) -> str:
    """The driver's own message (never the statement or its parameters), short."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
    return text[:160]


def translated(path: Path, exc: BaseException, waited: float = 0.0) -> DatabaseError:
    """The DatabaseBusy or DatabaseDamaged an SQLAlchemy/sqlite3 error stands for."""
    if is_busy(exc):
        return DatabaseBusy(path, "locked", waited)
    return DatabaseDamaged(path, _reason(exc))


@contextlib.contextmanager
def errors_of(path: Path, waited: float = READ_BUSY_MS / 1000) -> Iterator[None]:
    """Translate database errors inside the block (see the module's docstring)."""
    try:
        yield
    except (DBAPIError, sqlite3.Error) as exc:
        raise translated(path, exc, waited) from None
    except SQLAlchemyError as exc:  # e.g. NoSuchTableError from inspection
        raise DatabaseDamaged(path, _reason(exc)) from None


def sqlite_engine(path: Path, *, read_only: bool) -> Engine:
    """An SQLAlchemy engine on a MikoPBX SQLite file; read-only opens never create or write it."""
    if read_only:
        if not path.is_file():
            raise FileNotFoundError(f"config database not found: {path}")
        url = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
    else:
        url = f"sqlite:///{path.resolve()}"
    # hide_parameters: an error message must never quote a trunk secret from an INSERT.
    engine = create_engine(url, connect_args={"timeout": READ_BUSY_MS / 1000}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {READ_BUSY_MS}")
        cur.close()

    return engine


@contextlib.contextmanager
def connect(path: Path, *, read_only: bool, begin: bool = False) -> Iterator[Connection]:
    """A connection (in a transaction when `begin`) with database errors translated; the engine is disposed."""
    engine = sqlite_engine(path, read_only=read_only)
    try:
        with errors_of(path), (engine.begin() if begin else engine.connect()) as conn:
            yield conn
    finally:
        engine.dispose()


def writer_engine(path: Path, busy_ms: int) -> Engine:
    """Engine whose transactions start with BEGIN IMMEDIATE (take the write lock up front, or fail busy)."""
    if not path.is_file():
        raise FileNotFoundError(f"config database not found: {path}")
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


def private_file(path: Path) -> None:
    """Give a file that holds secrets mode 0600; run as root, it keeps the owner of its directory (on a box the
    admin pages, running as Core's web user, read module.db)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        os.chmod(path, 0o600)
        if os.geteuid() == 0:
            parent = path.parent.stat()
            st = path.stat()
            if (st.st_uid, st.st_gid) != (parent.st_uid, parent.st_gid):
                os.chown(path, parent.st_uid, parent.st_gid)
