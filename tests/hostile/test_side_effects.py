"""Changes that would take a working peer out of the plan as a side effect are refused with the reason (or need
--confirm), through the CLI, the form and a paired peer's own announcements; never done silently."""

from __future__ import annotations

import io
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from python_worker.apply.reconciler import Paths, reconcile
from python_worker.apply.system import NoReload
from python_worker.cli import main
from python_worker.core.directory import LocalDirectory
from python_worker.db.moduledb import read_config, upsert_peer
from python_worker.sync.station import FileStation
from tests.hostile.conftest import Tally
from tests.unit.applyhelpers import NSK, SPB, make_station

SECRET = "Sup3rSecretTrunkPass"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("side-template")
    paths = make_station(root, "2026.1", peers=(SPB, NSK))
    assert reconcile(paths, NoReload()).result == "applied"
    return root


@pytest.fixture
def station(template: Path, tmp_path: Path) -> Paths:
    shutil.copytree(template, tmp_path / "st")
    root = tmp_path / "st"
    return Paths(root / "cf" / "mikopbx.db", root / "module" / "db" / "module.db", root / "module" / "db" / "state")


def _cli(paths: Paths, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    capsys.readouterr()
    code = main([*argv[:2], "--mikopbx-db", str(paths.mikopbx_db), "--module-db", str(paths.module_db), *argv[2:]])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "victim"), [
    (["settings", "set", "--station-name", "spb"], "spb"),
    (["settings", "set", "--station-name", "NSK"], "nsk"),
    (["settings", "set", "--own-patterns", "2XX,3XX"], "spb"),
    (["settings", "set", "--own-patterns", "4[0-4]X,2XX"], "nsk"),
])
def test_settings_that_would_drop_a_peer_need_a_confirmation(
        tally: Tally, station: Paths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: list[str], victim: str) -> None:
    before = station.module_db.read_bytes()
    code, _out, err = _cli(station, argv, capsys, monkeypatch)
    assert code == 2 and "E_CHANGE_DROPS_PEER" in err and f"'{victim}'" in err, err
    assert station.module_db.read_bytes() == before
    tally.add("side-effects", "refused")
    code, _out, err = _cli(station, [*argv, "--confirm"], capsys, monkeypatch)
    assert code == 0 and "W_CHANGE_DROPS_PEER" in err
    report = reconcile(station, NoReload())
    assert report.plan is not None and report.plan.peer(victim) is None  # the admin asked for it, in so many words
    tally.add("side-effects", "accepted")


@pytest.mark.parametrize("form", [
    {"name": "SPB", "host": "127.0.0.9", "patterns": "9XX"},  # a new row folding to spb's name
    {"name": "spb ", "host": "127.0.0.9", "patterns": "9XX"},
    {"id": 2, "name": "spb", "host": "127.0.0.4", "patterns": "4XX"},  # nsk's row renamed onto spb
    {"name": "kzn", "host": "127.0.0.3", "patterns": "9XX"},  # spb's address
    {"name": "kzn", "host": "127.0.0.9", "patterns": "3[0-4]X"},  # spb's numbers
])
def test_the_form_refuses_a_peer_that_clashes_with_a_working_one(
        tally: Tally, station: Paths, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        form: dict[str, object]) -> None:
    code, out, _err = _cli(station, ["peers", "validate"], capsys, monkeypatch,
                           json.dumps({**form, "secret": SECRET}))
    answer = json.loads(out)
    assert code == 1 and answer["ok"] is False, answer
    assert {p["code"] for p in answer["problems"]} & {"E_DUPLICATE_PEER_NAME", "E_DUPLICATE_HOST_PORT",
                                                      "E_PATTERN_OVERLAP_PEER"}
    tally.add("side-effects", "refused")


def test_peers_add_of_a_name_on_another_line_is_refused(tally: Tally, station: Paths,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = station.module_db.read_bytes()
    code, _out, err = _cli(station, ["peers", "add", "--name", "spb\n", "--host", "127.0.0.9", "--patterns", "9XX",
                                     "--secret", "-"], capsys, monkeypatch, SECRET)
    assert code == 2 and ("E_NAME_INVALID" in err or "already exists" in err)
    assert station.module_db.read_bytes() == before
    assert len(reconcile(station, NoReload()).plan.peers) == 2  # type: ignore[union-attr]
    tally.add("side-effects", "refused")


def test_a_paired_peer_cannot_announce_patterns_over_another_working_peer(tally: Tally, station: Paths) -> None:
    paired = replace(NSK, paired=True, sync_port=7787, public_key="rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
    upsert_peer(station.module_db, paired)
    fs = FileStation(station.mikopbx_db, station.module_db)
    over_spb = LocalDirectory("nsk", "0.1.0", "3XX,4XX", ())
    from python_worker.core.directory import directory_from_wire

    fs.save_directory(directory_from_wire("nsk", over_spb.to_wire()))
    assert read_config(station.module_db).peer("nsk").patterns == "4XX"  # type: ignore[union-attr]
    assert reconcile(station, NoReload()).plan.peer("spb") is not None  # type: ignore[union-attr]
    tally.add("side-effects", "refused")
    fs.save_directory(directory_from_wire("nsk", LocalDirectory("nsk", "0.1.0", "4XX,5XX", ()).to_wire()))
    assert read_config(station.module_db).peer("nsk").patterns == "4XX,5XX"  # type: ignore[union-attr]
    tally.add("side-effects", "accepted")
