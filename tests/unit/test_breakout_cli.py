"""Fallback and transit through the command line and the form's validation (issue #15): every new field refused
with its name and reason, nothing saved and nothing applied; good values saved, planned, previewed and applied."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from python_worker.cli import main
from python_worker.db.moduledb import read_config
from python_worker.demo.stationdb import Phone, PublicProvider, StationSpec, add_provider, build_station_db

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Sup3rSecretTrunkPass"
PSTN = "SIP-PROVIDER-PSTN1"


@pytest.fixture
def dbs(tmp_path: Path) -> tuple[Path, Path]:
    mikopbx = build_station_db(tmp_path / "mikopbx.db", StationSpec(
        name="АТС Москва", lan_ip="127.0.0.2", phones=[Phone("201", "Иван"), Phone("202", "Мария")]))
    add_provider(mikopbx, PublicProvider(PSTN, "127.0.0.50", "PSTN operator"))
    module = tmp_path / "module.db"
    secret = tmp_path / "spb.secret"
    secret.write_text(SECRET)
    assert main(["init", "--module-db", str(module)]) == 0
    assert main(["settings", "set", "--mikopbx-db", str(mikopbx), "--module-db", str(module), "--station-name",
                 "moscow", "--own-patterns", "2XX", "--public-number", "74951234000", "--public-prepend",
                 "74951234"]) == 0
    assert main(["peers", "add", "--mikopbx-db", str(mikopbx), "--module-db", str(module), "--name", "spb",
                 "--host", "127.0.0.3", "--patterns", "3XX", "--secret-file", str(secret)]) == 0
    return mikopbx, module


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "python_worker", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False, input=stdin)


def db_args(dbs: tuple[Path, Path]) -> list[str]:
    return ["--mikopbx-db", str(dbs[0]), "--module-db", str(dbs[1])]


BAD = [
    (("--fallback-provider", "SIP-NOPE"), "E_FALLBACK_PROVIDER_UNKNOWN", "fallback_provider",
     "Fallback provider 'SIP-NOPE' is not one of this station's SIP providers."),
    (("--fallback-provider", PSTN, "--fallback-trim", "x"), "E_FALLBACK_TRIM_INVALID", "fallback_trim",
     "Fallback: digits to trim must be a whole number from 0 to 15."),
    (("--fallback-provider", PSTN, "--fallback-prepend", "7812;555"), "E_FALLBACK_PREPEND_INVALID",
     "fallback_prepend", "Fallback prefix '7812;555' is invalid"),
    (("--fallback-provider", PSTN, "--fallback-prepend", "7812"), "E_FALLBACK_REWRITE_OUTSIDE_ROUTES",
     "fallback_prepend", "Fallback: number 7812300 (from 3XX) matches none of the outgoing routes of provider "
     "'PSTN operator'."),
    (("--fallback-provider", "SIP-TRUNK-B4FBFB7E21", "--fallback-prepend", "78125550"),
     "E_FALLBACK_PROVIDER_FEDERATION", "fallback_provider", "is a federation trunk"),
    (("--transit-patterns", "112", "--transit-provider", PSTN), "E_TRANSIT_PATTERN_SHORT", "transit_patterns",
     "Transit pattern '112' is shorter than 7 digits: emergency and short service numbers are never allowed "
     "through a peer."),
    (("--transit-patterns", "8495XXXXXXX"), "E_TRANSIT_PROVIDER_MISSING", "transit_provider",
     "Transit: no provider chosen."),
    (("--transit-patterns", "8495XXXXXXX", "--transit-provider", PSTN, "--transit-limit", "-3"),
     "E_TRANSIT_LIMIT_INVALID", "transit_limit", "Transit: the cap on concurrent calls"),
    (("--transit-patterns", "8495XXXXXXX", "--transit-provider", PSTN, "--transit-callerid", "84 95"),
     "E_TRANSIT_CALLERID_INVALID", "transit_callerid", "Transit caller number '84 95' is invalid"),
    (("--via-patterns", "8495!"), "E_VIA_PATTERN_INVALID", "via_patterns", "Numbers through this peer '8495!'"),
    (("--via-patterns", "2XXXXXX,8XX"), "E_VIA_PATTERN_SHORT", "via_patterns", "pattern '8XX' is shorter"),
]


@pytest.mark.parametrize(("args", "code", "field", "text"), BAD, ids=[b[1] for b in BAD])
def test_a_bad_value_is_refused_naming_its_field_and_nothing_changes(dbs: tuple[Path, Path], tmp_path: Path,
                                                                     args: tuple[str, ...], code: str, field: str,
                                                                     text: str) -> None:
    module_before, mikopbx_before = dbs[1].read_bytes(), dbs[0].read_bytes()
    proc = run("peers", "set", *db_args(dbs), "--name", "spb", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{code} [spb.{field}]" in proc.stderr and text in proc.stderr, proc.stderr
    ru = run("peers", "set", *db_args(dbs), "--lang", "ru", "--name", "spb", *args)
    assert ru.returncode == 2 and f"{code} [spb.{field}]" in ru.stderr
    assert dbs[1].read_bytes() == module_before and dbs[0].read_bytes() == mikopbx_before


def test_the_forms_validation_names_each_bad_field(dbs: tuple[Path, Path]) -> None:
    proposed = {"id": 1, "name": "spb", "host": "127.0.0.3", "patterns": "3XX", "secret": SECRET,
                "fallback_provider": PSTN, "fallback_trim": "two", "fallback_prepend": "78125550",
                "transit_patterns": "8495XXXXXXX,03", "transit_provider": "SIP-NOPE", "transit_limit": "0",
                "transit_callerid": "74951234000", "via_patterns": "9XX"}
    proc = run("peers", "validate", *db_args(dbs), stdin=json.dumps(proposed))
    data = json.loads(proc.stdout)
    assert proc.returncode == 1 and data["ok"] is False
    assert sorted((p["code"], p["field"]) for p in data["problems"]) == [
        ("E_FALLBACK_TRIM_INVALID", "fallback_trim"), ("E_TRANSIT_LIMIT_INVALID", "transit_limit"),
        ("E_TRANSIT_PATTERN_SHORT", "transit_patterns"), ("E_TRANSIT_PROVIDER_UNKNOWN", "transit_provider"),
        ("E_VIA_PATTERN_SHORT", "via_patterns")]
    assert all(p["message"]["ru"] and p["message"]["en"] for p in data["problems"])


def test_bad_public_settings_are_refused(dbs: tuple[Path, Path]) -> None:
    before = dbs[1].read_bytes()
    for args, code in ((("--public-number", "+7 495 1234"), "E_PUBLIC_NUMBER_INVALID [station.public_number]"),
                       (("--public-trim", "abc"), "E_PUBLIC_TRIM_INVALID [station.public_trim]"),
                       (("--public-prepend", "74x"), "E_PUBLIC_PREPEND_INVALID [station.public_prepend]")):
        proc = run("settings", "set", *db_args(dbs), *args)
        assert proc.returncode == 2 and code in proc.stderr, proc.stderr
    assert dbs[1].read_bytes() == before
    proc = run("settings", "validate", *db_args(dbs), stdin=json.dumps({
        "station_name": "moscow", "own_patterns": "2XX", "public_number": "74951234000", "public_trim": "1",
        "public_prepend": "+7x"}))
    # a station-wide error plans no peer, so the side-effect wall (core/validation.py) names spb too
    assert sorted((p["code"], p["field"]) for p in json.loads(proc.stdout)["problems"]) == [
        ("E_CHANGE_DROPS_PEER", "settings"), ("E_PUBLIC_PREPEND_INVALID", "public_prepend")]


def test_good_values_are_saved_planned_previewed_and_applied(dbs: tuple[Path, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["peers", "set", *db_args(dbs), "--name", "spb", "--fallback-provider", PSTN, "--fallback-prepend",
                 "78125550", "--transit-patterns", "8495XXXXXXX", "--transit-provider", PSTN,
                 "--transit-limit", "2"]) == 0
    peer = read_config(dbs[1]).peers[0]
    assert (peer.fallback_provider, peer.fallback_trim, peer.fallback_prepend, peer.transit_patterns,
            peer.transit_provider, peer.transit_limit, peer.transit_callerid) == (
        PSTN, 0, "78125550", "8495XXXXXXX", PSTN, 2, "")
    capsys.readouterr()
    assert main(["plan", *db_args(dbs)]) == 0
    words = capsys.readouterr().out
    assert "PSTN fallback when spb answers nothing: 3XX -> 781255503XX through PSTN operator" in words
    assert "transit for spb: 8495XXXXXXX through PSTN operator, at most 2 at a time, caller number 74951234000" \
        in words
    assert main(["plan", *db_args(dbs), "--json"]) == 0
    view = json.loads(capsys.readouterr().out)["plan"]["peers"][0]
    assert view["fallback"]["routes"][0]["sent_as"] == "781255503XX"
    assert view["transit"]["limit"] == 2 and view["via"] == []
    state = tmp_path / "state"
    assert main(["apply", *db_args(dbs), "--state-dir", str(state), "--dry-run", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert any("fallback" in json.dumps(c) for c in preview["create"]), preview["create"]
    assert main(["apply", *db_args(dbs), "--state-dir", str(state), "--no-reload"]) == 0
    conn = sqlite3.connect(dbs[0])
    rows = conn.execute("SELECT rulename, providerid, priority, prepend FROM m_OutgoingRoutingTable "
                        "WHERE note LIKE 'ModulePbxFederation: fallback %'").fetchall()
    conn.close()
    assert rows == [("Federation: spb 3XX fallback", PSTN, "1", "78125550")]
    hooks = json.loads((state / "hooks.json").read_text())
    assert "FED_FALLBACK" in hooks["generateOutRoutContext"]
    # Clearing the fields takes the fallback route away again.
    assert main(["peers", "set", *db_args(dbs), "--name", "spb", "--fallback-provider", "", "--fallback-prepend",
                 ""]) == 0
    assert main(["apply", *db_args(dbs), "--state-dir", str(state), "--no-reload"]) == 0
    conn = sqlite3.connect(dbs[0])
    assert conn.execute("SELECT count(*) FROM m_OutgoingRoutingTable WHERE note LIKE "
                        "'ModulePbxFederation: fallback %'").fetchone() == (0,)
    conn.close()
    assert "generateOutRoutContext" not in json.loads((state / "hooks.json").read_text())


def test_providers_lists_which_may_carry_what(dbs: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", *db_args(dbs), "--state-dir", str(tmp_path / "state"), "--no-reload"]) == 0
    capsys.readouterr()
    assert main(["providers", *db_args(dbs), "--json"]) == 0
    rows = {r["uniqid"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows[PSTN]["fallback"], rows[PSTN]["transit"], rows[PSTN]["federation"]) == (True, True, False)
    trunk = rows["SIP-TRUNK-B4FBFB7E21"]
    assert (trunk["fallback"], trunk["transit"], trunk["federation"]) == (False, False, True)
