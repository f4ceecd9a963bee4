"""Three stations federated by PAIRING instead of typed peers, on real Asterisk 22.

Each station's worker runs with its sync service (`run --sync-bind 127.0.0.x --sync-port <free>`); the admin
steps are the shell commands `invite create` on one station and `invite accept` on the other (moscow invites spb
and novosibirsk, spb invites novosibirsk). Nothing else is typed: trunks, routes, hints and publications come
from what the stations told each other. Then calls in every direction, BLF across, and a new extension on
moscow becomes a live hint on both peers.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import mikopbx_station as ms
from tests.unit.test_sync import free_port

pytestmark = pytest.mark.e2e

SPECS = {"moscow": fd.MOSCOW, "spb": fd.SPB, "novosibirsk": fd.NSK}
FIGURES: dict[str, object] = {}


def _live(st: fd.ModuleStation, names: set[str]) -> set[str]:
    endpoints = st.rx("pjsip show endpoints")
    return {n for n in names if fd.provider_id(n) in endpoints
            and "There is no existence" not in st.rx(f"dialplan show {fd.provider_id(n)}-incoming")}


def _full_mesh_live(f: fd.Federation, timeout: float) -> bool:
    return hs.wait_until(lambda: all(_live(f[n], set(SPECS) - {n}) == set(SPECS) - {n} for n in SPECS), timeout, 0.1)


@pytest.fixture(scope="module")
def paired() -> Iterator[fd.Federation]:
    if not hs.chroot_ready():
        pytest.skip("Asterisk chroot missing: run tests/e2e/setup_asterisk.sh (tests/e2e/run.sh does)")
    f = fd.Federation("pair")
    ports: dict[str, int] = {}
    try:
        for spec in SPECS.values():
            f.add(spec)
            ports[spec.name] = free_port(spec.address)
        f.start()
        for name, st in f.stations.items():
            st.start_worker("--sync-bind", st.address, "--sync-port", str(ports[name]), "--sync-heartbeat", "0.5")
        t0 = time.monotonic()
        for host, guest in (("moscow", "spb"), ("moscow", "novosibirsk"), ("spb", "novosibirsk")):
            a, b = f[host], f[guest]
            made = fd.worker_cli("invite", "create", *a._db_args(), "--state-dir", str(a.state_dir),
                                 "--address", a.address, "--sync-port", str(ports[host]), "--json")
            text = json.loads(made.stdout)["invitation"]
            fd.worker_cli("invite", "accept", *b._db_args(), "--state-dir", str(b.state_dir),
                          "--address", b.address, "--sync-port", str(ports[guest]), stdin=text)
            a.peers.add(guest)
            b.peers.add(host)
        assert _full_mesh_live(f, 30.0), {n: f[n].worker_output()[-1500:] for n in SPECS}
        FIGURES["pairing_to_live_mesh_s"] = round(time.monotonic() - t0, 2)
        f.qualify_all()
        yield f
    finally:
        print("figures:", FIGURES)
        f.close()


def test_each_station_holds_the_others_as_paired_peers(paired: fd.Federation) -> None:
    from python_worker.db.moduledb import read_config

    for name in SPECS:
        config = read_config(paired[name].module_db)
        assert {p.name for p in config.peers if p.paired} == set(SPECS) - {name}
        assert {d.peer for d in config.directories} == set(SPECS) - {name}
    secrets = {(a, b): next(p.secret for p in read_config(paired[a].module_db).peers if p.name == b)
               for a, b in itertools.permutations(SPECS, 2)}
    for a, b in itertools.combinations(SPECS, 2):
        assert secrets[(a, b)] == secrets[(b, a)]
    # Hints are exactly the peer's phones, not the 100 numbers of its pattern.
    hints = paired["moscow"].hooks()["extensionGenHints"]
    assert sorted(line.split(",")[0] for line in hints.splitlines()) == [
        "exten => 301", "exten => 302", "exten => 401", "exten => 402"]


@pytest.mark.parametrize(("caller", "callee"), list(itertools.permutations(("201", "301", "401"), 2)))
def test_every_direction_answered(paired: fd.Federation, caller: str, callee: str) -> None:
    uac, uas = paired.call(caller, callee, hold_ms=300)
    assert uac.ok, uac.errors + uac.messages[-3000:]
    assert uas.ok, uas.errors + uas.messages[-3000:]
    invite = fd.invite_received(uas.messages)
    assert fd.header_user(invite, "From") == caller
    # The caller's name comes with the call: the calling station sends it (its endpoint's callerid, as Core
    # renders it), and nothing of the module's own stands in the way.
    assert fd.display_name(invite) == fd.phone_name(caller), invite


@pytest.mark.parametrize(("watcher", "watched", "caller"), [("202", "301", "302"), ("402", "201", "202")])
def test_blf_across_paired_stations(paired: fd.Federation, watcher: str, watched: str, caller: str) -> None:
    fd.blf_follows(paired, watcher, watched, caller)


def test_new_extension_becomes_a_live_hint_on_both_peers(paired: fd.Federation) -> None:
    db = __import__("sqlite3").connect(paired["moscow"].mikopbx_db)
    try:
        t0 = time.monotonic()
        ms.add_phone(db, "203", fd.phone_secret("203"), "Олег Кузнецов")
    finally:
        db.close()
    for name in ("spb", "novosibirsk"):
        st = paired[name]
        assert hs.wait_until(lambda st=st: "203@" in st.rx("core show hint 203"), 10.0, 0.05), \
            st.rx("core show hints") + st.worker_output()[-1500:]
    FIGURES["new_extension_to_peer_hints_s"] = round(time.monotonic() - t0, 2)
