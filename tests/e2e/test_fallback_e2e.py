"""PSTN fallback (issue #15) on real Asterisk 22, set up only through the worker's CLI.

moscow (2XX, public numbers 74951234 + extension) has its admin's PSTN provider (SIPp UAS on 127.0.0.50, route
"11 digits") and, for peer spb (3XX), a fallback through that provider: 3XX -> 78125550 + the number. Both ends
run the overlap fix, so the fallback also has to undo the `_` the trunk attempt put on the caller number.

While spb's Asterisk runs, the PSTN UAS must receive nothing whatever 301 does: answers, is busy, rings until its
phone gives up (480), or rings until spb forwards the call and then refuses it (spb answers 603 after ringing:
DIALSTATUS is CHANUNAVAIL here, like for a dead trunk; only the SIP answer tells them apart). With spb's Asterisk
stopped, 201 dialling 301 reaches the PSTN UAS as 78125550301 from 74951234201: once right after the stop (the
INVITE to spb times out, ~32 s) and once the trunk's qualify knows spb is down (at once).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import sipp_scenarios as sc

pytestmark = pytest.mark.e2e

PUBLIC = ("--public-number", "74951234000", "--public-prepend", "74951234")
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def fb() -> Iterator[fd.Federation]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    f = fd.Federation("fb")
    try:
        m = f.add(fd.MOSCOW, pstn=True, settings=PUBLIC)
        s = f.add(fd.SPB)
        m.add_peer(fd.SPB, overlap_fix=True)
        s.add_peer(fd.MOSCOW, overlap_fix=True)
        m.set_peer(fd.SPB, "--fallback-provider", fd.PSTN_PROVIDER, "--fallback-prepend", "78125550")
        for st in (m, s):
            st.apply()
        f.start()
        f.qualify_all()
        yield f
    finally:
        print("figures:", FIGURES)
        f.close()


def _pstn(f: fd.Federation, name: str, timeout: float = 20) -> hs.SippRun:
    """The PSTN operator's side of the admin's provider: answers whatever reaches it."""
    return f.h.start_sipp(name, sc.answer("pstn", ring_ms=100), local_ip=fd.PSTN_ADDRESS, remote=fd.MOSCOW.address,
                          timeout=timeout)


def _call_301(f: fd.Federation, expect: str, timeout: float = 20) -> hs.SippRun:
    return f.h.start_sipp("call201", sc.call("201", hold_ms=500, expect=expect), local_ip=fd.MOSCOW.phone_ip("201"),
                          remote=fd.MOSCOW.address, service="301", auth=("201", fd.phone_secret("201")),
                          timeout=timeout)


def _invites(run: hs.SippRun) -> list[str]:
    return [m for m in fd.received_messages(run.messages()) if m.startswith("INVITE ")]


def test_worker_wrote_the_fallback_route_and_asterisk_has_its_guard(fb: fd.Federation) -> None:
    m = fb["moscow"]
    rows = m.query("SELECT rulename, providerid, priority, numberbeginswith, restnumbers, trimfrombegin, prepend, id "
                   "FROM m_OutgoingRoutingTable WHERE note LIKE 'ModulePbxFederation: fallback %'")
    assert [r[:7] for r in rows] == [("Federation: spb 3XX fallback", fd.PSTN_PROVIDER, "1", "3", "2", "0",
                                      "78125550")], rows
    context = m.rx(f"dialplan show {fd.PSTN_PROVIDER}-{rows[0][7]}-outgoing")
    assert '"${FED_FALLBACK}" != "${EXTEN}"' in context, context  # Core's per-route hook got the module's guard
    admin = m.query("SELECT id FROM m_OutgoingRoutingTable WHERE rulename = 'PSTN 11 digits'")[0][0]
    assert "FED_FALLBACK" not in m.rx(f"dialplan show {fd.PSTN_PROVIDER}-{admin}-outgoing")  # the admin's: untouched
    after = m.rx(f"dialplan show {fd.provider_id('spb')}-outgoing-after-dial-custom")
    assert "HANGUPCAUSE_KEYS" in after, after


@pytest.mark.parametrize("callee", ["answers", "busy", "480 after ringing", "forwarded, then 603"])
def test_peer_up_the_pstn_gets_nothing(fb: fd.Federation, callee: str) -> None:
    s = fb["spb"]
    fb.register("301")
    scenario, expect = {
        "answers": (sc.answer("301", ring_ms=200), "200"),
        "busy": (sc.refuse("301", "486", "Busy Here", ring_ms=0), "486"),
        "480 after ringing": (sc.refuse("301", "480", "Temporarily Unavailable", ring_ms=1500), "failure"),
        # Core's forwarding on no answer (AstDB FW_TIME/FW): 301 rings 2 s, then spb tries 309, which does not
        # exist, and refuses the call with 603 (moscow's Dial: CHANUNAVAIL, after spb's 180 and 603 answers).
        "forwarded, then 603": (sc.ring("301"), "failure"),
    }[callee]
    if callee == "forwarded, then 603":
        s.rx("database put FW_TIME 301 2")
        s.rx("database put FW 301 309")
    try:
        pstn = _pstn(fb, f"pstn-{callee[:4]}")
        uas = fb.h.start_sipp("uas301", scenario, local_ip=fd.SPB.phone_ip("301"), remote=fd.SPB.address, timeout=25)
        mark = len(fb.h.log(fb["moscow"].st))
        uac = _call_301(fb, expect).wait()
        time.sleep(1.0)  # time for a fallback Dial to leave, if there were one
        got = pstn.stop()
        uas.stop()
    finally:
        s.rx("database del FW_TIME 301")
        s.rx("database del FW 301")
    log = fb.h.log(fb["moscow"].st)[mark:]
    assert uac.ok, uac.errors + uac.messages[-2000:]
    assert fd.invite_received(got.messages) == "", got.messages[-2000:]
    assert not re.search(r'\] Dial\("[^"]*", "PJSIP/78125550301@', log), log[-4000:]
    if callee not in ("answers", "busy"):  # Core went on to the fallback route, whose guard sent it back
        guard = r"\[301@" + fd.PSTN_PROVIDER + r'-\d+-outgoing:\d+\] ExecIf\("[^"]*", "1\?Return\(\)"\)'
        assert re.search(guard, log), log[-4000:]
    after = f"301@{re.escape(fd.provider_id('spb'))}-outgoing-after-dial-custom"
    if callee == "forwarded, then 603":
        # The case DIALSTATUS alone gets wrong: CHANUNAVAIL passes the first check, and only the SIP answers spb
        # gave (HANGUPCAUSE_KEYS) stop the fallback at the second.
        assert re.search(r"\[" + after + r':1\] ExecIf\("[^"]*", "0\?Return\(\)"\)', log), log[-4000:]
        assert re.search(r"\[" + after + r':2\] ExecIf\("[^"]*", "1\?Return\(\)"\)', log), log[-4000:]


def test_peer_down_calls_reach_the_pstn_with_the_public_numbers(fb: fd.Federation) -> None:
    m, s = fb["moscow"], fb["spb"]
    fb.h.stop(s.st)  # spb's Asterisk stopped: nothing answers at 127.0.0.3 any more
    # Right away: moscow still takes the trunk for up, its INVITE goes unanswered until the transaction gives up.
    pstn = _pstn(fb, "pstn-just-down", timeout=60)
    t0 = time.monotonic()
    uac = _call_301(fb, "200", timeout=55).wait()
    FIGURES["just_down_call_to_pstn_s"] = round(time.monotonic() - t0, 1)
    got = pstn.wait()
    assert uac.ok, uac.errors + uac.messages[-2000:]
    _assert_public(got)
    # Once the qualify says Unavail the trunk's Dial fails at once and the PSTN answers within moments.
    assert hs.wait_until(lambda: m.trunk_state("spb") == "Unavail", 30.0, 0.5), m.contacts()
    pstn = _pstn(fb, "pstn-known-down")
    t0 = time.monotonic()
    uac = _call_301(fb, "200").wait()
    FIGURES["known_down_call_to_pstn_s"] = round(time.monotonic() - t0, 1)
    got = pstn.wait()
    assert uac.ok, uac.errors + uac.messages[-2000:]
    _assert_public(got)
    assert FIGURES["known_down_call_to_pstn_s"] < 10


def _assert_public(got: hs.SippResult) -> None:
    assert got.ok, got.errors + got.messages[-2000:]
    invite = fd.invite_received(got.messages)
    assert invite.startswith("INVITE sip:78125550301@"), invite  # the rewritten number
    assert fd.header_user(invite, "From") == "74951234201", invite  # the caller's public number, not 201 or _201
