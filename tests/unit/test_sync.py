"""Pairing and directory sync between sync services on loopback addresses (127.0.0.x), in one process.

Each station is real: a MikoPBX-schema mikopbx.db and a module.db. Waits poll with a deadline, never sleep-then-assert.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from python_worker.core.config import Settings
from python_worker.db.moduledb import init_db, read_config, write_settings
from python_worker.demo.stationdb import Phone, StationSpec, add_phone, build_station_db
from python_worker.pipeline import compute_from_files
from python_worker.statedir import to_json
from python_worker.sync.accept import accept_invitation
from python_worker.sync.pairing import (
    KEY_FILE,
    InviteError,
    create_invitation,
    load_or_create_keys,
    parse_invitation,
)
from python_worker.sync.service import SyncOptions, SyncService
from python_worker.sync.station import FileStation
from python_worker.sync.wire import decode, encode
from tests.unit.applyhelpers import wait_until
from tests.unit.lint import lint, wrap_dialplan

FAST = SyncOptions(bind="127.0.0.1", port=0, heartbeat=0.2, heartbeat_timeout=0.8, backoff_max=0.8,
                   reconnect_max=0.3)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    name: str
    address: str
    pattern: str
    folder: Path
    port: int
    service: SyncService | None = None

    @property
    def mikopbx_db(self) -> Path:
        return self.folder / "mikopbx.db"

    @property
    def module_db(self) -> Path:
        return self.folder / "module.db"

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    def station(self) -> FileStation:
        return FileStation(self.mikopbx_db, self.module_db)

    def start(self) -> SyncService:
        svc = SyncService(self.state_dir, self.station(), replace(FAST, bind=self.address, port=self.port))
        svc.start()
        assert svc.ready.wait(5)
        self.service = svc
        return svc

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    @property
    def svc(self) -> SyncService:
        assert self.service is not None
        return self.service

    def invite(self, **kw: object) -> str:
        return create_invitation(self.state_dir, self.name, self.address, sip_port=5060, patterns=self.pattern,
                                 sync_port=self.port, **kw).text()  # type: ignore[arg-type]

    def accept(self, text: str, **kw: object) -> object:
        peer = accept_invitation(parse_invitation(text), self.state_dir, self.station(), host=self.address,
                                 sync_port=self.port, timeout=3.0, **kw)  # type: ignore[arg-type]
        if self.service is not None:
            self.service.notify()  # what the worker does after the module.db change
        return peer

    def add_phone(self, number: str, name: str) -> None:
        add_phone(self.mikopbx_db, Phone(number, name))

    def rename(self, number: str, name: str) -> None:
        conn = sqlite3.connect(self.mikopbx_db)
        conn.execute("UPDATE m_Users SET username = ? WHERE id = (SELECT userid FROM m_Extensions WHERE number = ?)",
                     (name, number))
        conn.commit()
        conn.close()

    def remove_phone(self, number: str) -> None:
        conn = sqlite3.connect(self.mikopbx_db)
        conn.execute("DELETE FROM m_Extensions WHERE number = ?", (number,))
        conn.commit()
        conn.close()

    def changed(self) -> None:
        self.svc.notify()  # the worker calls this after every reconcile caused by a DB commit

    def directory_of(self, peer: str) -> dict[str, str]:
        d = read_config(self.module_db).directory(peer)
        return {} if d is None else {e.number: e.name for e in d.entries}


STATIONS = (("moscow", "127.0.0.2", "2XX", ("201", "202")), ("spb", "127.0.0.3", "3XX", ("301", "302")),
            ("novosibirsk", "127.0.0.4", "4XX", ("401",)))


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Node]]:
    made = []
    for name, address, pattern, numbers in STATIONS:
        folder = tmp_path / name
        build_station_db(folder / "mikopbx.db", StationSpec(name=name, lan_ip=address,
                                                              phones=[Phone(n, f"User {n}") for n in numbers]))
        init_db(folder / "module.db")
        write_settings(folder / "module.db", Settings(station_name=name, own_patterns=pattern))
        made.append(Node(name, address, pattern, folder, free_port(address)))
    try:
        yield made
    finally:
        for node in made:
            node.stop()


def _paired(a: Node, b: Node) -> None:
    a.accept(b.invite())


def test_key_pair_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_keys(tmp_path)
    assert load_or_create_keys(tmp_path) == first
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert len(first.public) == 40 and first.public != first.secret


def test_invitation_text_round_trips_and_damage_is_refused(tmp_path: Path) -> None:
    inv = create_invitation(tmp_path, "moscow", "127.0.0.2", sip_port=5060, patterns="2XX", sync_port=7787)
    text = inv.text()
    assert len(text) < 400 and "\n" not in text
    assert parse_invitation(f"  {text[:50]}\n{text[50:]}\n") == inv  # line breaks from copying are fine
    for bad in ("hello", text[:-10], "pbxfed1:!!!"):
        with pytest.raises(InviteError) as err:
            parse_invitation(bad)
        assert err.value.code == "E_INVITE_INVALID"
    stored = (tmp_path / "invitations.json").read_text()
    assert inv.secret not in stored  # only the derived HMAC key is kept
    assert stat.S_IMODE((tmp_path / "invitations.json").stat().st_mode) == 0o600


def test_pairing_makes_each_station_a_paired_peer_of_the_other(nodes: list[Node]) -> None:
    moscow, spb, _ = nodes
    moscow.start()
    spb.start()
    peer = spb.accept(moscow.invite())
    a_peers = {p.name: p for p in read_config(moscow.module_db).peers}
    b_peers = {p.name: p for p in read_config(spb.module_db).peers}
    assert set(a_peers) == {"spb"} and set(b_peers) == {"moscow"} and peer == b_peers["moscow"]
    a, b = a_peers["spb"], b_peers["moscow"]
    assert a.paired and b.paired
    assert a.secret == b.secret and len(a.secret) == 32
    assert (a.host, a.port, a.patterns, a.sync_port) == ("127.0.0.3", 5060, "3XX", spb.port)
    assert (b.host, b.port, b.patterns, b.sync_port) == ("127.0.0.2", 5060, "2XX", moscow.port)
    assert a.public_key == spb.svc.keys.public and b.public_key == moscow.svc.keys.public
    # Directories were exchanged at pairing; the engine plans the real numbers.
    assert moscow.directory_of("spb") == {"301": "User 301", "302": "User 302"}
    assert spb.directory_of("moscow") == {"201": "User 201", "202": "User 202"}
    out = compute_from_files(moscow.mikopbx_db, moscow.module_db)
    plan = out.plan.peer("spb")
    assert plan is not None and plan.hint_numbers == ("301", "302") and plan.has_directory
    assert out.plan.errors == ()
    hints = out.hooks["extensionGenHints"]
    assert hints == "exten => 301,hint,PJSIP/301\nexten => 302,hint,PJSIP/302\n"
    assert lint(wrap_dialplan(out.hooks), moscow.folder) == {}
    # Both links come up and stay in sync.
    wait_until(lambda: moscow.svc.status()["peers"].get("spb", {}).get("in_sync"), 5, "moscow -> spb in sync")
    wait_until(lambda: spb.svc.status()["peers"].get("moscow", {}).get("in_sync"), 5, "spb -> moscow in sync")


def test_used_expired_forged_and_unknown_invitations_are_refused(nodes: list[Node]) -> None:
    moscow, spb, nsk = nodes
    moscow.start()
    text = moscow.invite()
    spb.accept(text)
    with pytest.raises(InviteError) as err:
        nsk.accept(text)
    assert err.value.code == "E_INVITE_USED"

    expired = moscow.invite(ttl=1.0)
    with pytest.raises(InviteError) as err:  # refused locally, before any connection
        nsk.accept(expired, now=time.time() + 5)
    assert err.value.code == "E_INVITE_EXPIRED"
    inv = parse_invitation(expired)
    with pytest.raises(InviteError) as err:  # and by the inviting station when the local clock is behind
        _accept_later(nsk, inv)
    assert err.value.code == "E_INVITE_EXPIRED"

    forged = replace(parse_invitation(moscow.invite()), secret="x" * 32)
    with pytest.raises(InviteError) as err:
        nsk.accept(forged.text())
    assert err.value.code == "E_INVITE_FORGED"
    unknown = replace(parse_invitation(moscow.invite()), id="000000000000")
    with pytest.raises(InviteError) as err:
        nsk.accept(unknown.text())
    assert err.value.code == "E_INVITE_UNKNOWN"
    assert {p.name for p in read_config(moscow.module_db).peers} == {"spb"}
    assert read_config(nsk.module_db).peers == ()


def _accept_later(node: Node, inv: object) -> object:
    """Accept after the invitation expired on the inviting side, with a local clock that thinks it has not."""
    from python_worker.sync.pairing import Invitation

    assert isinstance(inv, Invitation)
    wait_until(lambda: time.time() > inv.expires, 3, "the invitation to expire")
    return accept_invitation(inv, node.state_dir, node.station(), host=node.address, sync_port=node.port,
                             timeout=3.0, now=inv.expires - 1)


def test_a_station_answering_with_another_key_is_refused(nodes: list[Node]) -> None:
    moscow, spb, _ = nodes
    moscow.start()
    inv = parse_invitation(moscow.invite())
    impostor_key = load_or_create_keys(spb.folder / "other-keys").public
    with pytest.raises(InviteError) as err:
        spb.accept(replace(inv, public_key=impostor_key).text())
    assert err.value.code == "E_SYNC_KEY_MISMATCH"
    assert read_config(spb.module_db).peers == () and read_config(moscow.module_db).peers == ()


def test_pinned_key_mismatch_after_reinstall_is_reported(nodes: list[Node]) -> None:
    moscow, spb, _ = nodes
    moscow.start()
    spb.start()
    spb.accept(moscow.invite())
    wait_until(lambda: spb.svc.status()["peers"].get("moscow", {}).get("state") == "up", 5, "link up")
    moscow.stop()
    (moscow.state_dir / KEY_FILE).unlink()  # "reinstalled": a new key pair
    moscow.start()

    def mismatch() -> bool:
        peer = spb.svc.status()["peers"]["moscow"]
        codes = {p["code"] for p in peer["problems"]}
        # Our link refuses its server key; our server refuses its client key when it calls us as "moscow".
        return peer["state"] == "key-mismatch" and codes == {"E_SYNC_KEY_MISMATCH", "E_SYNC_UNKNOWN_KEY"}

    wait_until(mismatch, 5, "the key mismatch to be reported")
    assert "moscow" in spb.svc.unreachable()
    wait_until(lambda: moscow.svc.status()["peers"]["spb"]["state"] == "refused", 5, "moscow to be refused")
    assert moscow.directory_of("spb") and spb.directory_of("moscow")  # nothing accepted from the new key


def test_unpinned_client_claiming_a_peer_name_is_refused(nodes: list[Node]) -> None:
    import zmq

    moscow, spb, _ = nodes
    moscow.start()
    spb.accept(moscow.invite())
    rogue = load_or_create_keys(spb.folder / "rogue")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.curve_secretkey, sock.curve_publickey = rogue.secret.encode(), rogue.public.encode()
    sock.curve_serverkey = moscow.svc.keys.public.encode()
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://{moscow.address}:{moscow.port}")
    try:
        sock.send(encode({"v": 1, "type": "dir", "from": "spb", "directory": {"entries": [["201", "x", "SIP"]]}}))
        assert sock.poll(3000)
        answer = decode(sock.recv())
    finally:
        sock.close(0)
        ctx.term()
    assert answer["type"] == "refused" and answer["code"] == "E_SYNC_UNKNOWN_KEY"
    assert moscow.directory_of("spb") == {"301": "User 301", "302": "User 302"}  # untouched


def test_directory_changes_reach_the_peer_within_a_second(nodes: list[Node]) -> None:
    moscow, spb, _ = nodes
    moscow.start()
    spb.start()
    spb.accept(moscow.invite())
    wait_until(lambda: spb.svc.status()["peers"].get("moscow", {}).get("in_sync"), 5, "in sync")
    for change, expected in (
        (lambda: moscow.add_phone("203", "Олег Кузнецов"), {"201": "User 201", "202": "User 202",
                                                             "203": "Олег Кузнецов"}),
        (lambda: moscow.rename("201", "Иван; Петров (бух)"), {"201": "Иван Петров бух", "202": "User 202",
                                                               "203": "Олег Кузнецов"}),
        (lambda: moscow.remove_phone("202"), {"201": "Иван Петров бух", "203": "Олег Кузнецов"}),
    ):
        change()
        started = time.monotonic()
        moscow.changed()
        wait_until(lambda e=expected: spb.directory_of("moscow") == e, 2, f"spb to see {expected}")
        assert time.monotonic() - started < 1.0
    out = compute_from_files(spb.mikopbx_db, spb.module_db)
    assert out.hooks["extensionGenHints"] == "exten => 201,hint,PJSIP/201\nexten => 203,hint,PJSIP/203\n"
    assert lint(wrap_dialplan(out.hooks), spb.folder) == {}


def test_a_peer_down_during_changes_gets_them_after_restart(nodes: list[Node]) -> None:
    moscow, spb, _ = nodes
    moscow.start()
    spb.start()
    spb.accept(moscow.invite())
    wait_until(lambda: moscow.svc.status()["peers"].get("spb", {}).get("in_sync"), 5, "in sync")
    spb.stop()
    wait_until(lambda: "spb" in moscow.svc.unreachable(), 5, "moscow to see spb down")
    assert moscow.svc.status()["peers"]["spb"]["problems"][0]["code"] == "W_SYNC_DOWN"
    # While spb is away the heartbeats back off to the cap instead of hammering it.
    wait_until(lambda: moscow.svc.status()["peers"]["spb"]["heartbeat_interval"] == FAST.backoff_max, 5,
               "the heartbeat backoff to reach its cap")
    moscow.add_phone("204", "New Person")
    moscow.changed()
    moscow.remove_phone("201")
    moscow.changed()
    assert "204" not in spb.directory_of("moscow")  # spb is down: nothing can have arrived
    spb.start()  # same state dir, same port, same key
    wait_until(lambda: spb.directory_of("moscow") == {"202": "User 202", "204": "New Person"}, 5,
               "the changes made while spb was down")
    wait_until(lambda: "spb" not in moscow.svc.unreachable(), 5, "moscow to see spb back")
    wait_until(lambda: moscow.svc.status()["peers"]["spb"]["in_sync"], 5, "moscow to know spb holds its latest")


def test_three_stations_pair_and_a_change_reaches_both_others(nodes: list[Node]) -> None:
    moscow, spb, nsk = nodes
    for node in nodes:
        node.start()
    spb.accept(moscow.invite())
    nsk.accept(moscow.invite())
    nsk.accept(spb.invite())
    for node in nodes:
        peers = {p.name for p in read_config(node.module_db).peers if p.paired}
        assert peers == {n.name for n in nodes} - {node.name}
        out = compute_from_files(node.mikopbx_db, node.module_db)
        assert out.plan.errors == () and len(out.plan.peers) == 2
    nsk.add_phone("402", "Ольга Морозова")
    nsk.changed()
    for node in (moscow, spb):
        wait_until(lambda n=node: n.directory_of("novosibirsk").get("402") == "Ольга Морозова", 2,
                   f"{node.name} to see 402")


def test_peer_patterns_changed_to_overlap_ours_are_reported(nodes: list[Node]) -> None:
    moscow, spb, _ = nodes
    moscow.start()
    spb.start()
    spb.accept(moscow.invite())
    write_settings(moscow.module_db, Settings(station_name="moscow", own_patterns="2XX,3[0-4]X"))
    moscow.changed()
    wait_until(lambda: (read_config(spb.module_db).peers[0].patterns == "2XX,3[0-4]X"), 3, "the new patterns")
    codes = {p.code for p in compute_from_files(spb.mikopbx_db, spb.module_db).plan.problems}
    assert "E_PATTERN_OVERLAP_LOCAL" in codes


def test_pairing_with_a_conflicting_station_is_refused_before_anything_is_saved(nodes: list[Node]) -> None:
    moscow, spb, _ = nodes
    moscow.start()
    write_settings(spb.module_db, Settings(station_name="spb", own_patterns="2XX"))  # same numbers as moscow
    with pytest.raises(InviteError) as err:
        spb.accept(moscow.invite())
    assert err.value.code == "E_PAIR_REFUSED"
    assert read_config(moscow.module_db).peers == () and read_config(spb.module_db).peers == ()


def test_wire_format_compresses_large_messages() -> None:
    msg = {"type": "dir", "entries": [[str(1000 + i), f"User {i}", "SIP"] for i in range(500)]}
    frame = encode(msg)
    assert frame[:1] == b"Z" and len(frame) < len(json.dumps(msg)) / 3
    assert decode(frame) == msg
    assert to_json(decode(encode({"a": 1}))) == to_json({"a": 1})


def test_another_protocol_version_is_refused_with_a_clear_code(nodes: list[Node]) -> None:
    import zmq

    moscow = nodes[0]
    moscow.start()
    keys = load_or_create_keys(moscow.folder / "client")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.curve_secretkey, sock.curve_publickey = keys.secret.encode(), keys.public.encode()
    sock.curve_serverkey = moscow.svc.keys.public.encode()
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://{moscow.address}:{moscow.port}")
    try:
        sock.send(b"J" + json.dumps({"v": 2, "type": "hello", "from": "spb"}).encode())
        assert sock.poll(3000)
        answer = decode(sock.recv())
    finally:
        sock.close(0)
        ctx.term()
    assert (answer["code"], answer["params"]["other"], answer["params"]["limit"]) == ("E_SYNC_PROTOCOL", "2", "1")
