"""The command line, fuzzed in-process on real station files: every option of `peers add/set`, `settings set`,
`peers validate` (JSON on stdin), `invite create`. A refusal exits 2 (or 1 with JSON for `validate`), names the
field or option, prints no traceback and leaves both databases byte-identical; an accepted change reads back,
renders safely and keeps every working peer."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_worker.cli import main
from python_worker.core.config import Settings
from python_worker.core.planner import build_plan
from python_worker.db.moduledb import read_config, write_settings
from python_worker.db.snapshot import read_snapshot
from python_worker.pipeline import compute
from python_worker.sync.pairing import INVITES_FILE
from tests.hostile.conftest import Tally, examples
from tests.hostile.oracle import HOSTS, INJECTIONS, check_hooks, check_nothing_lost, check_records
from tests.unit.applyhelpers import NSK, SPB, make_station

SECRET = "Sup3rSecretTrunkPass"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-template")
    paths = make_station(root, "2026.1", peers=(SPB, NSK))
    # a public number, so a fallback through the admin's provider (SIP-1611151795, 11 digits from 7 or 8) can be
    # accepted as well as refused
    write_settings(paths.module_db, Settings(station_name="moscow", own_patterns="2XX", public_number="74951234000"))
    return root


class Station:
    def __init__(self, template: Path, folder: Path) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(template, folder)
        self.mikopbx = folder / "cf" / "mikopbx.db"
        self.module = folder / "module" / "db" / "module.db"
        self.state = folder / "module" / "db" / "state"

    def files(self) -> tuple[bytes, bytes]:
        return self.mikopbx.read_bytes(), self.module.read_bytes()

    def dbs(self) -> list[str]:
        return ["--mikopbx-db", str(self.mikopbx), "--module-db", str(self.module)]


def run(argv: list[str], stdin: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8", "surrogatepass"))))
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: a refused option
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def judge(st_: Station, before: tuple[bytes, bytes], code: int, out: str, err: str, *, validate: bool = False) -> str:
    assert "Traceback" not in err + out, err
    if code == 0 and not validate:
        config = read_config(st_.module)
        snapshot = read_snapshot(st_.mikopbx)
        result = compute(snapshot, config)
        check_hooks(result.hooks, result.plan)
        check_records(result.records)
        from python_worker.core.config import ModuleConfig

        old = build_plan(snapshot, ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"), (SPB, NSK)))
        check_nothing_lost(old, result.plan, except_for="spb")  # `peers set` may change spb itself
        return "accepted"
    assert st_.files() == before, "a refused command changed a database"
    if validate:
        answer = json.loads(out)
        assert code == (0 if answer["ok"] else 1)
        assert all(p["field"] for p in answer["problems"])
        return "accepted" if answer["ok"] else "refused"
    assert code in (2, 3), (code, err)
    assert err.strip(), "a refusal must say why"
    return "refused"


TEXT = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=40))
PROVIDERS = st.one_of(st.sampled_from(["SIP-1611151795", "SIP-1611151795", "SIP-NOPE", "SIP-1611151795\n", "",
                                       "x" * 65, "[evil]"]), TEXT)
COUNTS = st.one_of(st.sampled_from(["0", "1", "2", "15", "16", "1000", "1001", "-1", "٣", "1e3", "", " 2", "2\n",
                                    "9" * 40]), TEXT)
PREFIXES = st.one_of(st.sampled_from(["78125550", "78125550", "+78125550", "", "7812;555", "78125550\n", "7" * 17,
                                      "٧٨"]), TEXT)
PUBLIC_PATTERNS = st.one_of(st.sampled_from(["8495XXXXXXX", "8495XXXXXXX", "112", "9XX", "8495.", "2XX", "",
                                             "8495XXXXXXX\n[evil]", "8495XXXXXXX,8499XXXXXXX"]), TEXT)
NUMBERS = st.one_of(st.sampled_from(["74951234000", "+74951234000", "7495 123", "", "7495\n", "7" * 17]), TEXT)
PORTS = st.sampled_from(["5060", "٥٠٦٠", "0", "65536", "-1", " 5060", "5060\n", "0x13c4", "1e3", "", "99999999999999"])


def option(name: str, values: st.SearchStrategy[str], *, absent: int = 1) -> st.SearchStrategy[list[str]]:
    """The option with a drawn value, or (`absent` times as often) not given."""
    return st.one_of(*[st.just([])] * absent, values.map(lambda v: [name, v]))


@st.composite
def peer_commands(draw: st.DrawFn) -> tuple[list[str], str]:
    verb = draw(st.sampled_from(["add", "set"]))
    good = "kzn" if verb == "add" else "spb"
    name = draw(st.one_of(st.just(good), st.just(good), st.sampled_from(["kzn", "spb", "SPB", "spb\n", "moscow",
                                                                          "k" * 40]), TEXT))
    argv = ["peers", verb, "--name", name]
    host = draw(st.one_of(st.just("127.0.0.5"), st.just("::1"), st.sampled_from([*HOSTS, "127.0.0.4"]), TEXT))
    if verb == "add" or draw(st.booleans()):
        argv += ["--host", host]
    if verb == "add" or draw(st.booleans()):
        argv += ["--patterns", draw(st.one_of(st.just("5XX" if verb == "add" else "3XX"), st.just("5[0-4]X"),
                                              st.sampled_from(["5XX", "٣XX", "4XX", "2XX", "5X.", "5XX\n[x]"]),
                                              TEXT))]
    argv += draw(option("--port", PORTS))
    argv += draw(option("--transport", st.one_of(st.sampled_from(["udp", "UDP", "ws", "tls\n"]), TEXT)))
    argv += draw(option("--note", TEXT))
    argv += draw(st.sampled_from([[], ["--no-blf"], ["--overlap-fix"], ["--no-enabled"]]))
    # PSTN fallback and transit (issue #15): each option sometimes, good values often
    for opt, values in (("--fallback-provider", PROVIDERS), ("--fallback-trim", COUNTS),
                        ("--fallback-prepend", PREFIXES), ("--transit-patterns", PUBLIC_PATTERNS),
                        ("--transit-provider", PROVIDERS), ("--transit-limit", COUNTS),
                        ("--transit-callerid", NUMBERS), ("--via-patterns", PUBLIC_PATTERNS)):
        argv += draw(option(opt, values, absent=3))
    how = draw(st.sampled_from(["stdin", "stdin", "stdin", "stdin", "argv", "none"]))
    secret = draw(st.one_of(st.just(SECRET), st.just(SECRET + "\n"), st.just(SECRET), st.sampled_from(
        ["", "x" * 100_000, "a b" * 9, "\udc80" * 20, SECRET + "\n\n", "[x]" * 6]), TEXT))
    if how == "stdin":
        argv += ["--secret", "-"]
    elif how == "argv":
        argv += ["--secret", secret]
    return argv, secret if how == "stdin" else ""


@settings(max_examples=examples(80))
@given(peer_commands())
def test_peers_add_and_set(tally: Tally, template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch, command: tuple[list[str], str]) -> None:
    argv, stdin = command
    station = Station(template, tmp_path / "st")
    before = station.files()
    try:
        code, out, err = run([*argv[:2], *station.dbs(), *argv[2:]], stdin, capsys, monkeypatch)
        if "--secret" in argv and argv[argv.index("--secret") + 1] != "-":
            given_secret = argv[argv.index("--secret") + 1]
            assert code == 2, "a secret in argv must be refused"
            assert len(given_secret) < 6 or given_secret not in err, "the refusal quoted the secret"
        outcome = judge(station, before, code, out, err)
    except AssertionError:
        tally.add("cli.peers", "unsafe")
        raise
    except Exception:
        tally.add("cli.peers", "crash")
        raise
    tally.add("cli.peers", outcome)


@st.composite
def settings_commands(draw: st.DrawFn) -> list[str]:
    argv = ["settings", "set"]
    argv += draw(option("--station-name", st.one_of(st.sampled_from(["spb", "SPB", "nsk", "kazan", "moscow\n"]),
                                                    TEXT)))
    argv += draw(option("--own-patterns", st.one_of(st.sampled_from(["2XX", "3XX", "2XX,4XX", "٢XX", ""]), TEXT)))
    argv += draw(option("--display-name", TEXT))
    argv += draw(st.sampled_from([[], ["--no-blf-default"], ["--overlap-fix-default"]]))
    argv += draw(option("--public-number", NUMBERS))
    argv += draw(option("--public-trim", COUNTS))
    argv += draw(option("--public-prepend", PREFIXES))
    return argv


@settings(max_examples=examples(40))
@given(settings_commands())
def test_settings_set(tally: Tally, template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    station = Station(template, tmp_path / "st")
    before = station.files()
    try:
        code, out, err = run([*argv, *station.dbs()], "", capsys, monkeypatch)
        outcome = judge(station, before, code, out, err)
    except AssertionError:
        tally.add("cli.settings", "unsafe")
        raise
    except Exception:
        tally.add("cli.settings", "crash")
        raise
    tally.add("cli.settings", outcome)


def sometimes(good: object, bad: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.just(good), st.just(good), bad)


@settings(max_examples=examples(60))
@given(st.one_of(
    st.fixed_dictionaries({"name": sometimes("kzn", TEXT), "host": sometimes("127.0.0.5", st.sampled_from(HOSTS)),
                           "patterns": sometimes("5XX", TEXT), "secret": sometimes(SECRET, TEXT)},
                          optional={"id": st.sampled_from([1, "1", "٢", -1, True, "x", None, 10**30]),
                                    "port": PORTS, "confirm": st.sampled_from([True, "on", "x"]),
                                    "fallback_provider": PROVIDERS, "fallback_trim": COUNTS,
                                    "fallback_prepend": PREFIXES, "transit_patterns": PUBLIC_PATTERNS,
                                    "transit_provider": PROVIDERS, "transit_limit": COUNTS,
                                    "transit_callerid": NUMBERS, "via_patterns": PUBLIC_PATTERNS}).map(json.dumps),
    st.sampled_from(["[]", "1", '"x"', "null", "{", "", "\ud800", '{"name": "\\ud800"}', "[" * 5000])))
def test_peers_validate_reads_the_form_from_stdin(tally: Tally, template: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                  text: str) -> None:
    station = Station(template, tmp_path / "st")
    before = station.files()
    try:
        code, out, err = run(["peers", "validate", *station.dbs()], text, capsys, monkeypatch)
        outcome = judge(station, before, code, out, err, validate=True)
    except AssertionError:
        tally.add("cli.validate", "unsafe")
        raise
    except Exception:
        tally.add("cli.validate", "crash")
        raise
    tally.add("cli.validate", outcome)


@settings(max_examples=examples(30))
@given(st.fixed_dictionaries({}, optional={
    "--address": st.one_of(st.sampled_from(HOSTS), TEXT), "--from": st.one_of(st.sampled_from(HOSTS), TEXT),
    "--ttl": st.sampled_from(["inf", "nan", "-1", "0", "1e9", "3600", "604801", "١٠", "600"]),
    "--sync-port": PORTS}))
def test_invite_create(tally: Tally, template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch, opts: dict[str, str]) -> None:
    station = Station(template, tmp_path / "st")
    before = station.files()
    argv = ["invite", "create", *station.dbs(), "--state-dir", str(station.state), "--json"]
    for k, v in opts.items():
        argv += [k, v]
    try:
        code, out, err = run(argv, "", capsys, monkeypatch)
        assert "Traceback" not in err
        assert station.files() == before  # an invitation changes neither database
        if code == 0:
            store = json.loads((station.state / INVITES_FILE).read_text())
            (rec,) = store.values()
            assert 0 < rec["expires"] - rec["created"] <= 7 * 86400
            made = json.loads(out)
            result = compute(read_snapshot(station.mikopbx), read_config(station.module))
            from python_worker.core.runtime import Runtime
            from python_worker.render.records import build_records

            plan = build_plan(read_snapshot(station.mikopbx), read_config(station.module),
                           Runtime.of(pairing_sources=[(made["id"], rec["allow_from"])] if rec["allow_from"] else []))
            check_records(build_records(plan))
            check_records(result.records)
            outcome = "accepted"
        else:
            assert code == 2 and err.strip()
            assert not (station.state / INVITES_FILE).exists()
            outcome = "refused"
    except AssertionError:
        tally.add("cli.invite", "unsafe")
        raise
    except Exception:
        tally.add("cli.invite", "crash")
        raise
    tally.add("cli.invite", outcome)
