"""The worker learns trunk reachability from Asterisk (`--status-cmd`, polled) and shows a dead peer's lamps
as Unavailable; when the peer is back its hints return and pjsip is reloaded so states resync."""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path

from python_worker.planner import provider_id
from python_worker.reconciler import ApplyOptions
from python_worker.statefiles import HOOKS_FILE
from python_worker.worker import Worker, WorkerOptions
from tests.unit.applyhelpers import NSK, SPB, RecordingReloader, make_station

CONTACTS = """
  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  {spb}/sip:127.0.0.3:5060        ec370cc9b4 {spb_state}         5.438
  Contact:  {nsk}/sip:127.0.0.4:5060        0c4b1e2f11 Avail         1.002
  Contact:  201/sip:201@127.0.0.21:5060                1a2b3c4d5e NonQual       nan

Objects found: 3
"""


def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _hints(state_dir: Path) -> str:
    return str(json.loads((state_dir / HOOKS_FILE).read_text())["extensionGenHints"])


def _write_contacts(path: Path, spb_state: str) -> None:
    path.write_text(CONTACTS.format(spb=provider_id("spb"), nsk=provider_id("nsk"), spb_state=spb_state))


def test_unreachable_peer_gets_unavailable_hints_and_comes_back(tmp_path: Path) -> None:
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB, NSK))
    contacts = tmp_path / "contacts.txt"
    _write_contacts(contacts, "Avail")
    reloader = RecordingReloader()
    opts = WorkerOptions(debounce=0.05, resync=3600, status_cmd=shlex.join(["cat", str(contacts)]),
                         reachability_interval=0.1)
    worker = Worker(paths, reloader, ApplyOptions(), opts)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    down = f"PJSIP/{provider_id('spb')}-FED-DOWN"
    try:
        _wait(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        time.sleep(0.5)  # a few polls with everything reachable: nothing changes
        assert worker.unreachable == frozenset()
        calls = len(reloader.calls)
        assert "exten => 301,hint,PJSIP/301" in _hints(paths.state_dir)

        _write_contacts(contacts, "Unavail")
        _wait(lambda: down in _hints(paths.state_dir), 5, "spb's hints on the non-existent device")
        hints = _hints(paths.state_dir)
        assert "exten => 301,hint," + down in hints
        assert "exten => 401,hint,PJSIP/401" in hints  # the other peer is untouched
        assert worker.unreachable == frozenset({"spb"})
        _wait(lambda: len(reloader.calls) > calls, 5, "the reload")
        assert reloader.calls[calls:] == [("dialplan",)]  # only the hints changed
        calls = len(reloader.calls)

        contacts.write_text("garbage")  # unparsable / nothing known: keep what we know
        time.sleep(0.4)
        assert worker.unreachable == frozenset({"spb"}) and len(reloader.calls) == calls

        _write_contacts(contacts, "Avail")
        _wait(lambda: "exten => 301,hint,PJSIP/301" in _hints(paths.state_dir), 5, "spb's hints back")
        _wait(lambda: len(reloader.calls) >= calls + 2, 5, "the reloads")
        # dialplan for the hints, then pjsip so outbound publications re-send the missed states
        assert reloader.calls[calls:] == [("dialplan",), ("pjsip",)]
        assert worker.unreachable == frozenset()
        status = worker.status()
        assert {p["name"]: p["reachability"] for p in status["peers"]} == {"nsk": "reachable", "spb": "reachable"}
    finally:
        worker.stop()
        thread.join(10)
    assert not thread.is_alive()


def test_failing_status_command_changes_nothing(tmp_path: Path) -> None:
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    reloader = RecordingReloader()
    opts = WorkerOptions(debounce=0.05, resync=3600, status_cmd=shlex.join(["cat", str(tmp_path / "missing")]),
                         reachability_interval=0.05)
    worker = Worker(paths, reloader, ApplyOptions(), opts)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        _wait(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        calls = len(reloader.calls)
        time.sleep(0.4)
        assert worker.unreachable == frozenset() and len(reloader.calls) == calls
        assert worker.check_reachability() is False
    finally:
        worker.stop()
        thread.join(10)
