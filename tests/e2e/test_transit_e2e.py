"""Transit through a peer's providers (issue #15) on real Asterisk 22, granted once and carried by pairing.

moscow (2XX, public number 74951234000, the admin's PSTN provider: SIPp UAS on 127.0.0.50) and spb (3XX) are
paired by invitation, their workers running with directory sync. moscow's admin grants spb transit for
8495XXXXXXX through that provider, at most 1 call at a time, with one CLI command on moscow; nothing is typed on
spb: the grant travels in moscow's directory and spb's worker makes the route to moscow's trunk. moscow also has
a hand-made peer novosibirsk (127.0.0.4, no grant) that a SIPp plays.

Proved: spb's 301 reaches the PSTN UAS through moscow with the number as dialled and moscow's public number; a
number not granted, an emergency number, the peer without transit and a stranger's address are refused and the
PSTN UAS receives nothing; the second concurrent call is refused (the first holds the only slot) and once the
first ends the slot is free again; taking the grant back removes spb's route.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import sipp_scenarios as sc
from tests.unit.test_sync import free_port

pytestmark = pytest.mark.e2e

PUBLIC = ("--public-number", "74951234000", "--public-prepend", "74951234")
GRANT = "8495XXXXXXX"
NSK_SECRET = "nsk-" + "0" * 28
FIGURES: dict[str, float] = {}


def _transit_route(st: fd.ModuleStation) -> list[tuple[object, ...]]:
    return st.query("SELECT rulename, providerid, priority, numberbeginswith, restnumbers FROM m_OutgoingRoutingTable "
                    "WHERE note LIKE 'ModulePbxFederation: peer % transit %'")


def _via(st: fd.ModuleStation, peer: str) -> str:
    from python_worker.db.moduledb import read_config

    return next(p.via_patterns for p in read_config(st.module_db).peers if p.name == peer)


@pytest.fixture(scope="module")
def tr() -> Iterator[fd.Federation]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    f = fd.Federation("tr")
    try:
        m = f.add(fd.MOSCOW, pstn=True, settings=PUBLIC)
        s = f.add(fd.SPB)
        ports = {name: free_port(st.address) for name, st in f.stations.items()}
        f.start()
        for name, st in f.stations.items():
            st.start_worker("--sync-bind", st.address, "--sync-port", str(ports[name]), "--sync-heartbeat", "0.5")
        made = fd.worker_cli("invite", "create", *m._db_args(), "--state-dir", str(m.state_dir), "--address",
                             m.address, "--sync-port", str(ports["moscow"]), "--json")
        fd.worker_cli("invite", "accept", *s._db_args(), "--state-dir", str(s.state_dir), "--address", s.address,
                      "--sync-port", str(ports["spb"]), stdin=json.loads(made.stdout)["invitation"])
        m.peers.add("spb")
        s.peers.add("moscow")
        fd.worker_cli("peers", "add", *m._db_args(), "--name", "novosibirsk", "--host", fd.NSK.address, "--patterns",
                      "4XX", "--secret", "-", stdin=NSK_SECRET)
        assert hs.wait_until(lambda: fd.provider_id("spb") in m.rx("pjsip show endpoints")
                             and fd.provider_id("moscow") in s.rx("pjsip show endpoints"), 30.0, 0.2)
        f.qualify_all()
        # The admin's one step, on moscow only.
        t0 = time.monotonic()
        m.set_peer(fd.SPB, "--transit-patterns", GRANT, "--transit-provider", fd.PSTN_PROVIDER, "--transit-limit", "1")
        assert hs.wait_until(lambda: bool(_transit_route(s)) and "8495" in s.rx("dialplan show outgoing"), 30.0, 0.2), \
            s.worker_output()[-2000:]
        FIGURES["grant_to_route_on_spb_s"] = round(time.monotonic() - t0, 2)
        yield f
    finally:
        print("figures:", FIGURES)
        f.close()


def _pstn(f: fd.Federation, name: str, timeout: float = 15) -> hs.SippRun:
    return f.h.start_sipp(name, sc.answer("pstn", ring_ms=100), local_ip=fd.PSTN_ADDRESS, remote=fd.MOSCOW.address,
                          timeout=timeout)


def _from_spb(f: fd.Federation, caller: str, number: str, *, expect: str = "200", hold_ms: int = 500,
              timeout: float = 20) -> hs.SippRun:
    return f.h.start_sipp(f"call{caller}", sc.call(caller, hold_ms=hold_ms, expect=expect),
                          local_ip=fd.SPB.phone_ip(caller), remote=fd.SPB.address, service=number,
                          auth=(caller, fd.phone_secret(caller)), timeout=timeout)


def _invites(messages: str) -> list[str]:
    return [m for m in fd.received_messages(messages) if m.startswith("INVITE sip:")]


def _call_ids(invites: list[str]) -> set[str]:
    return {m.group(1) for i in invites if (m := re.search(r"^Call-ID:\s*(\S+)", i, re.M | re.I))}


def test_the_grant_became_spbs_route_to_moscows_trunk(tr: fd.Federation) -> None:
    s = tr["spb"]
    assert _transit_route(s) == [(f"Federation: moscow transit {GRANT}", fd.provider_id("moscow"), "0", "8495",
                                  "7")]
    assert _via(s, "moscow") == GRANT  # typed on moscow only, carried by the paired stations' directory sync
    assert _transit_route(tr["moscow"]) == []  # the grant is moscow's to give, not a route of its own


def test_a_granted_number_reaches_the_pstn_through_moscow(tr: fd.Federation) -> None:
    pstn = _pstn(tr, "pstn-ok")
    uac = _from_spb(tr, "301", "84951234567").wait()
    got = pstn.wait()
    assert uac.ok, uac.errors + uac.messages[-2000:]
    assert got.ok, got.errors + got.messages[-2000:]
    invite = fd.invite_received(got.messages)
    assert invite.startswith("INVITE sip:84951234567@"), invite
    assert fd.header_user(invite, "From") == "74951234000", invite  # moscow's public number, never 301


@pytest.mark.parametrize(("case", "number", "address", "port", "name"), [
    ("not granted", "84991234567", fd.SPB.address, 5070, "spb"),
    ("emergency", "112", fd.SPB.address, 5070, "spb"),
    ("short service number", "0911", fd.SPB.address, 5070, "spb"),
    ("peer without transit", "84951234567", fd.NSK.address, 5070, "novosibirsk"),
])
def test_what_was_not_granted_is_refused(tr: fd.Federation, case: str, number: str, address: str, port: int,
                                         name: str) -> None:
    """Played by a SIPp with the peer's own address and trunk secret, so only the dialplan stands in the way."""
    from python_worker.db.moduledb import read_config

    m = tr["moscow"]
    secret = next(p.secret for p in read_config(m.module_db).peers if p.name == name)
    pstn = _pstn(tr, f"pstn-{case[:5]}", timeout=10)
    mark = len(tr.h.log(m.st))
    res = tr.h.sipp(f"peer-{case[:5]}", sc.call("301", expect="404"), local_ip=address, port=port,
                    remote=m.address, service=number, auth=(name, secret), timeout=10)
    time.sleep(1.0)
    got = pstn.stop()
    log = tr.h.log(m.st)[mark:]
    assert res.ok, res.errors + res.messages[-2000:]
    assert f"Executing [{number}@{fd.provider_id(name)}-incoming-custom:" in log, log[-3000:]
    assert "-transit:" not in log.split(f"{number}@{fd.provider_id(name)}-incoming-custom", 1)[1]
    assert _invites(got.messages) == [], got.messages[-2000:]


