"""The command line: peers and settings management with form-grade validation, plan/render, demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from python_worker.cli import main
from python_worker.db.moduledb import read_config
from python_worker.demo.stationdb import Phone, StationSpec, build_station_db

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Sup3rSecretTrunkPass"


@pytest.fixture
def dbs(tmp_path: Path) -> tuple[Path, Path]:
    mikopbx = build_station_db(tmp_path / "mikopbx.db", StationSpec(
        name="АТС Москва", lan_ip="127.0.0.2", phones=[Phone("201", "Иван"), Phone("202", "Мария")]))
    module = tmp_path / "module.db"
    assert main(["init", "--module-db", str(module)]) == 0
    return mikopbx, module


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "python_worker", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False, input=stdin)


def db_args(dbs: tuple[Path, Path]) -> list[str]:
    return ["--mikopbx-db", str(dbs[0]), "--module-db", str(dbs[1])]


def secret_file(dbs: tuple[Path, Path], secret: str = SECRET) -> str:
    path = dbs[1].parent / "secret.txt"
    path.write_text(secret + "\n", encoding="utf-8")  # the file's line ending is not the secret's
    return str(path)


def add_spb(dbs: tuple[Path, Path], *extra: str) -> int:
    return main(["peers", "add", *db_args(dbs), "--name", "spb", "--host", "127.0.0.3", "--patterns", "3XX",
                 "--secret-file", secret_file(dbs), *extra])


def test_add_set_list_remove(dbs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert add_spb(dbs, "--no-blf", "--note", "Питер") == 0
    peer = read_config(dbs[1]).peers[0]
    assert (peer.name, peer.host, peer.port, peer.transport, peer.patterns, peer.blf, peer.transfers, peer.note) == (
        "spb", "127.0.0.3", 5060, "udp", "3XX", False, None, "Питер")
    assert main(["peers", "set", *db_args(dbs), "--name", "spb", "--port", "5070", "--overlap-fix"]) == 0
    peer = read_config(dbs[1]).peers[0]
    assert (peer.port, peer.overlap_fix, peer.blf, peer.secret) == (5070, True, False, SECRET)
    capsys.readouterr()
    assert main(["peers", "list", "--module-db", str(dbs[1]), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "spb" and SECRET not in json.dumps(listed)
    assert main(["peers", "remove", "--module-db", str(dbs[1]), "spb"]) == 0
    assert read_config(dbs[1]).peers == ()


def test_refused_values_exit_nonzero_with_reason_and_change_nothing(dbs: tuple[Path, Path]) -> None:
    assert add_spb(dbs) == 0
    before = dbs[1].read_bytes()
    proc = run("peers", "add", *db_args(dbs), "--name", "kzn", "--host", "127.0.0.4", "--patterns", "3[0-4]X",
               "--secret", "-", stdin=SECRET)
    assert proc.returncode == 2
    assert "E_PATTERN_OVERLAP_PEER [kzn.patterns]: Pattern '3[0-4]X' overlaps pattern '3XX' of peer 'spb'." \
        in proc.stderr
    proc = run("peers", "add", *db_args(dbs), "--lang", "ru", "--name", "kzn", "--host", "127.0.0.4",
               "--patterns", "25X", "--secret", "-", stdin=SECRET)
    assert proc.returncode == 2
    assert "Шаблон «25X» пересекается с номерами этой станции (2XX)." in proc.stderr
    proc = run("peers", "set", *db_args(dbs), "--name", "spb", "--secret", "-", stdin="bad secret")
    assert proc.returncode == 2 and "E_SECRET_INVALID [spb.secret]" in proc.stderr
    proc = run("peers", "add", *db_args(dbs), "--name", "spb", "--host", "127.0.0.9", "--patterns", "9XX",
               "--secret", "-", stdin=SECRET)
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert dbs[1].read_bytes() == before


def test_validate_prints_json_for_the_form(dbs: tuple[Path, Path]) -> None:
    proc = run("peers", "validate", *db_args(dbs), stdin=json.dumps({"name": "spb", "host": "127.0.0.3",
                                                                      "port": "x", "patterns": "3XX",
                                                                      "secret": SECRET}))
    data = json.loads(proc.stdout)
    assert proc.returncode == 1 and data["ok"] is False
    assert [(p["code"], p["field"]) for p in data["problems"]] == [("E_PORT_INVALID", "port")]
    assert data["problems"][0]["message"]["ru"].startswith("Порт")
    proc = run("peers", "validate", *db_args(dbs), stdin=json.dumps({"name": "spb", "host": "127.0.0.3",
                                                                      "patterns": "3XX", "secret": SECRET}))
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"ok": True, "problems": []}


def test_validate_an_edit_of_row_id_allows_a_rename(dbs: tuple[Path, Path]) -> None:
    assert add_spb(dbs) == 0
    renamed = {"id": 1, "name": "piter", "host": "127.0.0.3", "patterns": "3XX", "secret": SECRET}
    proc = run("peers", "validate", *db_args(dbs), stdin=json.dumps(renamed))
    assert proc.returncode == 0, proc.stdout
    proc = run("peers", "validate", *db_args(dbs), stdin=json.dumps({k: v for k, v in renamed.items() if k != "id"}))
    data = json.loads(proc.stdout)  # as a new peer it would collide with spb's address and numbers
    assert proc.returncode == 1
    assert sorted(p["code"] for p in data["problems"]) == ["E_DUPLICATE_HOST_PORT", "E_PATTERN_OVERLAP_PEER"]


def test_settings(dbs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "set", *db_args(dbs), "--station-name", "moscow", "--own-patterns", "2XX",
                 "--no-blf-default"]) == 0
    assert main(["settings", "set", *db_args(dbs), "--station-name", "9 bad"]) == 2
    assert main(["settings", "set", *db_args(dbs), "--own-patterns", "2X."]) == 2
    capsys.readouterr()
    assert main(["settings", "show", "--module-db", str(dbs[1])]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["station_name"], shown["own_patterns"], shown["blf_default"]) == ("moscow", "2XX", False)


def test_settings_validate_for_the_form(dbs: tuple[Path, Path]) -> None:
    proc = run("settings", "validate", *db_args(dbs), "--json", stdin=json.dumps({"station_name": "moscow",
                                                                                  "own_patterns": "2X!"}))
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [(p["code"], p["field"]) for p in data["problems"]] == [("E_PATTERN_INVALID", "own_patterns")]
    proc = run("settings", "validate", *db_args(dbs), stdin=json.dumps({"station_name": "moscow", "own_patterns": ""}))
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"ok": True, "problems": []}


def test_plan_and_render(dbs: tuple[Path, Path], tmp_path: Path) -> None:
    assert add_spb(dbs) == 0
    proc = run("plan", *db_args(dbs), "--json")
    assert proc.returncode == 0
    plan = json.loads(proc.stdout)["plan"]
    assert [p["provider_id"] for p in plan["peers"]] == ["SIP-TRUNK-B4FBFB7E21"]
    proc = run("plan", *db_args(dbs), "--lang", "ru")
    assert "сосед spb по адресу 127.0.0.3:5060/udp" in proc.stdout
    proc = run("render", *db_args(dbs), "--out", str(tmp_path / "state"))
    assert proc.returncode == 0
    hooks = json.loads((tmp_path / "state" / "hooks.json").read_text(encoding="utf-8"))
    assert set(hooks) == {"generatePeersPj", "extensionGenContexts", "extensionGenInternalTransfer",
                          "extensionGenHints"}


def test_secrets_and_form_json_are_refused_in_argv(dbs: tuple[Path, Path]) -> None:
    before = dbs[1].read_bytes()
    proc = run("peers", "add", *db_args(dbs), "--name", "kzn", "--host", "127.0.0.4", "--patterns", "4XX",
               "--secret", SECRET)
    assert proc.returncode == 2 and "visible to every user" in proc.stderr and SECRET not in proc.stderr
    proc = run("peers", "validate", *db_args(dbs), json.dumps({"name": "kzn", "secret": SECRET}))
    assert proc.returncode == 2 and "stdin" in proc.stderr
    proc = run("invite", "accept", *db_args(dbs), "--state-dir", str(dbs[1].parent / "state"), "pbxfed1:abc")
    assert proc.returncode == 2 and "stdin" in proc.stderr
    assert dbs[1].read_bytes() == before


def test_missing_database_is_reported(tmp_path: Path) -> None:
    proc = run("plan", "--mikopbx-db", str(tmp_path / "none.db"), "--module-db", str(tmp_path / "m.db"))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_demo_command(tmp_path: Path) -> None:
    proc = run("demo", "--out", str(tmp_path / "demo"), "--three")
    assert proc.returncode == 0, proc.stderr
    assert "Station moscow" in proc.stdout and "peer novosibirsk at 127.0.0.4:5060/udp" in proc.stdout
    for name in ("moscow", "spb", "novosibirsk"):
        assert (tmp_path / "demo" / name / "state" / "hooks.json").is_file()


@pytest.mark.parametrize("cmd", [[], ["plan"], ["render"], ["peers", "add"], ["peers", "remove"], ["settings", "set"],
                                 ["demo"], ["init"]])
def test_help_everywhere(cmd: list[str]) -> None:
    proc = run(*cmd, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout
