"""The worker wired to Asterisk's commands (faked by files): trunk reachability polled, a dead peer's lamps shown
Unavailable, lamp devices set after the reload that swaps the hints, publications renewed. The decisions are
table-tested in test_liveness.py; here the loop, the commands and the files they drive. Waits are on events
(the worker's poll count, files appearing), never sleep-then-assert."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from python_worker.apply.reconciler import ApplyOptions
from python_worker.apply.system import AsteriskCli
from python_worker.core.config import PeerConfig
from python_worker.core.planner import provider_id
from python_worker.service.worker import Worker, WorkerOptions
from python_worker.statedir import HOOKS_FILE
from tests.unit.applyhelpers import NSK, SPB, RecordingReloader, make_station, running, wait_until

CONTACTS = """
  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  {spb}/sip:127.0.0.3:5060        ec370cc9b4 {spb_state}         5.438
  Contact:  {nsk}/sip:127.0.0.4:5060        0c4b1e2f11 Avail         1.002
  Contact:  201/sip:201@127.0.0.21:5060                1a2b3c4d5e NonQual       nan

Objects found: 3
"""


def _polls(worker: Worker, n: int = 3) -> None:
    """Wait until the worker has polled Asterisk `n` more times."""
    start = worker.polls
    wait_until(lambda: worker.polls >= start + n, 10, f"{n} polls")


def _devstate(marked: Path) -> str:
    return shlex.join(["sh", "-c", f'echo "$0 $1" >> {marked}', "{device}", "{state}"])


def _hints(state_dir: Path) -> str:
    return str(json.loads((state_dir / HOOKS_FILE).read_text())["extensionGenHints"])


def _write_contacts(path: Path, spb_state: str) -> None:
    path.write_text(CONTACTS.format(spb=provider_id("spb"), nsk=provider_id("nsk"), spb_state=spb_state))


def test_unreachable_peer_gets_unavailable_hints_and_comes_back(tmp_path: Path) -> None:
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB, NSK))
    contacts = tmp_path / "contacts.txt"
    _write_contacts(contacts, "Avail")
    reloader = RecordingReloader()
    marked = tmp_path / "devstate.txt"
    opts = WorkerOptions(debounce=0.05, resync=3600, reachability_interval=0.1, asterisk=AsteriskCli(
        contacts_cmd=shlex.join(["cat", str(contacts)]), devstate_cmd=_devstate(marked)))
    worker = Worker(paths, reloader, ApplyOptions(), opts)
    down = f"Custom:FED-{provider_id('spb')[10:]}"
    with running(worker) as thread:
        wait_until(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        _polls(worker)  # a few polls with everything reachable: nothing changes
        assert worker.reach.liveness.down == frozenset()
        calls = len(reloader.calls)
        device = f"Custom:FED-{provider_id('spb')[10:]}"
        assert f"exten => 301,hint,PJSIP/301&{device}" in _hints(paths.state_dir)
        # at the start each peer's down device is set for "up" (INVALID), through the other state
        nsk_device = f"Custom:FED-{provider_id('nsk')[10:]}"
        assert sorted(marked.read_text().splitlines()) == sorted([
            f"{device} UNAVAILABLE", f"{device} INVALID", f"{nsk_device} UNAVAILABLE", f"{nsk_device} INVALID"])
        marked.unlink()

        _write_contacts(contacts, "Unavail")
        wait_until(lambda: ",hint," + down in _hints(paths.state_dir), 5, "spb's hints on its lamp device alone")
        hints = _hints(paths.state_dir)
        assert "exten => 301,hint," + down in hints
        assert f"exten => 401,hint,PJSIP/401&{nsk_device}" in hints  # the other peer is untouched
        assert worker.reach.liveness.down == frozenset({"spb"})
        wait_until(lambda: len(reloader.calls) > calls, 5, "the reload")
        assert reloader.calls[calls:] == [("dialplan",)]  # only the hints changed
        # after the reload the Custom device changes state (so hints that kept a watched lamp's state move)
        wait_until(lambda: marked.exists() and len(marked.read_text().splitlines()) >= 2, 5, "the devstate commands")
        assert marked.read_text().splitlines() == [f"{device} INVALID", f"{device} UNAVAILABLE"]
        marked.unlink()
        calls = len(reloader.calls)

        contacts.write_text("garbage")  # unparsable / nothing known: keep what we know
        _polls(worker)
        assert worker.reach.liveness.down == frozenset({"spb"}) and len(reloader.calls) == calls

        _write_contacts(contacts, "Avail")
        wait_until(lambda: f"exten => 301,hint,PJSIP/301&{device}" in _hints(paths.state_dir), 5, "spb's hints back")
        wait_until(lambda: len(reloader.calls) >= calls + 1, 5, "the reload")
        # hints back and a renamed outbound-publish to spb (a new publication re-sends every state)
        assert reloader.calls[calls:] == [("pjsip", "dialplan")]
        # and the device changes again, so a watched hint that kept "Unavailable" across the reload recomputes
        wait_until(lambda: marked.exists() and len(marked.read_text().splitlines()) >= 2, 5, "the devstate commands")
        assert marked.read_text().splitlines() == [f"{device} UNAVAILABLE", f"{device} INVALID"]
        assert worker.reach.liveness.down == frozenset()
        status = worker.status()
        # what the admin page's dots and round-trip column read
        assert {p["name"]: (p["trunk"], p["rtt_ms"]) for p in status["peers"]} == {
            "nsk": ("reachable", 1.0), "spb": ("reachable", 5.4)}
    assert not thread.is_alive()


def test_failing_status_command_changes_nothing(tmp_path: Path) -> None:
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    reloader = RecordingReloader()
    opts = WorkerOptions(debounce=0.05, resync=3600, reachability_interval=0.05,
                         asterisk=AsteriskCli(contacts_cmd=shlex.join(["cat", str(tmp_path / "missing")])))
    worker = Worker(paths, reloader, ApplyOptions(), opts)
    with running(worker):
        wait_until(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        calls = len(reloader.calls)
        _polls(worker)
        assert worker.reach.liveness.down == frozenset() and len(reloader.calls) == calls
        assert worker.reach.contacts is None and worker.status()["trunk_source"] == "unknown"


HINTS = """
  = Hint                         = Device                        = State         = Presence = Watchers
