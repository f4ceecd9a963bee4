"""Overlapping numbers: extension 250 on both moscow (2XX) and spb (3XX), federated by the module's worker.

With the overlap fix (per peer, both ends) moscow's outgoing trunk calls carry the caller as `_250` and
the receiving station strips the `_` again, so spb never takes moscow's 250 for its own phone 250 (it
identifies endpoints by From user first, like MikoPBX).  Without it, that call is challenged as the local
phone and never rings.  BLF: each station accepts only the peer's own range, never its own 250's state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e import federation as fd
from tests.e2e import harness as hs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ov() -> Iterator[fd.Federation]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    f = fd.Federation()
    try:
        m = f.add(fd.MOSCOW, extra_phones=("250",))
        s = f.add(fd.SPB, extra_phones=("250",))
        m.add_peer(fd.SPB, overlap_fix=True)
        s.add_peer(fd.MOSCOW, overlap_fix=True)
        for st in (m, s):
            st.apply()
        f.start()
        f.qualify_all()
        for where in ("moscow", "spb"):
            f.register("250", where)
        yield f
    finally:
        f.close()


def _mark(f: fd.Federation, name: str) -> int:
    return len(f.h.log(f[name].st))


@pytest.mark.parametrize(("caller", "callee"), [("201", "301"), ("301", "201")])
def test_non_overlapping_numbers_still_work(ov: fd.Federation, caller: str, callee: str) -> None:
    uac, uas = ov.call(caller, callee, hold_ms=300)
    assert uac.ok and uas.ok, uac.errors + uac.messages[-2000:]
    assert fd.header_user(fd.invite_received(uas.messages), "From") == caller


@pytest.mark.parametrize(("caller_at", "callee"), [("spb", "201"), ("moscow", "301")])
def test_250_calls_across_and_the_callee_sees_250(ov: fd.Federation, caller_at: str, callee: str) -> None:
    uac, uas = ov.call("250", callee, hold_ms=300, caller_at=caller_at)
    assert uac.ok and uas.ok, uac.errors + uac.messages[-2000:]
    invite = fd.invite_received(uas.messages)
    assert fd.header_user(invite, "From") == "250", invite  # not _250
    assert fd.header_user(invite, "P-Asserted-Identity") in ("", "250"), invite


@pytest.mark.parametrize(("caller", "home"), [("301", "spb"), ("201", "moscow")])
def test_250_dialled_locally_rings_the_local_phone(ov: fd.Federation, caller: str, home: str) -> None:
    """Neither 250 is hijacked: dialled on a station, 250 is that station's own phone."""
    uac, uas = ov.call(caller, "250", hold_ms=300, callee_at=home)
    assert uac.ok and uas.ok, uac.errors + uac.messages[-2000:]
    other = "moscow" if home == "spb" else "spb"
    assert f"PJSIP/250@{fd.provider_id(other)}" not in ov.h.log(ov[home].st)


@pytest.mark.parametrize(("busy_at", "watched_at"), [("moscow", "spb"), ("spb", "moscow")])
def test_the_other_stations_250_never_lights_our_250(ov: fd.Federation, busy_at: str, watched_at: str) -> None:
    """250 busy on one station: the other station's own 250 lamp stays Idle (device_state_filter)."""
    watched = ov[watched_at]
    local_caller = "201" if busy_at == "moscow" else "301"
    assert hs.wait_until(lambda: watched.hint_state("250") == "Idle", 8.0, 0.1), watched.rx("core show hint 250")
    uac_run, uas_run = ov.start_call(local_caller, "250", hold_ms=2500, callee_at=busy_at)
    assert hs.wait_until(lambda: ov[busy_at].hint_state("250") in ("Busy", "InUse"), 8.0, 0.05)
    seen = set()
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline and uac_run.proc.poll() is None:
        seen.add(watched.hint_state("250"))
        time.sleep(0.1)
    uac, uas = uac_run.wait(), uas_run.wait()
    assert uac.ok and uas.ok
    assert seen == {"Idle"}, f"{watched_at}'s own 250 read {seen} while {busy_at}'s 250 was busy"


def test_without_the_fix_250_is_taken_for_the_local_phone(ov: fd.Federation) -> None:
    """Overlap fix off at both ends: spb's 250 calling moscow's 201 arrives with From 250, moscow identifies
    it as its own phone 250 (username first), challenges it with that phone's credentials, and 201 never rings.
    The fix is turned back on afterwards."""
    m, s = ov["moscow"], ov["spb"]
    try:
        m.set_peer(fd.SPB, "--no-overlap-fix")
        s.set_peer(fd.MOSCOW, "--no-overlap-fix")
        for st in (m, s):
            st.apply()
        mark = _mark(ov, "moscow")
        uac, uas = ov.call("250", "201", hold_ms=300, caller_at="spb", timeout=10)
        log = ov.h.log(m.st)[mark:]
        assert not uac.ok, "the call must not be answered"
        assert not fd.invite_received(uas.messages), "201 must never ring"
        invites = [x for x in hs.sip_messages(log) if x.remote.startswith("UDP:127.0.0.3:") and x.method == "INVITE"]
        assert any(x.is_request and x.direction == "rx" and fd.header_user(f"From: {x.header('From')}", "From") == "250"
                   for x in invites)
        assert any(not x.is_request and x.direction == "tx" and x.status == 401 for x in invites)
        assert not any(not x.is_request and x.direction == "tx" and x.status in (180, 183, 200) for x in invites)
        assert "Executing [201@" not in log
        print("without the fix, moscow answered spb's INVITE with:",
              [x.status for x in invites if not x.is_request and x.direction == "tx"])
    finally:
        m.set_peer(fd.SPB, "--overlap-fix")
        s.set_peer(fd.MOSCOW, "--overlap-fix")
        for st in (m, s):
            st.apply()
