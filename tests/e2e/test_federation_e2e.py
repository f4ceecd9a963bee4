"""Two MikoPBX-shaped stations on real Asterisk 22, federated by hand per docs/design.md.

moscow 127.0.0.2 (201, 202) <-> spb 127.0.0.3 (301, 302), both outside working hours, so every
trunk call must carry IGNORE_TIME=1 from the provider endpoint's set_var.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.e2e import handmade as hm
from tests.e2e import harness as hs
from tests.e2e import sipp_scenarios as sc

pytestmark = pytest.mark.e2e

PHONE_IP = {"201": "127.0.0.12", "202": "127.0.0.13", "301": "127.0.0.14", "302": "127.0.0.15"}


@dataclass
class Fed:
    h: hs.Harness
    moscow: hs.Station
    spb: hs.Station

    def station_of(self, number: str) -> hs.Station:
        return self.moscow if number.startswith("2") else self.spb


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    h = hs.Harness()
    try:
        d: Path = tmp_path_factory.mktemp("stations")
        stations = {}
        for me, peer in ((hm.MOSCOW, hm.SPB), (hm.SPB, hm.MOSCOW)):
            db = hm.build_db(d / f"{me.name}.db", me, peer)
            st = h.add_station(hm.station_net(me), db, hm.hooks(me, peer), out_of_hours=True)
            stations[me.name] = st
        for st in stations.values():
            h.start(st)
            h.rx(st, "pjsip set logger on")
        fed = Fed(h, stations["moscow"], stations["spb"])
        # Both trunks qualified (OPTIONS with digest auth) before any test runs.  The first station
        # found its peer down at boot, so ask for a qualify now instead of waiting qualifyfreq.
        for st, peer in ((fed.moscow, hm.SPB), (fed.spb, hm.MOSCOW)):
            h.rx(st, f"pjsip qualify {trunk_id(peer)}")
        for st in stations.values():
            assert hs.wait_until(partial(_trunk_available, h, st), 10.0, 0.25), h.rx(st, "pjsip show contacts")
        yield fed
    finally:
        h.close()


def _trunk_available(h: hs.Harness, st: hs.Station) -> bool:
    return "Avail" in h.rx(st, "pjsip show contacts")


def register(fed: Fed, number: str) -> None:
    st = fed.station_of(number)
    res = fed.h.sipp(f"reg{number}", sc.register(number), local_ip=PHONE_IP[number], remote=st.address,
                     auth=(number, hm.phone_secret(number)), timeout=10)
    assert res.ok, res.errors + res.messages[-2000:]


def start_call(fed: Fed, caller: str, callee: str, hold_ms: int = 1500) -> tuple[hs.SippRun, hs.SippRun]:
    register(fed, callee)
    uas = fed.h.start_sipp(f"uas{callee}", sc.answer(callee), local_ip=PHONE_IP[callee],
                           remote=fed.station_of(callee).address, timeout=20)
    st = fed.station_of(caller)
    uac = fed.h.start_sipp(f"call{caller}", sc.call(caller, hold_ms=hold_ms), local_ip=PHONE_IP[caller],
                           remote=st.address, service=callee, auth=(caller, hm.phone_secret(caller)),
                           timeout=15)
    return uac, uas


def call(fed: Fed, caller: str, callee: str, hold_ms: int = 1500) -> tuple[hs.SippResult, hs.SippResult]:
    uac, uas = start_call(fed, caller, callee, hold_ms)
    return uac.wait(), uas.wait()


def trunk_id(peer: hm.StationSpec) -> str:
    return hm.provider_id(peer.name)


@pytest.mark.parametrize(("caller", "callee"), [("201", "301"), ("301", "201")])
def test_cross_station_call_answered_outside_working_hours(fed: Fed, caller: str, callee: str) -> None:
    t0 = time.monotonic()
    uac, uas = call(fed, caller, callee)
    assert uac.ok, f"caller failed:\n{uac.errors}\n{uac.messages[-3000:]}"
    assert uas.ok, f"callee failed:\n{uas.errors}\n{uas.messages[-3000:]}"
    assert time.monotonic() - t0 < 15
    dst = fed.station_of(callee)
    src_spec = hm.MOSCOW if caller.startswith("2") else hm.SPB
    log = fed.h.log(dst)
    # The working-hours check was reached and skipped thanks to IGNORE_TIME=1 from the trunk.
    incoming = f"{trunk_id(src_spec)}-incoming"
    assert re.search(r"Executing \[" + callee + "@" + re.escape(incoming)
                     + r":\d+\] GosubIf\([^)]*\"0\?check-out-work-time", log), "working-hours check not skipped"
    assert f"Executing [{callee}@{incoming}-custom:1]" in log
    assert "Executing [did2user@internal:1]" in log


def test_out_of_hours_flag_really_hangs_up_without_ignore_time(fed: Fed) -> None:
    """Negative control: the same incoming context entered without IGNORE_TIME is cut off."""
    incoming = f"{trunk_id(hm.MOSCOW)}-incoming"
    before = fed.h.log(fed.spb)
    fed.h.rx(fed.spb, f"channel originate Local/302@{incoming} application Wait 1")
    ok = hs.wait_until(lambda: "outside working hours" in fed.h.log(fed.spb)[len(before):], 5.0, 0.1)
    assert ok
    new = fed.h.log(fed.spb)[len(before):]
    assert "Goto(internal-users,302,1)" not in new and "internal-users" not in new


def test_trunk_digest_auth_for_invite_options_publish(fed: Fed) -> None:
    """Every request between the stations is challenged (401) and then accepted with digest auth."""
    uac, uas = call(fed, "202", "302", hold_ms=500)
    assert uac.ok and uas.ok
    report = {}
    for st, peer in ((fed.moscow, hm.SPB), (fed.spb, hm.MOSCOW)):
        msgs = hs.sip_messages(fed.h.log(st))
        for method in ("INVITE", "OPTIONS", "PUBLISH"):
            got = hs.auth_exchange(msgs, method, peer.address, "rx")
            report[(st.name, method)] = got
    print("trunk auth report:", report)
    invite_rx_spb = report[("spb", "INVITE")]
    assert invite_rx_spb["401"] >= 1 and invite_rx_spb["with_auth"] >= 1 and invite_rx_spb["2xx"] >= 1
    for (name, method), got in report.items():
        if method == "INVITE" and name == "moscow":
            continue  # moscow received no trunk INVITE in this test's own call
        assert got["401"] >= 1, (name, method, got)
        assert got["with_auth"] >= 1, (name, method, got)
        assert got["2xx"] >= 1, (name, method, got)


def test_spoofed_trunk_from_wrong_address_is_refused(fed: Fed) -> None:
    """From user = the trunk's endpoint name and even the right secret, but from an address that is
    not the peer's: identify_by=ip leaves the request unidentified, so it is only ever challenged."""
    st = fed.spb
    res = fed.h.sipp("impostor", sc.call(trunk_id(hm.MOSCOW), expect="401"), local_ip="127.0.0.99",
                     remote=st.address, service="301", auth=("moscow", hm.SECRET), timeout=10)
    assert res.ok, res.errors + res.messages[-2000:]
    assert "Executing [301@" not in fed.h.log(st).split("127.0.0.99")[-1]


