"""The module's own database (module.db): create, read and change settings and peers."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from python_worker.config import ModuleConfig, PeerConfig, Settings
from python_worker.models import metadata, peers_table, settings_table
from python_worker.snapshot import sqlite_engine

_SWITCHES = ("blf", "transfers", "overlap_fix")


def init_db(path: Path) -> None:
    """Create the module's tables when missing (the same schema as Models/*.php); never drops data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sqlite_engine(path, read_only=False)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def _bool(value: object, default: bool) -> bool:
    if value is None or value == "":
        return default
    return str(value) not in ("0", "False", "false")


def _opt_bool(value: object) -> bool | None:
    if value is None or value == "":
        return None
    return str(value) not in ("0", "False", "false")


def _db_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def read_config(path: Path) -> ModuleConfig:
    """Settings and peers as plain data; a missing settings row gives the defaults."""
    engine = sqlite_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(settings_table).order_by(settings_table.c.id).limit(1)).mappings().first()
            peer_rows = conn.execute(select(peers_table).order_by(peers_table.c.id)).mappings().all()
    finally:
        engine.dispose()
    settings = Settings()
    if row is not None:
        settings = Settings(
            station_name=(row["station_name"] or "").strip(),
            display_name=row["display_name"] or "",
            own_patterns=row["own_patterns"] or "",
            blf_default=_bool(row["blf_default"], True),
            transfers_default=_bool(row["transfers_default"], True),
            overlap_fix_default=_bool(row["overlap_fix_default"], False),
        )
    peers = tuple(
        PeerConfig(
            name=(r["name"] or "").strip(),
            host=(r["host"] or "").strip(),
            port=int(r["port"]) if r["port"] not in (None, "") else 5060,
            transport=(r["transport"] or "udp").strip().lower(),
            patterns=r["patterns"] or "",
            secret=r["secret"] or "",
            enabled=_bool(r["enabled"], True),
            blf=_opt_bool(r["blf"]),
            transfers=_opt_bool(r["transfers"]),
            overlap_fix=_opt_bool(r["overlap_fix"]),
            note=r["note"] or "",
        )
        for r in peer_rows
    )
    return ModuleConfig(settings=settings, peers=peers)


def _peer_row(peer: PeerConfig) -> dict[str, object]:
    row: dict[str, object] = {f.name: getattr(peer, f.name) for f in fields(peer)}
    row["enabled"] = int(peer.enabled)
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
