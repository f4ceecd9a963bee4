"""FileStation keeps what it read until a commit to either database: the same answer while nothing was committed
(the sync thread asks after every reconcile), a fresh one after any commit, by us or by another writer."""

from __future__ import annotations

import threading
from pathlib import Path

from python_worker.core.config import PeerConfig
from python_worker.db.moduledb import upsert_peer
from python_worker.demo.stationdb import Phone, add_phone
from python_worker.sync.station import FileStation
from tests.unit.applyhelpers import SPB, make_station


def test_reads_are_kept_until_a_commit_to_either_database(tmp_path: Path) -> None:
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    station = FileStation(paths.mikopbx_db, paths.module_db)
    config, directory = station.config(), station.directory()
    assert station.config() is config and station.directory() is directory  # nothing committed: kept
    assert [p.name for p in config.peers] == ["spb"]

    nsk = PeerConfig(name="nsk", host="127.0.0.4", port=5060, transport="udp", patterns="4XX", secret=SPB.secret)
    upsert_peer(paths.module_db, nsk)  # module.db committed by another connection
    assert sorted(p.name for p in station.config().peers) == ["nsk", "spb"]

    add_phone(paths.mikopbx_db, Phone("203", "Пётр"))  # mikopbx.db committed (Core's side)
    assert "203" in {e.number for e in station.directory().entries}
    assert "203" not in {e.number for e in directory.entries}


def test_another_thread_gets_its_own_probe_and_the_same_answers(tmp_path: Path) -> None:
    """SQLite connections belong to the thread that made them: a read from another thread must work (the sync
    thread restarted by the supervisor is a new thread)."""
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    station = FileStation(paths.mikopbx_db, paths.module_db)
    first = station.config()
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(station.config()))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and seen and seen[0] == first
    assert station.config() == first
