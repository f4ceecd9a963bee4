"""Writing a diff of the module-owned rows: one SQLite write transaction (BEGIN IMMEDIATE), retried while busy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from python_worker.core.records import TABLE_ORDER
from python_worker.db.engine import DatabaseBusy, DatabaseDamaged, connect, is_busy, translated, writer_engine
from python_worker.db.owned import DbRow, Diff, Row, compute_diff, provider_ids, read_owned, resolved, table_columns

__all__ = ["DatabaseBusy", "apply_records", "execute_diff", "read_diff"]


def execute_diff(conn: Connection, diff: Diff, desired: Sequence[Row]) -> None:
    """Write `diff` inside the caller's transaction; only columns the table really has are written."""
    by_key = {(r.table, r.key): r for r in desired}
    known = provider_ids(desired)
    owned: dict[tuple[str, tuple[str, ...]], list[DbRow]] | None = None
    columns = {t: set(table_columns(conn, t)) for t in TABLE_ORDER}
    for change in diff.changes:
        if change.op == "delete":
            conn.execute(text(f'DELETE FROM "{change.table}" WHERE id = :id'), {"id": change.record_id})
            continue
        row = by_key[(change.table, change.key)]
        values = {c: v for c, v in resolved(conn, row).items() if c in columns[change.table]}
        if change.op == "adopt":
            sets = ", ".join(f'"{c}" = :{c}' for c in values)
            conn.execute(text(f'UPDATE "{change.table}" SET {sets} WHERE id = :_id'),
                         {**values, "_id": change.record_id})
        elif change.op == "create":
            cols = ", ".join(f'"{c}"' for c in values)
            marks = ", ".join(f":{c}" for c in values)
            conn.execute(text(f'INSERT INTO "{change.table}" ({cols}) VALUES ({marks})'), values)
        else:
            if owned is None:
                owned = read_owned(conn, known)
            target = owned[(change.table, change.key)][0].id
            sets = ", ".join(f'"{c}" = :{c}' for c in change.columns)
            conn.execute(text(f'UPDATE "{change.table}" SET {sets} WHERE id = :_id'),
                         {**{c: values[c] for c in change.columns}, "_id": target})


def read_diff(mikopbx_db: Path, desired: Sequence[Row], previous: Sequence[Row]) -> Diff:
    """The diff from a read-only view (no write lock: used to skip no-op applies and for --dry-run)."""
    with connect(mikopbx_db, read_only=True) as conn:
        return compute_diff(conn, desired, previous)


def apply_records(
    mikopbx_db: Path,
    desired: Sequence[Row],
    previous: Sequence[Row],
    *,
    busy_timeout: float,
) -> Diff:
    """Make the module's rows equal `desired` in one transaction; retried with backoff while busy.

    Raises DatabaseBusy after `busy_timeout` seconds; the transaction is then rolled back, so nothing is ever
    half-applied.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.05
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DatabaseBusy(mikopbx_db, "locked", busy_timeout)
        engine = writer_engine(mikopbx_db, busy_ms=max(1, int(min(remaining, 1.0) * 1000)))
        try:
            with engine.begin() as conn:
                diff = compute_diff(conn, desired, previous)
                if diff.changes:
                    execute_diff(conn, diff, desired)
            return diff
        except DBAPIError as exc:
            if not is_busy(exc):
                raise translated(mikopbx_db, exc) from None
        except SQLAlchemyError as exc:
            raise DatabaseDamaged(mikopbx_db, type(exc).__name__) from None
        finally:
            engine.dispose()
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.5)
