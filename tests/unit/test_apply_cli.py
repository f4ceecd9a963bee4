"""`python -m python_worker apply|disable` as processes: crash safety under SIGKILL, real reload commands, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from python_worker.apply.reconciler import Paths
from python_worker.apply.reloads import reload_targets
from python_worker.apply.system import (
    CommandReloader,
    PhpCoreReloader,
    ReloadRequest,
    make_reloader,
    parse_contact_details,
    parse_contacts,
)
from python_worker.core.records import OUTGOING, PROVIDERS, SIP_HOSTS
from python_worker.db.moduledb import upsert_peer
from python_worker.db.owned import Change
from python_worker.statedir import HOOKS_FILE, JOURNAL_FILE, LOG_FILE, PAUSE_ENV, read_json, write_if_changed
from tests.unit.applyhelpers import (
    NSK,
    PYTHON,
    REPO,
    SECRET_NSK,
    SECRET_SPB,
    assert_consistent,
    make_station,
    owned_count,
    worker_env,
)


def _apply_argv(paths: Paths, *extra: str) -> list[str]:
    return [PYTHON, "-m", "python_worker", "apply", "--mikopbx-db", str(paths.mikopbx_db),
            "--module-db", str(paths.module_db), "--state-dir", str(paths.state_dir), *extra]


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env or worker_env(), cwd=REPO,
                          check=False)


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout}s"
        time.sleep(0.02)


def _reload_log_cmd(log: Path, exit_code: int = 0) -> str:
    return f"sh -c 'echo \"$1\" >> {log}; exit {exit_code}' reload {{what}}"


@pytest.mark.parametrize("point", ["after-journal", "after-db", "after-files", "after-reload"])
def test_sigkill_mid_apply_then_restart_leaves_a_consistent_station(tmp_path: Path, point: str) -> None:
    paths = make_station(tmp_path, "2026.1")
    assert _run(_apply_argv(paths, "--no-reload")).returncode == 0
    upsert_peer(paths.module_db, NSK)
    marker = tmp_path / "paused"
    env = worker_env()
    env[PAUSE_ENV] = f"{point}:{marker}"
    reloads = tmp_path / "reloads.log"
    proc = subprocess.Popen(_apply_argv(paths, "--reload-cmd", _reload_log_cmd(reloads)), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(marker, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert paths.state(JOURNAL_FILE).exists()  # the intent was recorded before anything changed
    if point == "after-db":  # the mixed moment: rows new, hooks.json still old
        assert owned_count(paths.mikopbx_db)["providers"] == 2
        assert "nsk" not in paths.state(HOOKS_FILE).read_text()

    result = _run(_apply_argv(paths, "--reload-cmd", _reload_log_cmd(reloads), "--json"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recovered"] == ("backward" if point == "after-journal" else "forward")
    assert_consistent(paths)
    assert owned_count(paths.mikopbx_db)["providers"] == 2
    assert reloads.read_text().split()[-3:] == ["pjsip", "dialplan", "firewall"]


def test_failing_reload_command_rolls_back_and_exits_non_zero(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2024.1")
    reloads = tmp_path / "reloads.log"
    assert _run(_apply_argv(paths, "--reload-cmd", _reload_log_cmd(reloads))).returncode == 0
    hooks = paths.state(HOOKS_FILE).read_bytes()
    upsert_peer(paths.module_db, NSK)
    result = _run(_apply_argv(paths, "--reload-cmd", _reload_log_cmd(reloads, exit_code=1), "--json"))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["result"] == "rolled-back"
    assert paths.state(HOOKS_FILE).read_bytes() == hooks
    assert owned_count(paths.mikopbx_db)["providers"] == 1
    # first apply: 3 targets; failed apply: 3; the reload of the restored config: 3 more
    assert reloads.read_text().split() == ["pjsip", "dialplan", "firewall"] * 3


def test_dry_run_json_and_secrets_never_in_output_logs_or_status(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    upsert_peer(paths.module_db, NSK)
    dry = _run(_apply_argv(paths, "--dry-run", "--json"))
    assert dry.returncode == 0
    preview = json.loads(dry.stdout)
    assert preview["result"] == "dry-run" and len(preview["create"]) == 13
    applied = _run(_apply_argv(paths, "--no-reload", "--verbose"))
    disabled = _run([PYTHON, "-m", "python_worker", "disable", "--mikopbx-db", str(paths.mikopbx_db),
                     "--state-dir", str(paths.state_dir), "--no-reload", "--json"])
    assert applied.returncode == 0 and disabled.returncode == 0
    assert json.loads(disabled.stdout)["counts"]["delete"] == 13
    texts = [dry.stdout, dry.stderr, applied.stdout, applied.stderr, disabled.stdout, disabled.stderr,
             paths.state(LOG_FILE).read_text()]
    assert "applied" in paths.state(LOG_FILE).read_text()
    for text in texts:
        assert SECRET_SPB not in text and SECRET_NSK not in text
    assert os.stat(paths.state(HOOKS_FILE)).st_mode & 0o777 == 0o600


def test_reload_targets_follow_what_changed() -> None:
    hooks = {"generatePeersPj": "a", "extensionGenHints": "b"}
    assert reload_targets([], hooks, hooks) == ()
    assert reload_targets([], hooks, {**hooks, "extensionGenHints": "c"}) == ("dialplan",)
    assert reload_targets([], hooks, {**hooks, "generatePeersPj": "c"}) == ("pjsip",)
    assert reload_targets([Change("update", OUTGOING, ("n",), "spb")], hooks, hooks) == ("dialplan",)
    assert reload_targets([Change("create", SIP_HOSTS, ("u", "h"), "spb")], hooks, hooks) == ("pjsip", "firewall")
    assert reload_targets([Change("delete", PROVIDERS, ("u",), "spb")], hooks, hooks) == ("pjsip", "dialplan")


def test_reload_command_scheme(tmp_path: Path) -> None:
    per = make_reloader("asterisk -rx '{what} reload'")
    assert isinstance(per, CommandReloader)
    assert per.plan_commands(["pjsip", "dialplan"]) == [["asterisk", "-rx", "pjsip reload"],
                                                        ["asterisk", "-rx", "dialplan reload"]]
    appended = make_reloader("/bin/reload-all --quiet")
    assert isinstance(appended, CommandReloader)
    assert appended.plan_commands(["pjsip", "firewall"]) == [["/bin/reload-all", "--quiet", "pjsip", "firewall"]]
    mixed = make_reloader(None, per_target={"dialplan": "asterisk -C /x/a.conf -rx 'dialplan reload'"})
    assert isinstance(mixed, CommandReloader)
    assert mixed.plan_commands(["pjsip", "dialplan"]) == [["asterisk", "-C", "/x/a.conf", "-rx", "dialplan reload"]]
    # php-core: Core's model-change messages on stdin, and only the targets no row change implies as words.
    php = make_reloader("php-core", module_dir=tmp_path)
    assert isinstance(php, PhpCoreReloader)
    event = {"source": "ModelsBase->sendChangesToBackend", "model": "MikoPBX\\Common\\Models\\Sip",
             "recordId": "7", "action": "afterSave", "changedFields": ["host"]}
    [(cmd, stdin)] = php.plan_commands(ReloadRequest(("pjsip", "dialplan", "firewall"), (event,), ("dialplan",)))
    assert cmd[1:] == ["-f", str(tmp_path / "Lib" / "ReloadCore.php"), "--", "--events", "-", "dialplan"]
    assert stdin is not None and json.loads(stdin) == [event]
    assert php.plan_commands(ReloadRequest(("pjsip",))) == []  # nothing to tell Core
    assert make_reloader("x", no_reload=True).reload(ReloadRequest(("pjsip",))).ok
    failing = make_reloader("/nonexistent/reload")
    assert not failing.reload(ReloadRequest(("pjsip",))).ok


def test_parse_pjsip_show_contacts() -> None:
    out = """
  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  SIP-TRUNK-AAAAAAAAAA/sip:127.0.0.3:5060          4d7e1a9b7c Avail         0.412
  Contact:  SIP-TRUNK-BBBBBBBBBB/sip:127.0.0.4:5060          5e8f2b0c8d Unavail       nan
  Contact:  201/sip:201@127.0.0.21:5062;ob                     1234567890 NonQual       nan
