"""A pairing that fails on the inviting station (its module.db locked) does not burn the invitation, reports
E_PAIR_FAILED to the other side (not "unreachable"), logs no trunk secret; the same invitation then works."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_worker.core.config import Settings
from python_worker.db import engine
from python_worker.db.moduledb import init_db, read_config, write_settings
from python_worker.demo.stationdb import Phone, StationSpec, build_station_db
from python_worker.logs import setup_logging
from python_worker.statedir import LOG_FILE
from python_worker.sync import pairing
from python_worker.sync.pairing import InviteError
from python_worker.sync.station import FileStation
from tests.hostile.conftest import Tally
from tests.hostile.test_db_damage import exclusive
from tests.unit.test_sync import Node, free_port


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    made = []
    for name, address, pattern in (("moscow", "127.0.0.2", "2XX"), ("spb", "127.0.0.3", "3XX")):
        folder = tmp_path / name
        build_station_db(folder / "mikopbx.db", StationSpec(name=name, lan_ip=address,
                                                              phones=[Phone(pattern[0] + "01", "x")]))
        init_db(folder / "module.db")
        write_settings(folder / "module.db", Settings(station_name=name, own_patterns=pattern))
        made.append(Node(name, address, pattern, folder, free_port(address)))
    try:
        yield made[0], made[1]
    finally:
        for node in made:
            node.stop()


def test_a_failed_pairing_keeps_the_invitation_and_says_why(tally: Tally, nodes: tuple[Node, Node],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    moscow, spb = nodes
    monkeypatch.setattr(engine, "READ_BUSY_MS", 300)  # the documented 5 s wait, shortened for the test
    made: list[str] = []
    real = pairing.new_trunk_secret

    def recorded() -> str:
        made.append(real())
        return made[-1]

    monkeypatch.setattr("python_worker.sync.server.new_trunk_secret", recorded)
    setup_logging(moscow.state_dir, to_stderr=False)
    moscow.start()
    text = moscow.invite()
    with exclusive(moscow.module_db), pytest.raises(InviteError) as refused:
        spb.accept(text)
    assert refused.value.code == "E_PAIR_FAILED", refused.value.code
    tally.add("pairing.failure", "refused")
    store = json.loads((moscow.state_dir / "invitations.json").read_text())
    assert [rec["used"] for rec in store.values()] == [None]  # not burnt
    assert read_config(spb.module_db).peers == ()

    def locked_at_save(self: object, peer: object) -> None:  # the lock taken between the checks and the write
        raise engine.DatabaseBusy(moscow.module_db, "locked", 5.0)

    with monkeypatch.context() as m:
        m.setattr(FileStation, "save_peer", locked_at_save)
        with pytest.raises(InviteError) as refused:
            spb.accept(text)
    assert refused.value.code == "E_PAIR_FAILED" and "busy" in refused.value.params.get("reason", "")
    tally.add("pairing.failure", "refused")
    store = json.loads((moscow.state_dir / "invitations.json").read_text())
    assert [rec["used"] for rec in store.values()] == [None]
    peer = spb.accept(text)  # the same invitation, now that the database answers
    assert peer.name == "moscow"  # type: ignore[attr-defined]
    assert [p.name for p in read_config(moscow.module_db).peers] == ["spb"]
    tally.add("pairing.failure", "accepted")
    log = (moscow.state_dir / LOG_FILE).read_text()
    assert made and not any(secret in log for secret in made), "a trunk secret reached the log"
    assert "not stored" in log
