"""A peer's call to one of our own numbers ends in the module's context, never in the station's default route action.

Core 2024.1 renders the module's incoming route to did2user as `Dial(Local/did2user@internal-incoming,...)` followed
by the station's default route action (an operator, an IVR), and so does 2026.1 on a DB without the SYSTEM extensions
(docs/platform.md#dialplan). This station is rendered that way (its DB has no SYSTEM `did2user` row; tests/e2e/
mikopbx_station.py follows Core there) with the operator 202 as the default action. The peer spb is played by SIPp
from spb's address with the trunk's credentials. A missing own number (299) and an own phone that cannot take the
call (201, not registered) are both ended by `<U>-incoming-custom`: the operator's phone never rings.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest

from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import sipp_scenarios as sc

pytestmark = pytest.mark.e2e
OPERATOR = "202"


@pytest.fixture(scope="module")
def fed() -> Iterator[fd.Federation]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    f = fd.Federation()
    try:
        m = f.add(fd.MOSCOW)
        db = sqlite3.connect(m.mikopbx_db)
        db.execute("DELETE FROM m_Extensions WHERE type = 'SYSTEM' AND number = 'did2user'")
        db.execute("UPDATE m_IncomingRoutingTable SET extension = ?, action = 'extension' WHERE priority = 9999",
                   (OPERATOR,))
        db.commit()
        db.close()
        m.add_peer(fd.SPB)
        m.apply()
        f.start()
        yield f
    finally:
        f.close()


def test_the_station_renders_did2user_as_core_2024_1_does(fed: fd.Federation) -> None:
    """The control: without the module's ending, a call that comes back from the Dial goes on to the operator."""
    incoming = fed["moscow"].rx(f"dialplan show {fd.provider_id('spb')}-incoming")
    assert "Dial(Local/did2user@internal-incoming" in incoming, incoming
    assert f"Dial(Local/{OPERATOR}@internal" in incoming, incoming


@pytest.mark.parametrize(("number", "why"), [("299", "no such extension"), ("201", "the phone is not registered")])
def test_a_peers_call_to_an_own_number_never_reaches_the_default_action(fed: fd.Federation, number: str,
                                                                          why: str) -> None:
    h, m = fed.h, fed["moscow"]
    fed.register(OPERATOR)
    operator = h.start_sipp(f"operator-{number}", sc.answer(OPERATOR), local_ip=fd.MOSCOW.phone_ip(OPERATOR),
                            remote=m.address, timeout=12)
    mark = len(h.log(m.st))
    caller = h.start_sipp(f"peer-{number}", sc.call("301", hold_ms=300, expect="404"), local_ip=fd.SPB.address,
                          port=5070, remote=m.address, service=number,
                          auth=("spb", fd.pair_secret("moscow", "spb")), timeout=10)
    res = caller.wait()
    time.sleep(1.0)  # a Dial to the operator would have been sent by now
    got = operator.stop()
    log = h.log(m.st)[mark:]
    assert f"Executing [{number}@{fd.provider_id('spb')}-incoming-custom:1]" in log, log[-3000:]
    assert "INVITE sip:" not in got.messages, f"{why}: the operator's phone rang\n{got.messages[-2000:]}"
    assert f"Local/{OPERATOR}@internal" not in log, why
    assert "did2user@internal-incoming" not in log, why
    if number == "299":
        assert res.ok, res.errors + res.messages[-2000:]  # 404: the number does not exist here
