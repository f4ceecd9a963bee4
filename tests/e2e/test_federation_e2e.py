"""Two MikoPBX-shaped stations on real Asterisk 22, federated by the MODULE'S WORKER.

moscow 127.0.0.2 (201, 202 + an admin's PSTN provider) <-> spb 127.0.0.3 (301, 302), both outside
working hours.  Each station's module.db is filled with `python -m python_worker init/settings/peers`,
then `python -m python_worker apply` writes the records into its mikopbx.db and the hook texts into
hooks.json and runs tests/e2e/station_reload.py, which regenerates Asterisk's config like Core does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from functools import partial

import pytest

from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import sipp_scenarios as sc

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fed() -> Iterator[fd.Federation]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    f = fd.Federation()
    try:
        m = f.add(fd.MOSCOW, pstn=True)
        s = f.add(fd.SPB)
        m.add_peer(fd.SPB)
        s.add_peer(fd.MOSCOW)
        for st in (m, s):
            st.apply()  # Asterisk not running yet: the reload command only writes the config
        f.start()
        f.qualify_all()
        yield f
    finally:
        f.close()


def _log_since(f: fd.Federation, name: str, mark: int) -> str:
    return f.h.log(f[name].st)[mark:]


def _mark(f: fd.Federation, name: str) -> int:
    return len(f.h.log(f[name].st))


def test_worker_wrote_records_and_hooks(fed: fd.Federation) -> None:
    for me, peer in (("moscow", "spb"), ("spb", "moscow")):
        st = fed[me]
        rows = st.module_rows()
        assert rows == {"m_Providers": 1, "m_OutgoingRoutingTable": 1, "m_IncomingRoutingTable": 1,
                        "m_NetworkFilters": 1, "m_Sip": 1, "m_SipHosts": 1}, rows
        hooks = st.hooks()
        assert f"[{fd.provider_id(peer)}-FED-PUB]" in hooks["generatePeersPj"]
        assert f"[{fd.provider_id(peer)}-incoming-custom]" in hooks["extensionGenContexts"]
        # what Core's renderer made of them is live in Asterisk
        assert fd.provider_id(peer) in st.rx("pjsip show endpoints")


@pytest.mark.parametrize(("caller", "callee"), [("201", "301"), ("301", "201")])
def test_cross_station_call_answered_outside_working_hours(fed: fd.Federation, caller: str, callee: str) -> None:
    src, dst = fed.station_of(caller), fed.station_of(callee)
    cdr_before = {s.name: len(s.cdr_rows()) for s in (src, dst)}
    mark = _mark(fed, dst.name)
    t0 = time.monotonic()
    uac, uas = fed.call(caller, callee)
    assert uac.ok, f"caller failed:\n{uac.errors}\n{uac.messages[-3000:]}"
    assert uas.ok, f"callee failed:\n{uas.errors}\n{uas.messages[-3000:]}"
    assert time.monotonic() - t0 < 15
    # The called phone sees the caller's own short number (From and P-Asserted-Identity).
    invite = fd.invite_received(uas.messages)
    assert fd.header_user(invite, "From") == caller, invite
    assert fd.header_user(invite, "P-Asserted-Identity") in ("", caller), invite
    # The working-hours check was reached and skipped thanks to IGNORE_TIME=1 from the trunk.
    log = _log_since(fed, dst.name, mark)
    incoming = f"{fd.provider_id(src.name)}-incoming"
    assert re.search(r"Executing \[" + callee + "@" + re.escape(incoming)
                     + r":\d+\] GosubIf\([^)]*\"0\?check-out-work-time", log), "working-hours check not skipped"
    assert f"Executing [{callee}@{incoming}-custom:1]" in log
    # <U>-incoming-custom enters the own number itself (tests/e2e/test_isolation_e2e.py: never the default action).
    assert f"Executing [{callee}@internal:1]" in log
    # One ANSWERED CDR for this call on each station.
    for s in (src, dst):
        n = cdr_before[s.name]
        assert hs.wait_until(partial(_more_cdr, s, n), 5.0, 0.1), s.name
        new = s.cdr_rows()[cdr_before[s.name]:]
        assert any(r[1] == caller and r[2] == callee and "ANSWERED" in r for r in new), (s.name, new)


def _more_cdr(s: fd.ModuleStation, n: int) -> bool:
    return len(s.cdr_rows()) > n


def test_out_of_hours_flag_really_hangs_up_without_ignore_time(fed: fd.Federation) -> None:
    """Negative control: the same incoming context entered without IGNORE_TIME is cut off."""
    spb = fed["spb"]
    incoming = f"{fd.provider_id('moscow')}-incoming"
    mark = _mark(fed, "spb")
    spb.rx(f"channel originate Local/302@{incoming} application Wait 1")
    assert hs.wait_until(lambda: "outside working hours" in _log_since(fed, "spb", mark), 5.0, 0.1)
    assert "internal-users" not in _log_since(fed, "spb", mark)


def test_trunk_digest_auth_for_invite_options_publish(fed: fd.Federation) -> None:
    """Every request between the stations is challenged (401) and then accepted with digest auth."""
    uac, uas = fed.call("202", "302", hold_ms=500)
    assert uac.ok and uas.ok
    report = {}
    for me, peer in (("moscow", fd.SPB), ("spb", fd.MOSCOW)):
        msgs = hs.sip_messages(fed.h.log(fed[me].st))
        for method in ("INVITE", "OPTIONS", "PUBLISH"):
            report[(me, method)] = hs.auth_exchange(msgs, method, peer.address, "rx")
    print("trunk auth report:", report)
    for (name, method), got in report.items():
        if method == "INVITE" and name == "moscow" and got["requests"] == 0:
            continue
        assert got["401"] >= 1 and got["with_auth"] >= 1 and got["2xx"] >= 1, (name, method, got)


def test_blind_transfer_to_peer_extension(fed: fd.Federation) -> None:
    """201 calls 202 (moscow); 202 sends REFER Refer-To: sip:301@127.0.0.2; 301 on spb rings and answers,
    the NOTIFY sipfrag 202 receives says 200."""
    h = fed.h
    m = fed["moscow"]
    for n in ("202", "301"):
        fed.register(n)
    uas301 = h.start_sipp("uas301", sc.answer("301", ring_ms=200), local_ip=fd.SPB.phone_ip("301"),
                          remote=fd.SPB.address, timeout=25)
    xfer = h.start_sipp("xfer202", sc.answer_then_refer("202", "301", fd.MOSCOW.address, talk_ms=500),
                        local_ip=fd.MOSCOW.phone_ip("202"), remote=m.address, timeout=20)
    uac = h.start_sipp("call201", sc.call("201", hold_ms=8000), local_ip=fd.MOSCOW.phone_ip("201"),
                       remote=m.address, service="202", auth=("201", fd.phone_secret("201")), timeout=20)
    r201, r202, r301 = uac.wait(), xfer.wait(), uas301.wait()
    assert r202.ok, r202.errors + r202.messages[-4000:]
    assert r201.ok, r201.errors + r201.messages[-3000:]
    assert r301.ok, r301.errors + r301.messages[-3000:]
    frags = fd.sipfrags(r202.messages)
    print("NOTIFY sipfrags seen by 202:", frags)
    assert frags and frags[-1] == "200", r202.messages[-3000:]
    invite = fd.invite_received(r301.messages)
    assert invite, "301 never rang"
    assert fd.header_user(invite, "From") == "201", invite


@pytest.mark.parametrize(("watcher", "watched", "caller"), [("202", "301", "302"), ("302", "201", "202")])
def test_blf_follows_remote_extension(fed: fd.Federation, watcher: str, watched: str, caller: str) -> None:
    fd.blf_follows(fed, watcher, watched, caller)


# ------------------------------------------------------------------ security
def test_invite_from_non_peer_address_is_refused(fed: fd.Federation) -> None:
    """From a loopback address that is not the peer: identify_by=ip leaves it unidentified, so it is
    only ever challenged, even with the peer's real name and secret."""
    s = fed["spb"]
    mark = _mark(fed, "spb")
    res = fed.h.sipp("impostor", sc.call(fd.provider_id("moscow"), expect="401"), local_ip="127.0.0.99",
                     remote=s.address, service="301", auth=("moscow", fd.pair_secret("moscow", "spb")), timeout=10)
    assert res.ok, res.errors + res.messages[-2000:]
    assert "Executing [301@" not in _log_since(fed, "spb", mark)


