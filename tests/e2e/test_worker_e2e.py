"""Three stations, each with the module's long-running worker (`python -m python_worker run`).

moscow 2XX (127.0.0.2), spb 3XX (127.0.0.3), novosibirsk 4XX (127.0.0.4).  Only module.db is ever
edited (through the worker's CLI); the workers notice the commit, write mikopbx.db and hooks.json and
run tests/e2e/station_reload.py.  The tests run in file order and build on each other:
a change applied during a call, the full mesh, removing and re-adding a peer, a peer going down.
"""

from __future__ import annotations

import itertools
import re
import shlex
import sys
import time
from collections.abc import Iterator

import pytest

from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import sipp_scenarios as sc

pytestmark = pytest.mark.e2e

SPECS = {"moscow": fd.MOSCOW, "spb": fd.SPB, "novosibirsk": fd.NSK}
FIGURES: dict[str, object] = {}


@pytest.fixture(scope="module")
def mesh() -> Iterator[fd.Federation]:
    """moscow <-> spb, and novosibirsk already knowing both (moscow and spb learn of it in the first test).

    Everything configured before a station's Asterisk starts is applied once with `python -m python_worker
    apply`; then each station runs `python -m python_worker run` (with the reachability poll)."""
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    f = fd.Federation()
    try:
        m, s, n = f.add(fd.MOSCOW), f.add(fd.SPB), f.add(fd.NSK)
        m.add_peer(fd.SPB)
        s.add_peer(fd.MOSCOW)
        n.add_peer(fd.MOSCOW)
        n.add_peer(fd.SPB)
        for st in (m, s, n):
            st.apply()
        f.start()
        for st in f.stations.values():
            st.start_worker()
        assert wait_peers(f, {"moscow": {"spb"}, "spb": {"moscow"}, "novosibirsk": {"moscow", "spb"}}, 20.0)
        f.qualify_all()
        yield f
    finally:
        print("figures:", FIGURES)
        f.close()


def live_peers(st: fd.ModuleStation, names: set[str]) -> set[str]:
    """Which of `names` are live in this station's Asterisk (trunk endpoint and incoming context loaded)."""
    endpoints = st.rx("pjsip show endpoints")
    live = set()
    for name in names:
        pid = fd.provider_id(name)
        if pid in endpoints and "There is no existence" not in st.rx(f"dialplan show {pid}-incoming"):
            live.add(name)
    return live


def wait_peers(f: fd.Federation, want: dict[str, set[str]], timeout: float) -> bool:
    """Wait (bounded) until each station's Asterisk has exactly the wanted peers among the three."""
    def ok() -> bool:
        for name, peers in want.items():
            st = f[name]
            if live_peers(st, set(SPECS) - {name}) != peers:
                return False
        return True
    return hs.wait_until(ok, timeout, 0.1)


def full_mesh(f: fd.Federation) -> None:
    for a, b in itertools.permutations(SPECS, 2):
        if b not in f[a].peers:
            f[a].add_peer(SPECS[b])


def dial_failure_seconds(log: str, number: str, trunk: str) -> float:
    """From the last Dial(PJSIP/<number>@<trunk>) in a station's log to the next dialplan step after it."""
    stamps = re.findall(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\][^\n]*?(Executing \[[^\]]+\] (\w+)\([^\n]*)$",
                        log, re.M)
    start = None
    for i, (_stamp, line, app) in enumerate(stamps):
        if app == "Dial" and f"PJSIP/{number}@{trunk}" in line:
            start = i
    if start is None:
        raise AssertionError("no Dial to the trunk in the log")
    t0 = _ts(stamps[start][0])
    return _ts(stamps[start + 1][0]) - t0 if start + 1 < len(stamps) else float("inf")