"""
    assert parse_contacts(out) == {"SIP-TRUNK-AAAAAAAAAA": "reachable", "SIP-TRUNK-BBBBBBBBBB": "unreachable",
                                   "201": "unknown"}
    assert parse_contact_details(out) == {"SIP-TRUNK-AAAAAAAAAA": ("reachable", 0.412),
                                          "SIP-TRUNK-BBBBBBBBBB": ("unreachable", None), "201": ("unknown", None)}


def test_write_if_changed_is_atomic_and_skips_equal_content(tmp_path: Path) -> None:
    target = tmp_path / "hooks.json"
    assert write_if_changed(target, "one")
    ino = target.stat().st_ino
    assert not write_if_changed(target, "one") and target.stat().st_ino == ino
    assert write_if_changed(target, "two") and target.stat().st_ino != ino  # replaced by rename
    assert read_json(target) is None and target.read_text() == "two"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_without_reload_options_a_station_reloads_through_core(tmp_path: Path) -> None:
    import argparse

    from python_worker.cli.apply_cmds import _reloader

    (tmp_path / "Lib").mkdir()
    (tmp_path / "Lib" / "ReloadCore.php").write_text("<?php\n")
    args = argparse.Namespace(module_dir=None, module_db=tmp_path / "db" / "module.db", reload_cmd=None,
                              no_reload=False, reload_timeout=5.0, reload_pjsip_cmd=None,
                              reload_dialplan_cmd=None, reload_firewall_cmd=None, reload_manager_cmd=None)
    reloader = _reloader(args)
    assert isinstance(reloader, PhpCoreReloader)
    assert reloader.plan_commands(ReloadRequest((), (), ("pjsip",)))[0][0][1:] == [
        "-f", str(tmp_path / "Lib" / "ReloadCore.php"), "--", "--events", "-", "pjsip"]


def test_secrets_are_masked_in_messages_and_tracebacks() -> None:
    import logging

    from python_worker.logs import MASK, SecretFilter

    flt = SecretFilter()
    flt.add([SECRET_SPB])
    try:
        raise ValueError(f"INSERT failed [parameters: ('{SECRET_SPB}',)]")
    except ValueError:
        import sys

        record = logging.LogRecord("pbxfed", logging.ERROR, __file__, 1, "secret %s", (SECRET_SPB,), sys.exc_info())
    assert flt.filter(record)
    text = logging.Formatter().format(record)
    assert SECRET_SPB not in text and MASK in text and "ValueError" in text


def test_apply_with_devstate_cmd_renders_lamps_and_sets_them_after_the_reload(tmp_path: Path) -> None:
    """`apply --devstate-cmd` renders the hints as the worker does (each peer's Custom:FED-<hex> lamp device) and
    sets every BLF peer's lamp for "up" after the reload; a dry run renders them but runs nothing; without the
    option the hints carry no device nobody would set (its UNKNOWN state would read Idle)."""
    from python_worker.core.planner import provider_id

    paths = make_station(tmp_path / "st", "2026.1")
    log = tmp_path / "log.txt"
    devstate = f"sh -c 'echo \"devstate $0 $1\" >> {log}' {{device}} {{state}}"
    reload = f"sh -c 'echo \"reload $0\" >> {log}' {{what}}"
    lamp = f"Custom:FED-{provider_id('spb')[10:]}"

    dry = _run(_apply_argv(paths, "--dry-run", "--devstate-cmd", devstate, "--reload-cmd", reload))
    assert dry.returncode == 0, dry.stderr
    assert not log.exists()

    plain = _run(_apply_argv(paths, "--reload-cmd", reload))
    assert plain.returncode == 0, plain.stderr
    hints = json.loads((paths.state_dir / HOOKS_FILE).read_text())["extensionGenHints"]
    assert "exten => 301,hint,PJSIP/301\n" in hints and "Custom:" not in hints
    assert "devstate" not in log.read_text()
    log.unlink()

    done = _run(_apply_argv(paths, "--devstate-cmd", devstate, "--reload-cmd", reload))
    assert done.returncode == 0, done.stderr
    hints = json.loads((paths.state_dir / HOOKS_FILE).read_text())["extensionGenHints"]
    assert f"exten => 301,hint,PJSIP/301&{lamp}\n" in hints
    assert log.read_text().splitlines() == [  # only the hints changed; then the lamp, through the other state
        "reload dialplan", f"devstate {lamp} UNAVAILABLE", f"devstate {lamp} INVALID"]
