"""The module's own database (module.db): create, read and change settings and peers."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, insert, inspect, select, text, update
from sqlalchemy.engine import Connection

from python_worker.core.config import (
    DirectoryEntry,
    ModuleConfig,
    PeerConfig,
    RemoteDirectory,
    Settings,
    parse_switch,
    switch_or,
)
from python_worker.db.engine import sqlite_engine
from python_worker.db.tables import directory_table, metadata, peers_table, settings_table, table_columns

_SWITCHES = ("blf", "transfers", "overlap_fix")


def init_db(path: Path) -> None:
    """Create the module's tables when missing (the same schema as Models/*.php); never drops data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sqlite_engine(path, read_only=False)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:  # columns added since the table was made (Core migrates the same way)
            for table in metadata.tables.values():
                have = {c["name"] for c in inspect(conn).get_columns(table.name)}
                for name, affinity in table_columns(table).items():
                    if name not in have:
                        conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{name}" {affinity}'))
    finally:
        engine.dispose()


def _select_existing(conn: Connection, table: Table) -> list[dict[str, Any]]:
    """All rows of `table` as dicts, reading only the columns the file has (an older module.db lacks some)."""
    names = set(inspect(conn).get_table_names())
    if table.name not in names:
        return []
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    cols = [c for c in table.columns if c.name in have]
    return [dict(r) for r in conn.execute(select(*cols).order_by(table.c.id)).mappings().all()]


