"""The worker's AMI side (service/devstate.py) against a small fake AMI server on 127.0.0.1 speaking Asterisk's
manager protocol: login, ExtensionStateList, ExtensionStatus events, pipelined Setvar, PJSIPQualify, reconnects.
The real Asterisk side is covered end to end in tests/e2e/test_wan_lamps_e2e.py."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from python_worker.core.config import DirectoryEntry, ModuleConfig, PeerConfig, RemoteDirectory, Settings
from python_worker.core.planner import Plan
from python_worker.core.runtime import AmiAccount, Runtime
from python_worker.pipeline import compute
from python_worker.service import devstate
from python_worker.service.ami import encode_action, parse_messages
from python_worker.service.devstate import AmiSettings, DevstateBridge
from tests.conftest import make_snapshot
from tests.unit.applyhelpers import wait_until

ACCOUNT = AmiAccount("ModulePbxFederation", "0123456789abcdef0123456789abcdef")
KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"


class FakeAmi:
    """One client at a time; records the actions it gets; `hints` is what ExtensionStateList answers."""

    def __init__(self, secret: str = ACCOUNT.secret) -> None:
        self.secret = secret
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.hints: dict[str, tuple[str, str]] = {}  # exten -> (Status, StatusText)
        self.actions: list[dict[str, str]] = []
        self.logins = 0
        self.conn: socket.socket | None = None
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.conn = conn
            conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
            buf = bytearray()
            conn.settimeout(0.2)
            while not self.stop:
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                for msg in parse_messages(buf):
                    self._answer(conn, msg)
            with contextlib.suppress(OSError):
                conn.close()

    def _send(self, conn: socket.socket, fields: dict[str, str]) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(encode_action(fields))

    def _answer(self, conn: socket.socket, msg: dict[str, str]) -> None:
        action, aid = msg.get("Action", ""), msg.get("ActionID", "")
        with self.lock:
            self.actions.append(msg)
        if action == "Login":
            ok = msg.get("Secret") == self.secret and msg.get("Username") == ACCOUNT.username
            self.logins += ok
            self._send(conn, {"Response": "Success" if ok else "Error", "ActionID": aid,
                              "Message": "Authentication accepted" if ok else "Authentication failed"})
        elif action == "ExtensionStateList":
            self._send(conn, {"Response": "Success", "ActionID": aid, "EventList": "start"})
            for exten, (status, text) in sorted(self.hints.items()):
                self._send(conn, {"Event": "ExtensionStatus", "ActionID": aid, "Exten": exten,
                                  "Context": "internal-hints", "Hint": f"PJSIP/{exten}", "Status": status,
                                  "StatusText": text})
            self._send(conn, {"Event": "ExtensionStateListComplete", "ActionID": aid, "EventList": "Complete"})
        else:
            self._send(conn, {"Response": "Success", "ActionID": aid})

    def event(self, exten: str, status: str, text: str, context: str = "internal-hints") -> None:
        with self.lock:
            conn = self.conn
        assert conn is not None
        self._send(conn, {"Event": "ExtensionStatus", "Privilege": "call,all", "Exten": exten, "Context": context,
                          "Hint": f"PJSIP/{exten}", "Status": status, "StatusText": text})

    def contact(self, aor: str, status: str) -> None:
        with self.lock:
            conn = self.conn
        assert conn is not None
        self._send(conn, {"Event": "ContactStatus", "Privilege": "system,all", "URI": f"sip:{aor}@127.0.0.3:5060",
                          "ContactStatus": status, "AOR": aor, "EndpointName": aor})

    def drop(self) -> None:
        with self.lock:
            conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)

    def sets(self) -> dict[str, str]:
        with self.lock:
            return {a["Variable"]: a["Value"] for a in self.actions if a.get("Action") == "Setvar"}

    def of(self, action: str) -> list[dict[str, str]]:
        with self.lock:
            return [a for a in self.actions if a.get("Action") == action]

    def close(self) -> None:
        self.stop = True
        self.drop()
        self.listener.close()
        self.thread.join(3)


@pytest.fixture
def ami() -> Iterator[FakeAmi]:
    server = FakeAmi()
    try:
        yield server
    finally:
        server.close()


def _plan() -> Plan:
    spb = PeerConfig("spb", "127.0.0.3", patterns="3XX", secret="s3cret-s3cret-s3cret", paired=True,
                     sync_port=7787, public_key=KEY)
    directory = RemoteDirectory("spb", "v1", "0.2.0", "3XX", (DirectoryEntry("301", "", "SIP"),
                                                               DirectoryEntry("302", "", "SIP")))
    config = ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"), (spb,), (directory,))
    return compute(make_snapshot(), config, Runtime.of(carries_states=True, ami=ACCOUNT)).plan


@pytest.fixture
def bridge(ami: FakeAmi) -> Iterator[DevstateBridge]:
    b = DevstateBridge(AmiSettings("127.0.0.1", ami.port, ACCOUNT, timeout=2.0))
    b.set_plan(_plan())
    b.start()
    try:
        yield b
    finally:
        b.stop()


def test_own_states_come_from_the_hint_list_then_from_events(ami: FakeAmi) -> None:
    ami.hints = {"201": ("0", "Idle"), "202": ("1", "InUse"), "301": ("1", "InUse"), "abc": ("0", "Idle")}
    b = DevstateBridge(AmiSettings("127.0.0.1", ami.port, ACCOUNT, timeout=2.0))
    woken = threading.Event()
    b.on_change = woken.set
    b.set_plan(_plan())
    b.start()
    try:
        wait_until(lambda: b.own_snapshot() is not None, 5, "the hint list")
        assert b.own_snapshot() == {"201": "NOT_INUSE", "202": "INUSE"}  # only our own numbers (2XX)
        assert woken.wait(2)
        assert b.take_own_changes() == {"201": "NOT_INUSE", "202": "INUSE"}
        woken.clear()
        ami.event("201", "8", "Ringing")
        ami.event("301", "0", "Idle")  # a peer's number (a watched pattern hint here): not ours
        ami.event("202", "1", "InUse", context="other")
        assert woken.wait(2)
        wait_until(lambda: b.own_snapshot() == {"201": "RINGING", "202": "INUSE"}, 2, "the event")
        assert b.take_own_changes() == {"201": "RINGING"}
        assert ami.of("Login")[0]["Events"] == "call,system"
    finally:
        b.stop()


def test_peer_states_are_set_filtered_and_unavailable_when_its_link_is_down(ami: FakeAmi,
                                                                           bridge: DevstateBridge) -> None:
    plan = _plan()
    spb = plan.peers[0]
    wait_until(lambda: bridge.connected, 5, "the login")
    bridge.on_remote("spb", True, {"301": "INUSE", "399": "BUSY", "201": "BUSY"})
    dev = spb.state_device
    wait_until(lambda: ami.sets().get(f"DEVICE_STATE({dev('302')})") == "UNAVAILABLE", 5, "the Setvars")
    assert ami.sets()[f"DEVICE_STATE({dev('301')})"] == "INUSE"
    assert not any("399" in v or "-201" in v for v in ami.sets())  # numbers spb may not set
    bridge.on_peer_down("spb")
    wait_until(lambda: ami.sets().get(f"DEVICE_STATE({dev('301')})") == "UNAVAILABLE", 5, "lamps Unavailable")
    wait_until(lambda: ami.sets().get(spb.down_flag) == "1", 5, "the down flag")
    wait_until(lambda: [q["Endpoint"] for q in ami.of("PJSIPQualify")] == [spb.provider_id], 5, "a qualify now")
    bridge.on_remote("spb", True, {"301": "NOT_INUSE", "302": "NOT_INUSE"})
    wait_until(lambda: ami.sets().get(f"DEVICE_STATE({dev('301')})") == "NOT_INUSE", 5, "healed")
    wait_until(lambda: ami.sets().get(spb.down_flag) == "", 5, "the down flag cleared")
    # its trunk is qualified again at once: Asterisk dials only a contact it holds Reachable
    wait_until(lambda: [q["Endpoint"] for q in ami.of("PJSIPQualify")] == [spb.provider_id] * 2, 5,
               "a qualify on its return")
    bridge.on_peer_down("spb")
    wait_until(lambda: ami.sets().get(f"DEVICE_STATE({dev('301')})") == "UNAVAILABLE", 5, "down again")
    bridge.on_peer_up("spb")  # our link answers again, no new snapshot from spb: what it said last is set again
    wait_until(lambda: ami.sets().get(f"DEVICE_STATE({dev('301')})") == "NOT_INUSE", 5, "back from what we heard")
    wait_until(lambda: ami.sets().get(spb.down_flag) == "", 5, "the down flag cleared again")
    wait_until(lambda: len(ami.of("PJSIPQualify")) == 4, 5, "qualified on the way down and up")
    bridge.on_remote("spb", False, {"301": "INUSE"})  # an ordinary change: no qualify
    wait_until(lambda: ami.sets().get(f"DEVICE_STATE({dev('301')})") == "INUSE", 5, "the change")
    assert len(ami.of("PJSIPQualify")) == 4
    assert bridge.heard("spb") is True and bridge.heard("nsk") is None


def test_a_trunk_that_reads_unreachable_right_after_its_link_came_back_is_qualified_again(
        ami: FakeAmi, bridge: DevstateBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OPTIONS Asterisk sent during an outage time out after the link is back and leave the trunk Unreachable
    (calls refused) until its next qualify: the bridge qualifies it again, once per such reading, only then."""
    spb = _plan().peers[0]
    marks = iter(range(1, 100))

    def contact(status: str, aor: str = spb.provider_id) -> None:
        """A ContactStatus event, then one ExtensionStatus the bridge handles after it: seen, it was handled."""
        ami.contact(aor, status)
        state = ("0", "Idle", "NOT_INUSE") if next(marks) % 2 else ("1", "InUse", "INUSE")
        ami.event("201", state[0], state[1])
        wait_until(lambda: (bridge.own_snapshot() or {}).get("201") == state[2], 5, f"{status} handled")

    def qualifies() -> int:
        return len(ami.of("PJSIPQualify"))

    wait_until(lambda: bridge.connected and bridge.own_snapshot() is not None, 5, "the login")
    contact("Unreachable")  # never down, so never back: nothing to correct
    bridge.on_peer_down("spb")
    wait_until(lambda: qualifies() == 1, 5, "the qualify on the way down")
    contact("Unreachable")  # down: Unreachable is the truth
    bridge.on_peer_up("spb")
    wait_until(lambda: qualifies() == 2, 5, "the qualify on its return")
    contact("Reachable")
    contact("Unreachable", "SIP-TRUNK-0000000000")  # not a peer's trunk
    assert qualifies() == 2
    contact("Unreachable")  # the outage's OPTIONS timing out
    wait_until(lambda: qualifies() == 3, 5, "qualified again")
    assert ami.of("PJSIPQualify")[-1]["Endpoint"] == spb.provider_id
    monkeypatch.setattr("python_worker.service.devstate.REQUALIFY_S", 0.0)
    contact("Reachable")
    contact("Unreachable")  # long after its return: the trunk's own qualify is believed
    assert qualifies() == 3