def _notify_states(messages: str) -> list[str]:
    states = []
    for block in messages.replace("\r\n", "\n").split("NOTIFY sip:")[1:]:
        body = block.split("\n\n", 1)[1] if "\n\n" in block else ""
        found = re.findall(r"<state[^>]*>([a-z]+)</state>", body)
        states.append(found[0] if found else "idle")
    return states


def test_blf_remote_extension_busy_then_idle(fed: Fed) -> None:
    """202's BLF key on moscow follows spb's 301: idle -> busy (ringing/talking) -> idle."""
    h = fed.h
    blf = h.start_sipp("blf202", sc.blf_subscribe("202", idle_ms=20000), local_ip=PHONE_IP["202"],
                       remote=fed.moscow.address, service="301", auth=("202", hm.phone_secret("202")),
                       timeout=40)
    try:
        assert hs.wait_until(lambda: len(_notify_states(blf.messages())) >= 1, 10.0, 0.1), blf.messages()
        initial = _notify_states(blf.messages())
        uac_run, uas_run = start_call(fed, "302", "301", hold_ms=2500)
        busy = hs.wait_until(
            lambda: re.search(r"State:(InUse|Busy|Ringing)", h.rx(fed.moscow, "core show hint 301")) is not None,
            8.0, 0.1)
        hint_during = h.rx(fed.moscow, "core show hint 301")
        uac, uas = uac_run.wait(), uas_run.wait()
        assert uac.ok and uas.ok
        assert busy, hint_during

        def back_to_idle() -> bool:
            st = _notify_states(blf.messages())
            return "confirmed" in st and st[-1] in ("terminated", "idle")

        assert hs.wait_until(back_to_idle, 10.0, 0.1), _notify_states(blf.messages())
    finally:
        res = blf.stop()
    states = _notify_states(res.messages)
    print("BLF NOTIFY states:", states, "hint during call:", hint_during.strip())
    assert initial[0] in ("terminated", "idle"), initial
    assert "confirmed" in states, states
    assert states[-1] in ("terminated", "idle"), states
    assert re.search(r"PJSIP/301\s+State:(InUse|Busy)", hint_during), hint_during
    assert re.search(r"PJSIP/301\s+State:Idle", h.rx(fed.moscow, "core show hint 301"))


def test_reload_applies_changed_outbound_publish(fed: Fed) -> None:
    """A changed outbound-publish takes effect on reload (run last: it changes moscow's config).

    A wrong server_uri user part makes spb answer 404 ("no inbound-publication"); restoring it
    brings 200 back.  Both happen on the reload itself, which re-sends the current states."""
    h, m = fed.h, fed.moscow
    good = m.hooks["generatePeersPj"]

    def publish_codes() -> list[int]:
        return [x.status for x in hs.sip_messages(h.log(m))
                if not x.is_request and x.direction == "rx" and x.method == "PUBLISH"]

    try:
        m.hooks["generatePeersPj"] = good.replace("server_uri = sip:moscow@", "server_uri = sip:nobody@")
        h.rerender(m)
        n = len(publish_codes())
        h.pjsip_reload(m)
        assert hs.wait_until(lambda: 404 in publish_codes()[n:], 5.0, 0.1), publish_codes()[n:]
    finally:
        m.hooks["generatePeersPj"] = good
        h.rerender(m)
        n = len(publish_codes())
        h.core_reload(m)
    assert hs.wait_until(lambda: 200 in publish_codes()[n:], 5.0, 0.1), publish_codes()[n:]
    assert 404 not in publish_codes()[n:]