def _entries(raw: object) -> tuple[DirectoryEntry, ...]:
    try:
        data = json.loads(str(raw or "[]"))
    except json.JSONDecodeError:
        return ()
    out = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, list) and len(item) == 3:
            out.append(DirectoryEntry(str(item[0]), str(item[1]), str(item[2])))
    return tuple(sorted(out))


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _opt_int(value: object) -> int | None:
    """A whole number stored in a column; None for NULL or ''; -1 for anything else (validation refuses it)."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return -1


def _int_or(value: object, default: int) -> int:
    found = _opt_int(value)
    return default if found is None else found


def _db_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def read_config(path: Path) -> ModuleConfig:
    """Settings and peers as plain data; a missing settings row gives the defaults."""
    engine = sqlite_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            rows = _select_existing(conn, settings_table)  # an older module.db may lack the newer columns
            row = rows[0] if rows else None
            peer_rows = _select_existing(conn, peers_table)
            dir_rows = _select_existing(conn, directory_table)
    finally:
        engine.dispose()
    settings = Settings()
    if row is not None:
        settings = Settings(
            station_name=(row["station_name"] or "").strip(),
            display_name=row["display_name"] or "",
            own_patterns=row["own_patterns"] or "",
            blf_default=switch_or(row["blf_default"], True),
            transfers_default=switch_or(row["transfers_default"], True),
            overlap_fix_default=switch_or(row["overlap_fix_default"], False),
            public_number=_text(row.get("public_number")),
            public_trim=_int_or(row.get("public_trim"), 0),
            public_prepend=_text(row.get("public_prepend")),
        )
    peers = tuple(
        PeerConfig(
            name=(r["name"] or "").strip(),
            host=(r["host"] or "").strip(),
            port=int(r["port"]) if r["port"] not in (None, "") else 5060,
            transport=(r["transport"] or "udp").strip().lower(),
            patterns=r["patterns"] or "",
            secret=r["secret"] or "",
            enabled=switch_or(r["enabled"], True),
            blf=parse_switch(r["blf"]),
            transfers=parse_switch(r["transfers"]),
            overlap_fix=parse_switch(r["overlap_fix"]),
            note=str(r["note"] or ""),
            paired=switch_or(r.get("paired"), False),
            sync_port=int(str(r["sync_port"])) if r.get("sync_port") not in (None, "") else None,
            public_key=str(r.get("public_key") or "").strip(),
            fallback_provider=_text(r.get("fallback_provider")),
            fallback_trim=_int_or(r.get("fallback_trim"), 0),
            fallback_prepend=_text(r.get("fallback_prepend")),
            transit_patterns=_text(r.get("transit_patterns")),
            transit_provider=_text(r.get("transit_provider")),
            transit_limit=_opt_int(r.get("transit_limit")),
            transit_callerid=_text(r.get("transit_callerid")),
            via_patterns=_text(r.get("via_patterns")),
        )
        for r in peer_rows
    )
    directories = tuple(
        RemoteDirectory(peer=str(r["peer"] or ""), version=str(r["version"] or ""),
                        module_version=str(r["module_version"] or ""), patterns=str(r["patterns"] or ""),
                        entries=_entries(r["entries"]), grant=_text(r.get("transit_grant")))
        for r in dir_rows if r.get("peer")
    )
    return ModuleConfig(settings=settings, peers=peers, directories=directories)


def _peer_row(peer: PeerConfig) -> dict[str, object]:
    row: dict[str, object] = {f.name: getattr(peer, f.name) for f in fields(peer)}
    row["enabled"] = int(peer.enabled)
    row["paired"] = int(peer.paired)
    row["public_key"] = peer.public_key or None
    for key in ("fallback_provider", "fallback_prepend", "transit_patterns", "transit_provider", "transit_callerid",
                "via_patterns"):
        row[key] = getattr(peer, key) or None
    for key in _SWITCHES:
        row[key] = _db_bool(getattr(peer, key))
    return row


def upsert_peer(path: Path, peer: PeerConfig) -> None:
    """Insert the peer, or update the row with the same name (case-insensitive)."""
    engine = sqlite_engine(path, read_only=False)
    try:
        with engine.begin() as conn:
            existing = conn.execute(select(peers_table.c.id, peers_table.c.name)).all()
            match = next((i for i, n in existing if (n or "").lower() == peer.name.lower()), None)
            if match is None:
                conn.execute(insert(peers_table).values(**_peer_row(peer)))
            else:
                conn.execute(update(peers_table).where(peers_table.c.id == match).values(**_peer_row(peer)))
    finally:
        engine.dispose()


def remove_peer(path: Path, name: str) -> bool:
    """Delete the named peer; False when there was none."""
    engine = sqlite_engine(path, read_only=False)
    try:
        with engine.begin() as conn:
            ids = [i for i, n in conn.execute(select(peers_table.c.id, peers_table.c.name)).all()
                   if (n or "").lower() == name.lower()]
            for i in ids:
                conn.execute(delete(peers_table).where(peers_table.c.id == i))
    finally:
        engine.dispose()
    return bool(ids)


def write_settings(path: Path, settings: Settings) -> None:
    """Replace the single settings row."""
    values = asdict(settings)
    for key in ("blf_default", "transfers_default", "overlap_fix_default"):
        values[key] = int(values[key])
    engine = sqlite_engine(path, read_only=False)
    try:
        with engine.begin() as conn:
            first = conn.execute(select(settings_table.c.id).order_by(settings_table.c.id).limit(1)).first()
            if first is None:
                conn.execute(insert(settings_table).values(**values))
            else:
                conn.execute(update(settings_table).where(settings_table.c.id == first[0]).values(**values))
    finally:
        engine.dispose()


def peer_name_by_id(path: Path, row_id: int) -> str | None:
    """The name stored in peer row `row_id` (the form edits rows by id, and a rename changes the name)."""
    engine = sqlite_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            name = conn.execute(select(peers_table.c.name).where(peers_table.c.id == row_id)).scalar()
    finally:
        engine.dispose()
    return None if name is None else str(name)


def write_directory(path: Path, directory: RemoteDirectory, *, received_at: float | None = None) -> None:
    """Replace the stored directory of `directory.peer` (one row per peer, case-insensitive)."""
    entries = json.dumps([[e.number, e.name, e.kind] for e in sorted(directory.entries)], ensure_ascii=False,
                         separators=(",", ":"))
    values = {"peer": directory.peer, "version": directory.version, "module_version": directory.module_version,
              "patterns": directory.patterns, "entries": entries,
              "received_at": int(received_at if received_at is not None else time.time()),
              "transit_grant": directory.grant or None}
    engine = sqlite_engine(path, read_only=False)
    try:
        with engine.begin() as conn:
            ids = [i for i, n in conn.execute(select(directory_table.c.id, directory_table.c.peer)).all()
                   if (n or "").lower() == directory.peer.lower()]
            for i in ids[1:]:
                conn.execute(delete(directory_table).where(directory_table.c.id == i))
            if ids:
                conn.execute(update(directory_table).where(directory_table.c.id == ids[0]).values(**values))
            else:
                conn.execute(insert(directory_table).values(**values))
    finally:
        engine.dispose()