def test_invite_from_peer_address_with_wrong_secret_is_refused(fed: fd.Federation) -> None:
    """From the peer's own address (another port: the real spb holds 127.0.0.3:5060) but the wrong
    password: identified as the trunk by IP, challenged, refused."""
    m = fed["moscow"]
    mark = _mark(fed, "moscow")
    res = fed.h.sipp("wrongpw", sc.call("301", expect="401"), local_ip=fd.SPB.address, port=5070,
                     remote=m.address, service="201", auth=("spb", "not-the-secret"), timeout=10)
    assert res.ok, res.errors + res.messages[-2000:]
    assert "Executing [201@" not in _log_since(fed, "moscow", mark)


def test_peer_cannot_reach_our_outgoing_routes(fed: fd.Federation) -> None:
    """A peer (right address, right secret) asking for 79001234567 is hung up by <U>-incoming-custom;
    moscow's catch-all PSTN provider (SIPp UAS on 127.0.0.50) receives nothing.  Positive control first:
    moscow's own phone does reach that provider."""
    h, m = fed.h, fed["moscow"]
    pstn = h.start_sipp("pstn-ok", sc.answer("79001234567"), local_ip=fd.PSTN_ADDRESS, remote=m.address, timeout=15)
    uac = h.start_sipp("call201-pstn", sc.call("201", hold_ms=300), local_ip=fd.MOSCOW.phone_ip("201"),
                       remote=m.address, service="79001234567", auth=("201", fd.phone_secret("201")), timeout=10)
    assert uac.wait().ok and pstn.wait().ok, "the PSTN route itself must work for local phones"

    pstn = h.start_sipp("pstn-never", sc.answer("79001234567"), local_ip=fd.PSTN_ADDRESS, remote=m.address,
                        timeout=8)
    mark = _mark(fed, "moscow")
    res = h.sipp("peer-pstn", sc.call("301", expect="404"), local_ip=fd.SPB.address, port=5070, remote=m.address,
                 service="79001234567", auth=("spb", fd.pair_secret("moscow", "spb")), timeout=10)
    time.sleep(1.0)
    got = pstn.stop()
    log = _log_since(fed, "moscow", mark)
    assert res.ok, res.errors + res.messages[-2000:]
    assert f"Executing [79001234567@{fd.provider_id('spb')}-incoming-custom:1]" in log
    assert "INVITE sip:" not in got.messages, got.messages
    assert fd.PSTN_PROVIDER not in log and "Executing [79001234567@outgoing" not in log


def test_publish_from_non_peer_is_refused_and_changes_no_lamp(fed: fd.Federation) -> None:
    m = fed["moscow"]
    fed.register("301")
    assert hs.wait_until(lambda: m.hint_state("301") == "Idle", 8.0, 0.1), m.rx("core show hint 301")
    for name, ip, port, password in (("pub-stranger", "127.0.0.99", 5060, fd.pair_secret("moscow", "spb")),
                                     ("pub-wrongpw", fd.SPB.address, 5070, "not-the-secret")):
        res = fed.h.sipp(name, sc.publish_devicestate("spb", "spb", "PJSIP/301", "BUSY", fd.entity_id("spb")),
                         local_ip=ip, port=port, remote=m.address, auth=("spb", password), timeout=10)
        assert res.ok, res.errors + res.messages[-2000:]
        time.sleep(0.3)
        assert m.hint_state("301") == "Idle", (name, m.rx("core show hint 301"))
