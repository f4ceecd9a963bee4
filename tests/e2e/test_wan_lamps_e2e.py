"""Five paired stations over the emulated WAN (50 ms RTT, 1 % loss between stations): calls across, lamps, an outage
and its heal, with device states carried over the sync channel (issue 14).

Built by tests/e2e/wan_mesh.py: st0..st4 on 127.0.1.11-15, 20 extensions each (`[12]kXX`), the module's worker
with its sync service and its AMI connection inside the namespace, paired full mesh by `invite create` /
`invite accept`. It proves, on real Asterisk 22.10: every ordered pair can call; each station has one pattern hint
per peer and no SIP publication object for it; every remote lamp is set from the peer's own hint states; a BLF key
follows a remote call (NOTIFY confirmed, then terminated); a station whose WAN is cut is seen dead and all its lamps
read Unavailable on the others, a call to it fails at once instead of after 32 s; states that changed during the
outage are right everywhere once the link is back, and calls to it go through again. The bounds are generous (the
bench measures: docs/performance.md); they fail when lamps do not follow or do not heal.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import harness as hs
from tests.e2e import wan
from tests.e2e import wan_mesh as wm

pytestmark = pytest.mark.e2e

N, PHONES = 5, 20
CUT = N - 1  # the station whose WAN goes down
FIGURES: dict[str, object] = {}


@pytest.fixture(scope="module")
def mesh() -> Iterator[wm.WanMesh]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    m = wm.WanMesh(N, PHONES, wan.PROFILE)
    try:
        t0 = time.monotonic()
        m.build()
        m.start_asterisk(range(N))
        for k in range(N):
            m.start_worker(k)
        for i, j in itertools.combinations(range(N), 2):
            m.pair(i, j)
        assert m.wait_mesh(list(range(N)), 120), {k: sorted(m.live_peers(k)) for k in range(N)}
        for k in range(N):
            assert m.register(k), f"registration on st{k}"
            m.start_uas(k)
        FIGURES["setup_s"] = round(time.monotonic() - t0, 1)
        yield m
    finally:
        FIGURES["emulator"] = {k: v for k, v in m.close().items() if k in ("late_ms", "max_held")}
        print("WAN lamps e2e:", FIGURES)


def remote_lamps(m: wm.WanMesh, k: int, *, of: int | None = None) -> dict[str, str]:
    """Station k's lamps of the other stations' numbers (of one station when `of`), as set there."""
    lamps = m.carried_lamps(k)
    return {n: lamps.get(n, "") for j in range(N) if j != k and (of is None or j == of) for n in m.specs[j].phones}


def wrong(m: wm.WanMesh, want: dict[str, str]) -> dict[int, dict[str, str]]:
    """Per station, the remote lamps that differ from `want` (number -> expected state, default Idle)."""
    out = {}
    for k in range(N):
        bad = {n: st for n, st in remote_lamps(m, k).items() if st != want.get(n, "Idle")}
        if bad:
            out[k] = bad
    return out


def test_one_pattern_hint_per_peer_and_no_sip_publications(mesh: wm.WanMesh) -> None:
    for k in range(N):
        hooks = mesh.st(k).hooks()
        hints = hooks["extensionGenHints"].splitlines()
        assert len(hints) == N - 1 and all(re.fullmatch(r"exten => _\[12\]\dXX,hint,Custom:FED-[0-9A-F]{10}-"
                                                        r"\$\{EXTEN\}", h) for h in hints), hints
        assert "outbound-publish" not in hooks["generatePeersPj"]
        assert "inbound-publication" not in hooks["generatePeersPj"]
    shown = mesh.h.rx(mesh.st(0).st, "core show hints")
    assert "_[12]1XX@internal-hints" in shown and "1100@internal-hints" not in shown  # no explicit remote hints


def test_every_ordered_pair_calls_across_the_wan(mesh: wm.WanMesh) -> None:
    # A distinct callee for every caller (a phone busy with one call refuses the next: device_state_busy_at = 1).
    runs = {k: mesh.start_calls(k, [(mesh.specs[k].phones[1], mesh.specs[j].phones[8 + k]) for j in range(N)
                                    if j != k], rate=2, hold_ms=300, limit=10, timeout=60) for k in range(N)}
    failed = []
    for k, run in runs.items():
        run.wait(90)
        for _cid, (callee, _t, took) in wm.calls_result(run).items():
            if took is None:
                failed.append(f"st{k}->{callee}")
    assert failed == []


def test_every_remote_lamp_is_set_from_the_peers_own_hints(mesh: wm.WanMesh) -> None:
    t0 = time.monotonic()
    ok = hs.wait_until(lambda: not wrong(mesh, {}), 60, 1.0)
    FIGURES["all_lamps_idle_s"] = round(time.monotonic() - t0, 1)
    assert ok, wrong(mesh, {})


def test_a_blf_key_follows_a_call_on_another_station(mesh: wm.WanMesh) -> None:
    watched = mesh.specs[1].phones[5]
    sub = mesh.start_subscriptions(0, [(mesh.specs[0].phones[0], watched)])
    try:
        assert hs.wait_until(lambda: _notify_states(sub, watched)[:1] == ["terminated"], 15, 0.2), \
            _notify_states(sub, watched)
        call = mesh.start_calls(1, [(mesh.specs[1].phones[6], watched)], rate=1, hold_ms=2000, timeout=30,
                                port=5064)
        assert hs.wait_until(lambda: "confirmed" in _notify_states(sub, watched), 15, 0.2), \
            _notify_states(sub, watched)
        call.wait(40)
        assert hs.wait_until(lambda: _notify_states(sub, watched)[-1:] == ["terminated"], 15, 0.2), \
            _notify_states(sub, watched)
    finally:
        sub.stop()


def _status(m: wm.WanMesh, k: int) -> dict[str, Any]:
    """The running worker's status now (over its control socket: status.json is rewritten only every 30 s when
    all is well)."""
    try:
        status: dict[str, Any] = json.loads(m.cli("status", "--state-dir", str(m.st(k).state_dir), "--json").stdout)
    except (AssertionError, ValueError):
        return {}
    return status


def test_a_watched_number_is_carried_at_once_while_the_others_wait(mesh: wm.WanMesh) -> None:
    """Interest (sync/states.py): st0 sees that a phone of its own now watches st2's number (the hint Asterisk made
    from st2's pattern hint), tells st2, and st2 sends that number's changes at once, each call's ringing at st0's
    phone within ~1 RTT, where the changes of numbers nobody watches wait up to 2 s (TRICKLE_S): each of three calls
    must ring there within 0.5 s (were the number not seen watched, each would pass by chance only 1 in 4)."""
    src, dst = mesh.specs[0], mesh.specs[2]
    watched = dst.phones[7]
    sub = mesh.start_subscriptions(0, [(src.phones[2], watched)])
    try:
        assert hs.wait_until(lambda: _notify_states(sub, watched)[:1] == ["terminated"], 15, 0.2), \
            _notify_states(sub, watched)
        assert hs.wait_until(lambda: (_status(mesh, 0).get("lamps") or {}).get("watched", {}).get(dst.name, 0) >= 1,
                             15, 0.5), _status(mesh, 0).get("lamps")
        told = hs.wait_until(lambda: (_status(mesh, 2).get("sync") or {}).get("counters", {}).get("watch_received",
                                                                                                   0) >= 1, 15, 0.5)
        assert told, (_status(mesh, 2).get("sync") or {}).get("counters")
        time.sleep(1.0)  # the watch list takes one more one-way trip after st0's status shows it
        call = mesh.start_calls(2, [(dst.phones[8], watched)] * 3, rate=0.25, hold_ms=1000, timeout=40,
                                limit=1, port=5068)
        call.wait(60)
        invites = sorted(t for _c, (_callee, t, _took) in wm.calls_result(call).items() if t is not None)
        assert len(invites) == 3, wm.calls_result(call)
        rings = [x.t for x in wm.trace(sub.trace) if not x.sent and x.first.startswith("NOTIFY ")
                 and f"sip:{watched}@" in x.text and re.search(r"<state[^>]*>(early|confirmed)</state>", x.text)]
        lags = [round(min((r - t for r in rings if r >= t - 0.05), default=99.0), 2) for t in invites]
        FIGURES["watched_lamp_lag_s"] = lags
        assert all(lag < 0.5 for lag in lags), (lags, invites, rings)
    finally:
        sub.stop()


def _notify_states(run: wm.Sipp, number: str) -> list[str]:
    out = []
    for msg in wm.trace(run.trace):
        if not msg.sent and msg.first.startswith("NOTIFY ") and f"sip:{number}@" in msg.text:
            found = re.search(r"<state[^>]*>([a-z]+)</state>", msg.text)
            out.append(found.group(1) if found else "terminated")
    return out


def test_an_outage_is_seen_at_once_and_heals_with_the_states_that_changed_meanwhile(mesh: wm.WanMesh) -> None:
    assert mesh.wan is not None
    assert hs.wait_until(lambda: not wrong(mesh, {}), 60, 1.0), wrong(mesh, {})
    cut = mesh.specs[CUT]
    others = [k for k in range(N) if k != CUT]
    t_cut = time.monotonic()
    mesh.wan.cut(cut.address)
    seen_dead = hs.wait_until(lambda: all(set(remote_lamps(mesh, k, of=CUT).values()) == {"Unavailable"}
                                          for k in others), 15, 0.2)
    FIGURES["cut_to_lamps_unavailable_s"] = round(time.monotonic() - t_cut, 1)
    assert seen_dead, {k: remote_lamps(mesh, k, of=CUT) for k in others}
    # A call to the dead station fails at once (its route dials nothing while its sync link is down; the final
    # answer then comes after Core's own "sorry" announcement, ~6 s).
    run = mesh.start_calls(0, [(mesh.specs[0].phones[3], cut.phones[0])], rate=1, hold_ms=100, timeout=60,
                           port=5062)
    run.wait(70)
    msgs = wm.trace(run.trace)
    t_inv = next((x.t for x in msgs if x.sent and x.first.startswith("INVITE") and "Authorization" in x.text), None)
    final = next((x for x in msgs if not x.sent and re.match(r"SIP/2\.0 [2-6]\d\d", x.first)
                  and not x.first.startswith("SIP/2.0 401") and "INVITE" in x.header("CSeq")), None)
    assert t_inv is not None and final is not None, [m.first for m in msgs]
    assert not final.first.startswith("SIP/2.0 200"), final.first
    FIGURES["call_to_dead_station"] = (final.first, round(final.t - t_inv, 1))
    assert final.t - t_inv < 15, FIGURES["call_to_dead_station"]  # the stock path waits 32 s for timer B
    # Meanwhile 5 of its phones go away (their lamps must read Unavailable everywhere after the heal) ...
    uas = next(r for r in mesh.sipps if r.name == f"uas{CUT}" and r.proc.poll() is None)
    uas.stop()
    gone = list(cut.phones[-5:])
    assert mesh.register(CUT, gone, expires=0)
    mesh.start_uas(CUT)
    # ... and one of the others' phones too.
    uas0 = next(r for r in mesh.sipps if r.name == "uas1" and r.proc.poll() is None)
    uas0.stop()
    assert mesh.register(1, [mesh.specs[1].phones[-1]], expires=0)
    mesh.start_uas(1)
    want = {**{n: "Unavailable" for n in gone}, mesh.specs[1].phones[-1]: "Unavailable"}
    t_back = time.monotonic()
    mesh.wan.cut(cut.address, cut=False)
    healed = hs.wait_until(lambda: not wrong(mesh, want), 30, 0.5)
    FIGURES["link_back_to_all_lamps_right_s"] = round(time.monotonic() - t_back, 1)
    assert healed, wrong(mesh, want)
    # Calls to it go through again at once (the worker has Asterisk qualify its trunk as soon as it is back).
    run = mesh.start_calls(0, [(mesh.specs[0].phones[4], cut.phones[1])], rate=1, hold_ms=200, timeout=60,
                           port=5066)
    run.wait(70)
    msgs = wm.trace(run.trace)
    assert [t is not None for _c, _t, t in wm.calls_result(run).values()] == [True], \
        [("->" if m.sent else "<-", round(m.t - msgs[0].t, 2), m.first) for m in msgs]