def _ts(stamp: str) -> float:
    base, ms = stamp.rsplit(".", 1)
    return time.mktime(time.strptime(base, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000


def test_change_applied_during_a_call_keeps_it_up(mesh: fd.Federation) -> None:
    """201 <-> 301 connected; novosibirsk is added to moscow's and spb's module.db: both workers write
    records and hooks and reload pjsip (3 modules) and the dialplan; the call stays up and ends normally."""
    uac_run, uas_run = mesh.start_call("201", "301", hold_ms=7000, timeout=25)
    assert hs.wait_until(lambda: "SIP/2.0 200 OK" in uac_run.messages(), 8.0, 0.05), uac_run.messages()
    t0 = time.monotonic()
    full_mesh(mesh)
    assert wait_peers(mesh, {n: set(SPECS) - {n} for n in SPECS}, 20.0)
    applied_in = time.monotonic() - t0
    assert uac_run.proc.poll() is None, "the call ended before the reloads were done"
    uac, uas = uac_run.wait(), uas_run.wait()
    assert uac.ok, uac.errors + uac.messages[-3000:]
    assert uas.ok, uas.errors + uas.messages[-3000:]
    assert not [m for m in fd.received_messages(uac.messages) if m.startswith("BYE")], "the PBX hung up"
    for name in ("moscow", "spb"):
        log = mesh[name].federation_log()
        assert "applied: 7 created" in log and "reload pjsip,dialplan" in log, log
    FIGURES["apply_during_call_s"] = round(applied_in, 2)


@pytest.mark.parametrize(("caller", "callee"), list(itertools.permutations(("201", "301", "401"), 2)))
def test_every_direction_answered(mesh: fd.Federation, caller: str, callee: str) -> None:
    full_mesh(mesh)
    assert wait_peers(mesh, {n: set(SPECS) - {n} for n in SPECS}, 20.0)
    mesh.qualify_all()
    uac, uas = mesh.call(caller, callee, hold_ms=300)
    assert uac.ok, uac.errors + uac.messages[-3000:]
    assert uas.ok, uas.errors + uas.messages[-3000:]
    assert fd.header_user(fd.invite_received(uas.messages), "From") == caller


@pytest.mark.parametrize(("watcher", "watched", "caller"), [
    ("202", "301", "302"), ("202", "401", "402"), ("302", "201", "202"),
    ("302", "401", "402"), ("402", "201", "202"), ("402", "301", "302"),
])
def test_blf_between_every_pair(mesh: fd.Federation, watcher: str, watched: str, caller: str) -> None:
    fd.blf_follows(mesh, watcher, watched, caller)


def test_peer_removed_then_added_back(mesh: fd.Federation) -> None:
    """Removing novosibirsk from module.db (both ends) makes 4XX unreachable and its records disappear from
    mikopbx.db; adding it back makes 401 dialable with no other action.  Time: commit -> first answer."""
    m, s, n = mesh["moscow"], mesh["spb"], mesh["novosibirsk"]
    for st in (m, s):
        st.remove_peer("novosibirsk")
    for peer in ("moscow", "spb"):
        n.remove_peer(peer)
    t_removed = time.time()
    assert wait_peers(mesh, {"moscow": {"spb"}, "spb": {"moscow"}, "novosibirsk": set()}, 20.0)
    FIGURES["remove_live_s"] = round(time.time() - t_removed, 2)
    assert m.provider_rows("novosibirsk") == 0 and s.provider_rows("novosibirsk") == 0
    assert n.module_rows() == dict.fromkeys(n.module_rows(), 0)
    assert m.module_rows()["m_OutgoingRoutingTable"] == 1  # spb's route is still there
    uac, uas = mesh.call("201", "401", hold_ms=300, timeout=10)
    assert not uac.ok and not fd.invite_received(uas.messages), "401 must be unreachable once removed"

    # Add back (both ends), then wait passively until the workers have applied it, and call.
    for st in (m, s):
        st.add_peer(fd.NSK)
    n.add_peer(fd.MOSCOW)
    n.add_peer(fd.SPB)
    t_commit = time.time()
    assert wait_peers(mesh, {name: set(SPECS) - {name} for name in SPECS}, 20.0)
    t_live = time.time()
    mesh.qualify_all()
    uac, uas = mesh.call("201", "401", hold_ms=300)
    assert uac.ok and uas.ok, uac.errors + uac.messages[-2000:]
    answered = fd.first_time(uac.messages, r"^SIP/2\.0 200 OK") or time.time()
    FIGURES["add_live_s"] = round(t_live - t_commit, 2)
    FIGURES["add_to_first_answer_s"] = round(answered - t_commit, 2)
    print("peer add/remove:", FIGURES)
    assert answered - t_commit < 15


def test_peer_down_fails_fast_and_lamps_follow(mesh: fd.Federation) -> None:
    """spb's Asterisk crashes (SIGKILL to its PID) while 301 is busy and watched by a BLF key on moscow:
    moscow's lamp for 301 must not stay lit (the worker renders it Unavailable once the trunk's qualify
    fails), calls to 3XX fail fast, and the lamp follows 301 again as soon as spb is back. Then a second
    crash with 301 idle: the lamp must go Unavailable again and come back again.

    The watcher matters: Asterisk carries a watched hint's last state across `dialplan reload`, so only a
    device state change after the reload moves it (the worker's Custom:FED-<hex> device)."""
    h, m = mesh.h, mesh["moscow"]
    mesh.register("301")
    assert hs.wait_until(lambda: m.hint_state("301") == "Idle", 8.0, 0.1), m.rx("core show hint 301")
    blf = h.start_sipp("blf202-down", sc.blf_subscribe("202", expires=600, idle_ms=150000),
                       local_ip=fd.MOSCOW.phone_ip("202"), remote=m.address, service="301",
                       auth=("202", fd.phone_secret("202")), timeout=240)
    try:
        assert hs.wait_until(lambda: "Watchers  0" not in m.rx("core show hint 301"), 10.0, 0.1), blf.messages()
        _down_and_back(mesh, busy=True)
        _down_and_back(mesh, busy=False)
    finally:
        blf.stop()


def _down_and_back(mesh: fd.Federation, *, busy: bool) -> None:
    h, m, s = mesh.h, mesh["moscow"], mesh["spb"]
    key = "" if busy else "idle_"
    calls = None
    if busy:
        calls = mesh.start_call("302", "301", hold_ms=60000, timeout=70)
        assert hs.wait_until(lambda: m.hint_state("301") in ("Busy", "InUse"), 8.0, 0.05), m.rx("core show hint 301")
    assert s.st.proc is not None
    s.st.proc.kill()  # only spb's Asterisk, by its PID
    s.st.proc.wait(timeout=10)
    s.st.proc = None
    t_down = time.monotonic()
    if calls is not None:
        for run in calls:
            run.stop()
    assert hs.wait_until(lambda: m.trunk_state("spb") == "Unavail", 20.0, 0.2), m.contacts()
    t_unavail = time.monotonic()
    assert hs.wait_until(lambda: m.hint_state("301") == "Unavailable", 10.0, 0.1), m.rx("core show hint 301")
    t_lamp = time.monotonic()
    FIGURES[f"{key}down_qualify_s"] = round(t_unavail - t_down, 2)
    FIGURES[f"{key}down_lamp_s"] = round(t_lamp - t_down, 2)

    if busy:
        mark = len(h.log(m.st))
        uac = h.sipp("call201-dead", sc.call("201"), local_ip=fd.MOSCOW.phone_ip("201"), remote=m.address,
                     service="301", auth=("201", fd.phone_secret("201")), timeout=40)
        assert not uac.ok and "SIP/2.0 200 OK" not in uac.messages
        # The Dial to the dead trunk fails at once (its contact is Unavail: no INVITE, no 32 s timer B); what
        # the caller then hears is Core's usual failed-route tail (2 s silence + "sorry"), then a final answer.
        dial_fail = dial_failure_seconds(h.log(m.st), "301", fd.provider_id("spb"))
        FIGURES["dead_peer_dial_fails_s"] = round(dial_fail, 3)
        FIGURES["dead_peer_caller_final_answer_s"] = round(uac.elapsed, 2)
        assert dial_fail < 1.0, f"Dial to a dead peer took {dial_fail:.1f}s to fail"
        assert uac.elapsed < 10.0, f"the caller waited {uac.elapsed:.1f}s"
        sent = [x for x in hs.sip_messages(h.log(m.st)[mark:]) if x.is_request and x.direction == "tx"
                and x.method == "INVITE" and x.remote.startswith("UDP:127.0.0.3:")]
        assert not sent, "an INVITE was sent to the dead peer"

    t_boot = time.monotonic()
    h.start(s.st)
    s.rx("pjsip set logger on")
    mesh.register("301")
    # Back: the lamp shows 301 again without waiting for 301's next state change (the trunk's qualify,
    # every 10 s, tells the worker; a watched hint keeps "Unavailable" across the reload otherwise).
    assert hs.wait_until(lambda: m.hint_state("301") == "Idle", 25.0, 0.1), m.rx("core show hint 301")
    FIGURES[f"{key}back_lamp_s"] = round(time.monotonic() - t_boot, 2)
    assert "Watchers  0" not in m.rx("core show hint 301")
    mesh.qualify_all()
    print("peer down:", FIGURES)
    uac, uas = mesh.call("201", "301", hold_ms=300)
    assert uac.ok and uas.ok


QUEUE_S = 3.0


def test_lamps_wait_for_a_queued_reload(mesh: fd.Federation) -> None:
    """On MikoPBX, Core queues the reloads the worker asks for. moscow's worker now has a reload command that
    answers at once and reloads QUEUE_S later (like Core's WorkerModelsEvents): a lamp device changed before
    the reload would be lost (a watched hint keeps its state across the reload), so the worker changes it only
    once `core show hints` shows the swapped hints. spb crashes and comes back with 301 idle and watched."""
    h, m, s = mesh.h, mesh["moscow"], mesh["spb"]
    m.stop_worker()
    queued = shlex.join([sys.executable, str(fd.RELOAD_SCRIPT), "--queue", str(QUEUE_S), str(m.station_json)])
    mark = len(m.federation_log())
    m.start_worker("--reload-cmd", queued)
    blf = None
    try:
        mesh.register("301")
        assert hs.wait_until(lambda: m.hint_state("301") == "Idle", 15.0, 0.1), m.rx("core show hint 301")
        blf = h.start_sipp("blf202-queued", sc.blf_subscribe("202", expires=300, idle_ms=90000),
                           local_ip=fd.MOSCOW.phone_ip("202"), remote=m.address, service="301",
                           auth=("202", fd.phone_secret("202")), timeout=150)
        assert hs.wait_until(lambda: "Watchers  0" not in m.rx("core show hint 301"), 10.0, 0.1), blf.messages()

        assert s.st.proc is not None
        s.st.proc.kill()  # only spb's Asterisk, by its PID
        s.st.proc.wait(timeout=10)
        s.st.proc = None
        assert hs.wait_until(lambda: m.trunk_state("spb") == "Unavail", 20.0, 0.2), m.contacts()
        assert hs.wait_until(lambda: m.hint_state("301") == "Unavailable", 10.0 + QUEUE_S, 0.1), \
            m.rx("core show hint 301")
        h.start(s.st)
        s.rx("pjsip set logger on")
        mesh.register("301")
        assert hs.wait_until(lambda: m.hint_state("301") == "Idle", 25.0 + QUEUE_S, 0.1), m.rx("core show hint 301")

        # the worker set the lamp device only after the queued reload reached Asterisk, both ways
        waited = {state: float(sec) for state, sec in re.findall(
            r"lamps of spb: Custom:FED-\w+ set (UNAVAILABLE|INVALID) \(([\d.]+) s after the reconcile\)",
            m.federation_log()[mark:])}
        FIGURES["queued_reload_lamp_wait_s"] = waited
        assert set(waited) == {"UNAVAILABLE", "INVALID"}, m.federation_log()[mark:][-3000:]
        assert all(QUEUE_S - 0.5 <= sec < 30.0 for sec in waited.values()), waited
    finally:
        if blf is not None:
            blf.stop()
        m.stop_worker()
        m.start_worker()
    mesh.qualify_all()
    uac, uas = mesh.call("201", "301", hold_ms=300)
    assert uac.ok and uas.ok
