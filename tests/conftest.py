"""Shared fixtures: station snapshots as plain data, and real MikoPBX-schema SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_worker.core.station import Extension, StationSnapshot

REFERENCE_DB = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mikopbx-runtime.db"


def make_snapshot(
    numbers: tuple[str, ...] = ("201", "202", "203"),
    *,
    name: str = "АТС Москва",
    addresses: tuple[str, ...] = ("127.0.0.2",),
    providers: tuple = (),  # type: ignore[type-arg]
    routes: tuple = (),  # type: ignore[type-arg]
) -> StationSnapshot:
    """A station snapshot built in memory, no database involved."""
    return StationSnapshot(
        name=name,
        sip_port=5060,
        tls_port=5061,
        language="ru-ru",
        version="2026.1.223",
        own_addresses=addresses,
        extensions=tuple(Extension(n, f"User {n}", "SIP") for n in numbers),
        providers=providers,
        outgoing_routes=routes,
        sip_columns=frozenset(),
    )


@pytest.fixture
def moscow() -> StationSnapshot:
    return make_snapshot()


@pytest.fixture
def reference_db(tmp_path: Path) -> Path:
    """A private copy of the real migrated MikoPBX DB from ../shared (skipped where shared/ is absent)."""
    if not REFERENCE_DB.is_file():
        pytest.skip("shared/reference/mikopbx-runtime.db is not present on this machine")
    copy = tmp_path / "mikopbx.db"
    copy.write_bytes(REFERENCE_DB.read_bytes())
    return copy
