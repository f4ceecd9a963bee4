"""The module's own database (module.db): create, read and change settings and peers."""

from __future__ import annotations

import hashlib
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
from python_worker.core.directory import MAX_ENTRIES, DirectoryError, clean_grant, entries_from_rows
from python_worker.core.fields import ascii_int, name_key
from python_worker.core.inputs import canonical_host
from python_worker.db.engine import DatabaseDamaged, connect, errors_of, private_file, sqlite_engine
from python_worker.db.tables import directory_table, metadata, peers_table, settings_table, table_columns

_SWITCHES = ("blf", "transfers", "overlap_fix")
MAX_ENTRIES_TEXT = 8 * 1024 * 1024  # characters of one stored directory (20,000 entries fit in a fraction)


REQUIRED_TABLES = (settings_table.name, peers_table.name)
# Columns every module.db ever had: one missing is damage (read as empty, a lost `name` would remove every trunk).
# Columns added later (paired, sync_port, public_key ...) may be missing in an older file: they read as empty.
CORE_COLUMNS = {
    settings_table.name: ("id", "station_name", "own_patterns"),
    peers_table.name: ("id", "name", "host", "port", "transport", "patterns", "secret", "enabled"),
    directory_table.name: ("id", "peer", "entries"),
}




def init_db(path: Path) -> None:
    """Create the module's tables in a new module.db (the same schema as Models/*.php), and add the tables and
    columns later versions brought; never drops data. A module.db that has some of the module's tables but lost
    the settings or the peers table is damaged: recreating it empty would read as "no peers" and remove every
    trunk, so DatabaseDamaged is raised instead. The file holds trunk secrets: it is made (or kept) mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sqlite_engine(path, read_only=False)
    try:
        with errors_of(path):
            with engine.connect() as conn:
                have = set(inspect(conn).get_table_names())
            ours = {t.name for t in metadata.tables.values()}
            missing = [t for t in REQUIRED_TABLES if t not in have]
            if have & ours and missing:
                raise DatabaseDamaged(path, f"table {missing[0]} is missing")
            metadata.create_all(engine)
            with engine.begin() as conn:  # columns added since the table was made (Core migrates the same way)
                for table in metadata.tables.values():
                    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
                    lost = [c for c in CORE_COLUMNS[table.name] if c not in have]
                    if lost:  # never re-added empty: an empty `name` would remove every trunk
                        raise DatabaseDamaged(path, f"table {table.name} has no column {lost[0]}")
                    for name, affinity in table_columns(table).items():
                        if name not in have:
                            conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{name}" {affinity}'))
    finally:
        engine.dispose()
    private_file(path)


def _select_existing(conn: Connection, table: Table, path: Path, *, required: bool) -> list[dict[str, Any]]:
    """All rows of `table` as dicts, reading only the columns the file has (an older module.db lacks some).
    A required table that is missing is damage, never "no rows": a lost peers table must not read as "no peers"
    (the reconcile would remove every trunk)."""
    names = set(inspect(conn).get_table_names())
    if table.name not in names:
        if required:
            raise DatabaseDamaged(path, f"table {table.name} is missing")
        return []
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    lost = [c for c in CORE_COLUMNS[table.name] if c not in have]
    if lost:
        raise DatabaseDamaged(path, f"table {table.name} has no column {lost[0]}")
    cols = [c for c in table.columns if c.name in have]
    return [dict(r) for r in conn.execute(select(*cols).order_by(table.c.id)).mappings().all()]


def _entries(raw: object, checked: dict[bytes, tuple[DirectoryEntry, ...]]) -> tuple[DirectoryEntry, ...]:
    """A stored directory's entries, checked like the wire's (a damaged row gives no entries, not a crash).

    Checking 2,000 entries costs milliseconds and every reconcile and sync refresh reads every peer's: a text
    checked by the previous read (`_CHECKED`, by digest) gives the same immutable entries. `checked` collects
    what this read used; read_config keeps only that, so nothing outlives the directories in the file."""
    text_value = "" if raw is None else str(raw)
    if len(text_value) > MAX_ENTRIES_TEXT:
        return ()
    key = hashlib.blake2b(text_value.encode("utf-8", "surrogatepass"), digest_size=20).digest()
    entries = _CHECKED.get(key)
    if entries is None:
        entries = _check_entries(text_value)
    checked[key] = entries
    return entries


_CHECKED: dict[bytes, tuple[DirectoryEntry, ...]] = {}


def _check_entries(text_value: str) -> tuple[DirectoryEntry, ...]:
    try:
        data = json.loads(text_value or "[]")
    except (ValueError, RecursionError):
        return ()
    try:
        return entries_from_rows(data if isinstance(data, list) else [], limit=MAX_ENTRIES)
    except DirectoryError:
        return ()


def _db_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _int(value: object, default: int | None) -> int | None:
    """A stored integer (SQLite may hand back text); 0 when unreadable, which the field checks refuse."""
    if value is None or value == "":
        return default
    number = ascii_int(value.strip() if isinstance(value, str) else value)
    return 0 if number is None else number


def _whole(value: object, default: int | None) -> int | None:
    """A stored count (fallback_trim, transit_limit, public_trim): `default` for NULL or ''; -1 when unreadable,
    which the field checks refuse naming the field (0 is a valid trim, so unreadable must not read as 0)."""
    if value is None or value == "":
        return default
    number = ascii_int(value.strip(" \t") if isinstance(value, str) else value)
    return -1 if number is None else number


def _word(value: object) -> str:
    """A stored single-word field (a provider id, a number, a pattern list): spaces and tabs around it dropped;
    anything else stays as it is and the field checks name it."""
    return _text(value).strip(" \t")


def peer_from_row(r: dict[str, Any]) -> PeerConfig:
    """One peers row as plain data: never raises; a bad value stays bad and the planner names it."""
    return PeerConfig(
        name=_text(r.get("name")).strip(" \t"),
        host=canonical_host(_text(r.get("host")).strip(" \t")),
        port=_int(r.get("port"), 5060) or 0,
        transport=(_text(r.get("transport")) or "udp").strip(" \t").lower(),
        patterns=_text(r.get("patterns")),
        secret=_text(r.get("secret")),
        enabled=switch_or(r.get("enabled"), True),
        blf=parse_switch(r.get("blf")),
        transfers=parse_switch(r.get("transfers")),
        overlap_fix=parse_switch(r.get("overlap_fix")),
        note=_text(r.get("note")),
        paired=switch_or(r.get("paired"), False),
        sync_port=_int(r.get("sync_port"), None),
        public_key=_text(r.get("public_key")).strip(),
        fallback_provider=_word(r.get("fallback_provider")),
        fallback_trim=_whole(r.get("fallback_trim"), 0) or 0,
        fallback_prepend=_word(r.get("fallback_prepend")),
        transit_patterns=_word(r.get("transit_patterns")),
        transit_provider=_word(r.get("transit_provider")),
        transit_limit=_whole(r.get("transit_limit"), None),
        transit_callerid=_word(r.get("transit_callerid")),
        via_patterns=_word(r.get("via_patterns")),
    )


def read_config(path: Path) -> ModuleConfig:
    """Settings and peers as plain data; a missing settings row gives the defaults. A damaged file or a missing
    settings or peers table raises DatabaseDamaged, a locked one DatabaseBusy."""
    with connect(path, read_only=True) as conn:
        settings_rows = _select_existing(conn, settings_table, path, required=True)
        peer_rows = _select_existing(conn, peers_table, path, required=True)
        dir_rows = _select_existing(conn, directory_table, path, required=False)
    row = settings_rows[0] if settings_rows else None
    settings = Settings()
    if row is not None:
        settings = Settings(
            station_name=_text(row.get("station_name")).strip(" \t"),
            display_name=_text(row.get("display_name")),
            own_patterns=_text(row.get("own_patterns")),
            blf_default=switch_or(row.get("blf_default"), True),
            transfers_default=switch_or(row.get("transfers_default"), True),
            overlap_fix_default=switch_or(row.get("overlap_fix_default"), False),
            public_number=_word(row.get("public_number")),
            public_trim=_whole(row.get("public_trim"), 0) or 0,
            public_prepend=_word(row.get("public_prepend")),
        )
    peers = tuple(peer_from_row(r) for r in peer_rows)
    checked: dict[bytes, tuple[DirectoryEntry, ...]] = {}
    directories = tuple(
        RemoteDirectory(peer=_text(r.get("peer")), version=_text(r.get("version"))[:64],
                        module_version=_text(r.get("module_version"))[:32], patterns=_text(r.get("patterns")),
                        entries=_entries(r.get("entries"), checked), grant=clean_grant(r.get("transit_grant")))
        for r in dir_rows if r.get("peer")
    )
    global _CHECKED
    _CHECKED = checked  # one assignment: a read in another thread sees the old set or this one, both right
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
    """Insert the peer, or update the row with the same name (compared by name_key)."""
    with connect(path, read_only=False, begin=True) as conn:
        existing = conn.execute(select(peers_table.c.id, peers_table.c.name)).all()
        match = next((i for i, n in existing if name_key(_text(n)) == name_key(peer.name)), None)
        if match is None:
            conn.execute(insert(peers_table).values(**_peer_row(peer)))
        else:
            conn.execute(update(peers_table).where(peers_table.c.id == match).values(**_peer_row(peer)))


def remove_peer(path: Path, name: str) -> bool:
    """Delete the named peer; False when there was none."""
    with connect(path, read_only=False, begin=True) as conn:
        ids = [i for i, n in conn.execute(select(peers_table.c.id, peers_table.c.name)).all()
               if name_key(_text(n)) == name_key(name)]
        for i in ids:
            conn.execute(delete(peers_table).where(peers_table.c.id == i))
    return bool(ids)


def write_settings(path: Path, settings: Settings) -> None:
    """Replace the single settings row."""
    values = asdict(settings)
    for key in ("blf_default", "transfers_default", "overlap_fix_default"):
        values[key] = int(values[key])
    with connect(path, read_only=False, begin=True) as conn:
        first = conn.execute(select(settings_table.c.id).order_by(settings_table.c.id).limit(1)).first()
        if first is None:
            conn.execute(insert(settings_table).values(**values))
        else:
            conn.execute(update(settings_table).where(settings_table.c.id == first[0]).values(**values))


def peer_name_by_id(path: Path, row_id: int) -> str | None:
    """The name stored in peer row `row_id` (the form edits rows by id, and a rename changes the name)."""
    with connect(path, read_only=True) as conn:
        name = conn.execute(select(peers_table.c.name).where(peers_table.c.id == row_id)).scalar()
    return None if name is None else str(name)


def write_directory(path: Path, directory: RemoteDirectory, *, received_at: float | None = None) -> None:
    """Replace the stored directory of `directory.peer` (one row per peer, compared by name_key)."""
    entries = json.dumps([[e.number, e.name, e.kind] for e in sorted(directory.entries)], ensure_ascii=False,
                         separators=(",", ":"))
    values = {"peer": directory.peer, "version": directory.version, "module_version": directory.module_version,
              "patterns": directory.patterns, "entries": entries,
              "received_at": int(received_at if received_at is not None else time.time()),
              "transit_grant": directory.grant or None}
    with connect(path, read_only=False, begin=True) as conn:
        ids = [i for i, n in conn.execute(select(directory_table.c.id, directory_table.c.peer)).all()
               if name_key(_text(n)) == name_key(directory.peer)]
        for i in ids[1:]:
            conn.execute(delete(directory_table).where(directory_table.c.id == i))
        if ids:
            conn.execute(update(directory_table).where(directory_table.c.id == ids[0]).values(**values))
        else:
            conn.execute(insert(directory_table).values(**values))