def test_a_stranger_with_the_right_secret_is_refused(tr: fd.Federation) -> None:
    from python_worker.db.moduledb import read_config

    m = tr["moscow"]
    secret = next(p.secret for p in read_config(m.module_db).peers if p.name == "spb")
    pstn = _pstn(tr, "pstn-stranger", timeout=10)
    mark = len(tr.h.log(m.st))
    res = tr.h.sipp("stranger", sc.call(fd.provider_id("spb"), expect="401"), local_ip="127.0.0.99",
                    remote=m.address, service="84951234567", auth=("spb", secret), timeout=10)
    time.sleep(1.0)
    got = pstn.stop()
    assert res.ok, res.errors + res.messages[-2000:]
    assert "Executing [84951234567@" not in tr.h.log(m.st)[mark:]
    assert _invites(got.messages) == []


def test_the_call_over_the_cap_is_refused_and_the_slot_comes_back(tr: fd.Federation) -> None:
    m = tr["moscow"]
    pstn = _pstn(tr, "pstn-cap", timeout=30)
    mark = len(tr.h.log(m.st))
    first = _from_spb(tr, "301", "84951234567", hold_ms=6000, timeout=25)
    assert hs.wait_until(lambda: "SIP/2.0 200 OK" in first.messages(), 10.0, 0.05), first.messages()[-2000:]
    second = _from_spb(tr, "302", "84951234568", expect="failure", timeout=20).wait()
    r1 = first.wait()
    got = pstn.stop()
    log = tr.h.log(m.st)[mark:]
    assert r1.ok, r1.errors + r1.messages[-2000:]
    assert second.ok, second.errors + second.messages[-2000:]  # refused (503 from moscow, then spb's failure)
    assert len(_call_ids(_invites(got.messages))) == 1, got.messages[-3000:]
    u = re.escape(fd.provider_id("spb"))
    refused = "84951234568@" + u + r'-transit:\d+\] ExecIf\("[^"]*", "1\?Hangup\(34\)"\)'
    assert re.search(refused, log), log[-3000:]
    # The first call is over: its slot is free again.
    pstn = _pstn(tr, "pstn-again")
    again = _from_spb(tr, "302", "84951234569").wait()
    got = pstn.wait()
    assert again.ok and got.ok, again.errors + got.errors
    assert fd.invite_received(got.messages).startswith("INVITE sip:84951234569@")


def test_taking_the_grant_back_removes_spbs_route(tr: fd.Federation) -> None:
    m, s = tr["moscow"], tr["spb"]
    t0 = time.monotonic()
    m.set_peer(fd.SPB, "--transit-patterns", "", "--transit-provider", "", "--transit-limit", "")
    assert hs.wait_until(lambda: not _transit_route(s) and "8495" not in s.rx("dialplan show outgoing"), 30.0, 0.2), \
        s.worker_output()[-2000:]
    FIGURES["grant_removed_to_route_gone_s"] = round(time.monotonic() - t0, 2)
    assert _via(s, "moscow") == ""
    pstn = _pstn(tr, "pstn-gone", timeout=10)
    res = _from_spb(tr, "301", "84951234567", expect="failure").wait()
    time.sleep(1.0)
    got = pstn.stop()
    assert res.ok, res.errors + res.messages[-2000:]
    assert _invites(got.messages) == []
