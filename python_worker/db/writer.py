"""Writing a diff of the module-owned rows: one SQLite write transaction (BEGIN IMMEDIATE), retried while busy."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from python_worker.core.records import FILTERS, TABLE_ORDER
from python_worker.db.engine import DatabaseBusy, DatabaseDamaged, connect, is_busy, translated, writer_engine
from python_worker.db.owned import (
    DbRow,
    Diff,
    Row,
    Written,
    compute_diff,
    provider_ids,
    read_owned,
    resolved,
    table_columns,
)

__all__ = ["DatabaseBusy", "apply_records", "execute_diff", "read_diff"]


def execute_diff(conn: Connection, diff: Diff, desired: Sequence[Row]) -> None:
    """Write `diff` inside the caller's transaction; only columns the table really has are written. Each row written
    is recorded in `diff.written` (what Core must be told, apply/core_events.py)."""
    by_key = {(r.table, r.key): r for r in desired}
    known = provider_ids(desired)
    owned: dict[tuple[str, tuple[str, ...]], list[DbRow]] | None = None
    columns = {t: table_columns(conn, t) for t in {*TABLE_ORDER, *(c.table for c in diff.changes)}}
    for change in diff.changes:
        if change.op == "delete":
            old = conn.execute(text(f'SELECT * FROM "{change.table}" WHERE id = :id'),
                               {"id": change.record_id}).mappings().first()
            conn.execute(text(f'DELETE FROM "{change.table}" WHERE id = :id'), {"id": change.record_id})
            if old is not None:
                diff.written.append(Written("delete", change.table, change.record_id,
                                            _with_id_last(columns[change.table]), dict(old)))
            continue
        row = by_key[(change.table, change.key)]
        values = {c: v for c, v in resolved(conn, row).items() if c in columns[change.table]}
        if change.op == "adopt":
            found = conn.execute(text(f'SELECT * FROM "{change.table}" WHERE id = :id'),
                                 {"id": change.record_id}).mappings().first()
            before: Mapping[str, Any] = dict(found) if found is not None else {}
            sets = ", ".join(f'"{c}" = :{c}' for c in values)
            conn.execute(text(f'UPDATE "{change.table}" SET {sets} WHERE id = :_id'),
                         {**values, "_id": change.record_id})
            differ = tuple(c for c in values if _text(before.get(c)) != _text(values[c]))
            if differ:
                diff.written.append(Written("update", change.table, change.record_id, differ))
        elif change.op == "create":
            values = {**_created_defaults(conn, change.table, columns[change.table]), **values}
            cols = ", ".join(f'"{c}"' for c in values)
            marks = ", ".join(f":{c}" for c in values)
            result = conn.execute(text(f'INSERT INTO "{change.table}" ({cols}) VALUES ({marks})'), values)
            rid = int(result.lastrowid or 0)
            diff.written.append(Written("create", change.table, rid, _with_id_last(columns[change.table])))
        else:
            target = change.record_id
            if not target:
                if owned is None:
                    owned = read_owned(conn, known)
                target = owned[(change.table, change.key)][0].id
            sets = ", ".join(f'"{c}" = :{c}' for c in change.columns)
            conn.execute(text(f'UPDATE "{change.table}" SET {sets} WHERE id = :_id'),
                         {**{c: values[c] for c in change.columns}, "_id": target})
            diff.written.append(Written("update", change.table, target, tuple(change.columns)))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _with_id_last(columns: Sequence[str]) -> tuple[str, ...]:
    """A row's columns as Core's model snapshot lists them on a create or delete: the model's fields, then `id`."""
    return (*(c for c in columns if c != "id"), "id")


def _created_defaults(conn: Connection, table: str, columns: Sequence[str]) -> dict[str, object]:
    """Columns Core fills itself when it creates such a row, where a plain INSERT would leave NULL.

    m_NetworkFilters.priority (2026.1 only) orders the filters (`ORDER BY CAST(priority AS INTEGER), id` in
    IptablesConf and on the Firewall page); NULL sorts before every number. Core's Firewall page gives a new filter
    the highest priority of the regular (not 0.0.0.0/0 or ::/0) filters plus one (SaveRecordAction
    getNextRegularPriority at 2026.1.223); so does the module. Core also moves the catch-all filters after it:
    those are the admin's rows, left alone (their iptables rules run after the regular ones whatever their
    priority)."""
    if table != FILTERS or "priority" not in columns:
        return {}
    top = conn.execute(text(f"SELECT max(CAST(priority AS INTEGER)) FROM {FILTERS} "
                            "WHERE trim(permit) NOT IN ('0.0.0.0/0', '::/0')")).scalar()
    return {"priority": str(int(top or 0) + 1)}


def rows_now(mikopbx_db: Path, rows: Sequence[Row]) -> tuple[dict[tuple[str, tuple[str, ...]], int],
                                                              dict[str, list[str]]]:
    """The current ids of `rows` (those the DB holds) and each table's columns, from a read-only view."""
    with connect(mikopbx_db, read_only=True) as conn:
        owned = read_owned(conn, provider_ids(rows))
        columns = {t: table_columns(conn, t) for t in TABLE_ORDER}
    ids = {(r.table, r.key): owned[(r.table, r.key)][0].id for r in rows if (r.table, r.key) in owned}
    return ids, columns


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