301@internal-hints            : PJSIP/301                     State:{state:<13} Presence:not_set         Watchers  0
201@internal-hints            : PJSIP/201&Custom:201          State:Idle          Presence:not_set         Watchers  0
----------------
- 2 hints registered
"""


def test_peer_starting_to_publish_renews_our_publication(tmp_path: Path) -> None:
    """A peer that adds us later starts publishing (its lamps leave Unavailable here): our outbound-publish
    to it, which it refused while it did not know us and which Asterisk never retries, gets a new name."""
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    hints = tmp_path / "hints.txt"
    hints.write_text(HINTS.format(state="Unavailable"))
    reloader = RecordingReloader()
    opts = WorkerOptions(debounce=0.05, resync=3600, reachability_interval=0.1,
                         asterisk=AsteriskCli(hints_cmd=shlex.join(["cat", str(hints)])))
    worker = Worker(paths, reloader, ApplyOptions(), opts)
    pub = f"[{provider_id('spb')}-FED-PUB]"
    with running(worker):
        wait_until(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        wait_until(lambda: worker.reach.liveness.publishing is not None, 5, "the first look at the hints")
        calls = len(reloader.calls)
        _polls(worker)
        assert len(reloader.calls) == calls and pub in _peers_pj(paths.state_dir)
        assert [p["blf"] for p in worker.status()["peers"]] == ["waiting"]  # the admin page's BLF dot

        hints.write_text(HINTS.format(state="Idle"))
        renamed = f"[{provider_id('spb')}-FED-PUB-1]"
        wait_until(lambda: renamed in _peers_pj(paths.state_dir), 5, "a renamed publication")
        peers_pj = _peers_pj(paths.state_dir)
        assert pub not in peers_pj
        assert f"devicestate_publish = {provider_id('spb')}-FED-PUB-1" in peers_pj
        wait_until(lambda: len(reloader.calls) > calls, 5, "the reload")
        assert reloader.calls[calls:] == [("pjsip",)]
        _polls(worker)  # seen once: no more renewals, and no more hint polls
        assert len(reloader.calls) == calls + 1 and worker.reach.liveness.publishing == {"spb"}
        assert [p["blf"] for p in worker.status()["peers"]] == ["ok"]


def _peers_pj(state_dir: Path) -> str:
    return str(json.loads((state_dir / HOOKS_FILE).read_text())["generatePeersPj"])


def test_peer_found_dead_by_sync_heartbeats_gets_unavailable_lamps_and_a_new_publication_back(
        tmp_path: Path) -> None:
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    reloader = RecordingReloader()
    marked = tmp_path / "devstate.txt"
    opts = WorkerOptions(debounce=0.05, resync=3600, asterisk=AsteriskCli(devstate_cmd=_devstate(marked)))
    worker = Worker(paths, reloader, ApplyOptions(), opts)
    device = f"Custom:FED-{provider_id('spb')[10:]}"
    with running(worker) as thread:
        wait_until(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        worker.on_sync_liveness(frozenset({"spb"}))  # what the sync thread reports
        wait_until(lambda: f",hint,Custom:FED-{provider_id('spb')[10:]}\n" in _hints(paths.state_dir), 5,
                   "spb's hints on the non-existent device")
        wait_until(lambda: marked.exists() and len(marked.read_text().splitlines()) >= 4, 5, "the devstate commands")
        assert marked.read_text().splitlines() == [  # at the start (up), then down
            f"{device} UNAVAILABLE", f"{device} INVALID", f"{device} INVALID", f"{device} UNAVAILABLE"]

        worker.on_sync_liveness(frozenset())
        wait_until(lambda: f"exten => 301,hint,PJSIP/301&{device}" in _hints(paths.state_dir), 5, "spb's hints back")
        pj = str(json.loads((paths.state_dir / HOOKS_FILE).read_text())["generatePeersPj"])
        assert f"[{provider_id('spb')}-FED-PUB-1]" in pj  # a new publication re-sends every state
        wait_until(lambda: len(marked.read_text().splitlines()) >= 6, 5, "the devstate commands")
        assert worker.request_reconcile(5.0) is not None  # one more reconcile: nothing more is due
        assert marked.read_text().splitlines()[4:] == [f"{device} UNAVAILABLE", f"{device} INVALID"]  # once
    assert not thread.is_alive()


def _core_show_hints(numbers: list[str], devices: str, state: str) -> str:
    """`core show hints` as Asterisk 22 prints it (device list cut at 60 characters)."""
    lines = ["  = Hint                         = Device                        = State         = Presence = Watchers"]
    for n in numbers:
        app = devices.replace("{n}", n)
        lines.append(f"{n + '@internal-hints':<30.30}: {app:<60.60}  State:{state:<15.15} Presence:not_set         "
                     "Watchers  1")
    return "\n".join([*lines, "----------------", f"- {len(numbers)} hints registered", ""])


def test_lamp_device_waits_for_a_queued_reload_to_reach_asterisk(tmp_path: Path) -> None:
    """On MikoPBX the dialplan reload is queued in Core: the worker changes a peer's down device only once
    Asterisk's hints show the new form (a change before the reload would be lost, and a watched hint keeps
    its last state across the reload), or at the latest after `devstate_wait`."""
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    contacts, hints, marked = tmp_path / "contacts.txt", tmp_path / "hints.txt", tmp_path / "devstate.txt"
    numbers = [str(n) for n in range(300, 400)]
    device = f"Custom:FED-{provider_id('spb')[10:]}"
    up_form, down_form = "PJSIP/{n}&" + device, device
    contacts.write_text(CONTACTS.format(spb=provider_id("spb"), nsk=provider_id("nsk"), spb_state="Avail"))
    opts = WorkerOptions(debounce=0.05, resync=3600, reachability_interval=0.05, devstate_wait=1.5,
                         asterisk=AsteriskCli(contacts_cmd=shlex.join(["cat", str(contacts)]),
                                              hints_cmd=shlex.join(["cat", str(hints)]),
                                              devstate_cmd=_devstate(marked)))
    worker = Worker(paths, RecordingReloader(), ApplyOptions(), opts)

    def lines() -> list[str]:
        return marked.read_text().splitlines() if marked.exists() else []
    with running(worker) as thread:
        # Asterisk not answering yet (the box is booting): the lamp waits for it, past the deadline too
        wait_until(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        past = time.monotonic() + opts.devstate_wait + 0.3
        wait_until(lambda: time.monotonic() > past and worker.polls > 0, 5, "polls past the lamp's deadline")
        _polls(worker)
        assert not lines() and "spb" in worker.lamps.schedule.due
        hints.write_text(_core_show_hints(numbers, up_form, "Idle"))
        wait_until(lambda: len(lines()) >= 2, 10, "the start's devstate commands")
        assert lines() == [f"{device} UNAVAILABLE", f"{device} INVALID"]

        _write_contacts(contacts, "Unavail")
        wait_until(lambda: f",hint,Custom:FED-{provider_id('spb')[10:]}\n" in _hints(paths.state_dir), 5, "down hints")
        _polls(worker)  # Asterisk still shows the old hints: the reload is queued
        due = worker.lamps.schedule.due
        assert len(lines()) == 2 and due == {"spb": ("UNAVAILABLE", due["spb"][1])}
        hints.write_text(_core_show_hints(numbers[:50], down_form, "Busy"))  # half reloaded: still waiting
        _polls(worker)
        assert len(lines()) == 2
        hints.write_text(_core_show_hints(numbers, down_form, "Busy"))
        wait_until(lambda: len(lines()) >= 4, 5, "the devstate commands after the reload")
        assert lines()[2:] == [f"{device} INVALID", f"{device} UNAVAILABLE"] and not worker.lamps.schedule.due

        _write_contacts(contacts, "Avail")  # back, but the reload never shows: set at the deadline anyway
        wait_until(lambda: f"exten => 301,hint,PJSIP/301&{device}" in _hints(paths.state_dir), 5, "up hints")
        started = time.monotonic()
        wait_until(lambda: len(lines()) >= 6, 5, "the devstate commands at the deadline")
        assert time.monotonic() - started >= 1.0
        assert lines()[4:] == [f"{device} UNAVAILABLE", f"{device} INVALID"]
    assert not thread.is_alive()


def test_a_devstate_change_asterisk_refuses_is_not_taken_for_done(tmp_path: Path) -> None:
    """`asterisk -rx` exits 0 when the CLI refuses `devstate change` (it prints its usage): the worker logs it
    and tries again at the next reconcile instead of believing the lamps are set."""
    paths = make_station(tmp_path / "st", "2026.1", peers=(SPB,))
    count = tmp_path / "count.txt"
    usage = "Usage: devstate change <device> <state>"
    refusing = shlex.join(["sh", "-c", f'echo x >> {count}; echo "{usage}"', "{device}", "{state}"])
    opts = WorkerOptions(debounce=0.05, resync=3600, asterisk=AsteriskCli(devstate_cmd=refusing))
    worker = Worker(paths, RecordingReloader(), ApplyOptions(), opts)
    with running(worker):
        wait_until(lambda: worker.last is not None and worker.last.result == "applied", 10, "the first apply")
        wait_until(lambda: count.exists(), 5, "the devstate command")
        assert worker.lamps.schedule.given == {}
        worker.request_reconcile(5.0)
        wait_until(lambda: len(count.read_text().splitlines()) >= 2, 5, "a second try")
        assert worker.lamps.schedule.given == {}


def test_liveness_of_a_peer_whose_dialplan_does_not_depend_on_it_costs_no_reconcile(tmp_path: Path) -> None:
    """A peer without stock BLF hints (here BLF off; a paired peer whose states ride the sync channel alike) renders
    the same up or down: its ups and downs must not ask for a re-plan. On a ten-station mesh such reconciles, each
    delaying the sync thread's heartbeats, made the peers read each other down and up again without end. The loop
    is not running here: a request for a reconcile stays pending, where the test sees it."""
    quiet = PeerConfig(name="spb", host="127.0.0.3", port=5060, transport="udp", patterns="3XX", secret=SPB.secret,
                       blf=False)
    paths = make_station(tmp_path / "st", "2026.1", peers=(quiet, NSK))
    worker = Worker(paths, RecordingReloader(), ApplyOptions(), WorkerOptions(debounce=0.05, resync=3600))
    report = worker.reconcile_once(forced=True)
    assert report is not None and report.result == "applied" and worker.plan is not None
    planned = {p.name: p for p in worker.plan.peers}
    assert not planned["spb"].is_replanned_on_liveness
    assert planned["nsk"].is_replanned_on_liveness  # stock BLF: its hints move to the lamp device while down
    for _ in range(3):
        worker.on_sync_liveness(frozenset({"spb"}))
        assert worker.reach.liveness.sync_down == frozenset({"spb"})  # known (the next plan is made with it) ...
        worker.on_sync_liveness(frozenset())
        assert worker.requests.pending() is None  # ... but no reconcile asked for
    assert worker.reach.liveness.sync_down == frozenset()
    worker.on_sync_liveness(frozenset({"nsk"}))
    assert worker.requests.pending() is not None
    assert worker.reach.liveness.sync_down == frozenset({"nsk"})