def test_after_a_reconnect_everything_is_set_again(ami: FakeAmi, bridge: DevstateBridge) -> None:
    spb = _plan().peers[0]
    wait_until(lambda: bridge.connected, 5, "the login")
    bridge.on_remote("spb", True, {"301": "INUSE", "302": "NOT_INUSE"})
    wait_until(lambda: len(ami.of("Setvar")) == 2, 5, "the first Setvars")
    ami.drop()  # Asterisk restarted
    wait_until(lambda: ami.logins == 2, 10, "the second login")
    wait_until(lambda: len(ami.of("Setvar")) == 4, 5, "everything set again")
    assert ami.sets()[f"DEVICE_STATE({spb.state_device('301')})"] == "INUSE"


def test_a_refused_login_is_reported_and_retried(ami: FakeAmi) -> None:
    b = DevstateBridge(AmiSettings("127.0.0.1", ami.port, AmiAccount(ACCOUNT.username, "f" * 32), timeout=2.0))
    b.start()
    try:
        wait_until(lambda: b.problem is not None, 5, "the refusal")
        assert str(b.problem).startswith("login refused") and not b.connected
        wait_until(lambda: len(ami.of("Login")) >= 2, 5, "a second attempt")
    finally:
        b.stop()


def test_the_peer_numbers_watched_here_come_from_the_hints_listed_and_their_events(
        ami: FakeAmi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devstate, "WATCH_POLL_S", 0.3)
    ami.hints = {"201": ("0", "Idle"), "301": ("0", "Idle")}  # 301: a hint Asterisk made from spb's pattern
    b = DevstateBridge(AmiSettings("127.0.0.1", ami.port, ACCOUNT, timeout=2.0))
    woken = threading.Event()
    b.on_change = woken.set
    assert b.watching() is None
    b.set_plan(_plan())
    assert b.watching() is None  # not listed yet: the peers send everything meanwhile
    b.start()
    try:
        wait_until(lambda: b.watching() == {"spb": frozenset({"301"})}, 5, "the watch from the list")
        assert b.status()["watched"] == {"spb": 1}
        woken.clear()
        ami.event("302", "1", "InUse")  # a hint made since (its lamp was just set): watched at once
        assert woken.wait(2)
        wait_until(lambda: b.watching() == {"spb": frozenset({"301", "302"})}, 2, "the watch from the event")
        ami.event("201", "8", "Ringing")
        wait_until(lambda: b.own_snapshot() == {"201": "RINGING"}, 2, "our own change")
        ami.hints = {"201": ("0", "Idle"), "302": ("0", "Idle"), "399": ("0", "Idle")}  # 301 gone, 399 not spb's
        wait_until(lambda: b.watching() == {"spb": frozenset({"302"})}, 5, "the next periodic list")
        assert b.own_snapshot() == {"201": "RINGING"}  # a periodic list does not reload our own states
        wait_until(lambda: len(ami.of("ExtensionStateList")) >= 4, 5, "the lists go on every WATCH_POLL_S")
        assert b.own_snapshot() == {"201": "RINGING"}
    finally:
        b.stop()
