"""Every sync wire message, fuzzed in-process against the answering side, the links and the invitation parser.

The decoder gets random bytes, zlib bombs, damaged zlib, deep and wide JSON and non-objects under each sender's
limits; the server gets every request type with every field of every JSON type, from a pinned key, a stranger and a
stranger holding a pairing challenge. Each message is answered (or dropped) without an exception escaping, and
anything stored is valid and renders safely.
"""

from __future__ import annotations

import base64
import functools
import json
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from python_worker.core.config import ModuleConfig, PeerConfig, RemoteDirectory, Settings
from python_worker.core.directory import VISIBLE_KINDS, LocalDirectory
from python_worker.core.fields import check_peer_fields, is_number
from python_worker.core.patterns import parse_pattern_list
from python_worker.core.problems import Problem
from python_worker.core.public_fields import MIN_TRANSIT_DIGITS, parse_public_patterns
from python_worker.pipeline import compute
from python_worker.sync.links import Link, SyncOptions
from python_worker.sync.messages import ANSWERS
from python_worker.sync.pairing import (
    InvitationBook,
    InviteError,
    KeyPair,
    create_invitation,
    load_or_create_keys,
    pair_proof,
    parse_invitation,
    station_info,
)
from python_worker.sync.server import Shared, SyncServer
from python_worker.sync.wire import PAIRING, PEER, STRANGER, Limits, WireError, decode, encode
from tests.conftest import make_snapshot
from tests.hostile.conftest import Tally, examples
from tests.hostile.oracle import check_hooks, check_records, hostile_json, hostile_text

SNAP = make_snapshot(("201", "202"), addresses=("127.0.0.2",))
PINNED = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
STRANGER_KEY = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
SPB = PeerConfig(name="spb", host="127.0.0.3", patterns="3XX", secret="Spb-Trunk-Secret-0123456789", paired=True,
                 sync_port=7787, public_key=PINNED)


@dataclass
class FakeStation:
    """The station as plain data: what the server reads and every write it makes."""

    config_value: ModuleConfig = field(default_factory=lambda: ModuleConfig(
        Settings(station_name="moscow", own_patterns="2XX"), (SPB,)))
    saved_peers: list[PeerConfig] = field(default_factory=list)
    saved_dirs: list[RemoteDirectory] = field(default_factory=list)

    def config(self) -> ModuleConfig:
        return self.config_value

    def directory(self) -> LocalDirectory:
        return LocalDirectory("moscow", "0.1.0", "2XX", ())

    def sip_port(self) -> int:
        return 5060

    def check_new_peer(self, peer: PeerConfig) -> list[Problem]:
        from python_worker.core.validation import peer_problems

        return peer_problems(SNAP, self.config_value, peer)[0]

    def save_peer(self, peer: PeerConfig) -> None:
        self.saved_peers.append(peer)
        self.config_value = self.config_value.with_peer(peer)

    def save_directory(self, directory: RemoteDirectory) -> None:
        self.saved_dirs.append(directory)

    def grants(self) -> dict[str, str]:
        return {"kazan": "8495XXXXXXX"}  # a row made by hand may already grant the pairing station transit


class Frame:
    def __init__(self, data: bytes, user: str) -> None:
        self.bytes = data
        self._user = user

    def get(self, key: str) -> str:
        assert key == "User-Id"
        return self._user


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []

    def send_multipart(self, parts: list[bytes], flags: int = 0) -> None:
        self.sent.append(parts)


def make_server(tmp: Path) -> tuple[SyncServer, FakeStation]:
    station = FakeStation()
    shared = Shared(station)  # type: ignore[arg-type]
    shared.local = station.directory()
    keys = KeyPair(public="A" * 40, secret="B" * 40)
    return SyncServer(shared, keys, InvitationBook(tmp), lambda: 7787, lambda: None), station


@functools.cache  # one strategy object: Hypothesis re-validates new ones
def frames() -> st.SearchStrategy[bytes]:
    big = st.sampled_from([
        b"Z" + zlib.compress(b" " * (40 * 1024 * 1024), 9),  # 40 MB of spaces in ~40 KB
        b"Z" + zlib.compress(b"[" * (2 * 1024 * 1024), 9),
        b"Z" + zlib.compress(json.dumps({"v": 1, "type": "dir", "x": [[0]] * 400_000}).encode(), 9),
        b"Z" + zlib.compress(b'{"v":1}')[:-3],  # truncated
        b"Z\x78\x9c\xff\xff\xff", b"Z", b"J", b"", b"X{}", b"J" + b"[" * 100_000, b"J" + b'{"a":' * 5000,
        b"J\xff\xfe{}", b'J{"v":1,"type":"ping","from":"\\ud800"}', b'J"just a string"', b"J[1,2]", b"J1e999",
    ])
    jsons = hostile_json(5).map(lambda v: encode({"v": 1, "type": "ping", "x": v}) if isinstance(v, dict) else
                                b"J" + json.dumps(v).encode("utf-8", "surrogatepass"))
    return st.one_of(big, jsons, st.binary(max_size=200), st.binary(max_size=60).map(lambda b: b"Z" + b))


@settings(max_examples=examples(150))
@given(frames(), st.sampled_from([STRANGER, PAIRING, PEER]))
def test_decode_refuses_or_returns_a_bounded_object(tally: Tally, frame: bytes, limits: Limits) -> None:
    try:
        msg = decode(frame, limits)
    except WireError:
        tally.add("wire.decode", "refused")
        return
    except Exception:
        tally.add("wire.decode", "crash")
        raise
    try:
        assert isinstance(msg, dict)
        assert len(json.dumps(msg).encode("utf-8", "surrogatepass")) <= 8 * limits.inflated  # bounded
    except AssertionError:
        tally.add("wire.decode", "unsafe")
        raise
    tally.add("wire.decode", "accepted")


def test_a_strangers_compressed_frame_is_never_inflated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Decompression only after the sender is authenticated: a stranger's "Z" frame is refused unread."""
    inflated: list[int] = []
    real = zlib.decompressobj

    def spy(*a: Any, **kw: Any) -> Any:
        inflated.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(zlib, "decompressobj", spy)
    server, station = make_server(tmp_path)
    sock = FakeSocket()
    bomb = b"Z" + zlib.compress(b" " * (32 * 1024 * 1024), 9)
    server._one(sock, [Frame(b"id", ""), Frame(bomb, STRANGER_KEY)], 1.0)
    assert inflated == [] and station.saved_dirs == []
    answer = decode(sock.sent[0][1])
    assert answer["type"] == "refused" and answer["code"] == "E_SYNC_UNKNOWN_KEY"
    server._one(sock, [Frame(b"id", ""), Frame(encode({"v": 1, "type": "ping", "from": "spb"}), PINNED)], 1.0)
    assert decode(sock.sent[1][1])["type"] == "pong"  # the pinned peer is served as before


@functools.cache  # one strategy object: Hypothesis re-validates new ones
def request_values() -> st.SearchStrategy[Any]:
    return st.one_of(hostile_json(3), hostile_text(), st.sampled_from([
        1, True, 1.0, "1", None, "spb", "moscow", "3XX", "٣XX", "0" * 64, "f" * 32, [], {}]))


@functools.cache  # one strategy object: Hypothesis re-validates new ones
def directories() -> st.SearchStrategy[Any]:
    valid = st.tuples(st.from_regex(r"3[0-9]{2}", fullmatch=True), hostile_text(20),
                      st.sampled_from(VISIBLE_KINDS)).map(list)
    entry = st.one_of(valid, st.lists(st.one_of(st.sampled_from(
        ["301", "٣01", "301\n", "3" * 33, "SIP", "QUEUE", "EXTERNAL", "x]\n[y", "Иван", "\ud800"]),
        st.text(max_size=8)), min_size=3, max_size=3), hostile_json(2))
    entries = st.one_of(st.lists(valid, max_size=8), st.lists(valid, max_size=8), st.lists(entry, max_size=6),
                        hostile_json(2))
    good = st.fixed_dictionaries({
        "entries": entries,
        "patterns": st.one_of(st.just("3XX"), st.just("3XX"), st.sampled_from(
            ["٣XX", "3XX,2XX", "3X.", ",".join(["3XX"] * 2000), "4XX", "3[0-4]X"]), request_values()),
        "module_version": st.one_of(st.just("0.1.0"), st.just("0.1.0"), request_values())},
        optional={"grant": st.one_of(st.sampled_from(  # what the sender lets us call out through it (issue #15)
            ["8495XXXXXXX", "8495XXXXXXX,8499XXXXXXX", "112", "9XX", "8495.", "8495XXXXXXX\n[evil]", "",
             "8" * 17, ",".join(f"849{i:02d}XXXXXX" for i in range(21)), "8495XXXXXXX" * 40, "2XXXXXXX"]),
            request_values())})
    return st.one_of(good, good, good, hostile_json(3))


@st.composite
def requests(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    kind = draw(st.sampled_from(["pair-hello", "pair", "hello", "ping", "dir", "dir", "dir", "other"]))
    msg: dict[str, Any] = {"v": draw(st.one_of(st.just(1), st.just(1), st.just(1), request_values())), "type": kind}
    if kind in ("hello", "ping", "dir"):
        msg["from"] = draw(st.one_of(st.just("spb"), st.just("spb"), st.just("spb"), request_values()))
    if kind == "dir":
        msg["directory"] = draw(directories())
    if kind == "pair":
        msg.update(invitation=draw(request_values()), nonce=draw(request_values()), proof=draw(request_values()),
                   info=draw(request_values()))
    for key in draw(st.lists(st.sampled_from(["version", "module_version", "from", "directory", "extra"]),
                             max_size=1)):
        msg[key] = draw(request_values())
    user = draw(st.sampled_from([PINNED, PINNED, PINNED, STRANGER_KEY, ""]))
    return msg, user


@settings(max_examples=examples(300))
@given(requests())
def test_every_request_is_answered_and_stores_only_valid_data(tally: Tally, tmp_path: Path,
                                                              request: tuple[dict[str, Any], str]) -> None:
    msg, user = request
    server, station = make_server(tmp_path)
    sock = FakeSocket()
    try:
        server._one(sock, [Frame(b"id", ""), Frame(encode(msg), user)], 1.0)
    except Exception:
        tally.add("wire.server", "crash")
        raise
    try:
        assert len(sock.sent) <= 1
        answer = decode(sock.sent[0][1]) if sock.sent else None
        assert answer is None or answer["type"] in ANSWERS
        for d in station.saved_dirs:
            assert all(is_number(e.number) and e.kind in VISIBLE_KINDS for e in d.entries)
            parse_pattern_list(d.patterns)
            if d.grant:  # kept only as whole public numbers: never an emergency or short number
                assert all(p.length >= MIN_TRANSIT_DIGITS for p in parse_public_patterns(d.grant)), d.grant
            out = compute(SNAP, replace(station.config_value, directories=(d,)))
            check_hooks(out.hooks, out.plan)
            check_records(out.records)
            # what sync/station.py then makes of it: spb's via routes follow the grant
            granted = replace(station.config_value, directories=(d,)).with_peer(replace(SPB, via_patterns=d.grant))
            out = compute(SNAP, granted)
            check_hooks(out.hooks, out.plan)
            check_records(out.records)
            assert out.plan.peer("spb") is not None
        assert station.saved_peers == []  # pairing needs a real invitation: never stored here
    except AssertionError:
        tally.add("wire.server", "unsafe")
        raise
    stored = bool(station.saved_dirs)
    tally.add("wire.server", "accepted" if stored or (answer or {}).get("type") == "pong" else "refused")


INFO_FIELDS = ("station", "host", "sip_port", "sync_port", "patterns", "public_key", "module_version", "directory")


@settings(max_examples=examples(60))
@given(st.lists(st.sampled_from(INFO_FIELDS), max_size=3, unique=True), st.data())
def test_pairing_info_is_checked_field_by_field_without_coercion(tally: Tally, tmp_path_factory: pytest.TempPathFactory,
                                                                 fields_: list[str], data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("pair")
    server, station = make_server(tmp)
    inv = create_invitation(tmp, "moscow", "127.0.0.2", sip_port=5060, patterns="2XX")
    keys = load_or_create_keys(tmp / "guest")
    info = station_info(LocalDirectory("kazan", "0.1.0", "5XX", ()), keys, "127.0.0.5", 5060, 7787)
    for f in fields_:
        info[f] = data.draw(st.one_of(st.sampled_from([True, "7787", 7787.0, 0, 65536, "127.000.0.5", "::",
                                                       "fe80::1%x", "٣XX", "kazan\n", None]), request_values()))
    sock = FakeSocket()
    server._one(sock, [Frame(b"id", ""), Frame(encode({"v": 1, "type": "pair-hello"}), keys.public)], 1.0)
    nonce = decode(sock.sent[0][1])["nonce"]
    proof = pair_proof(inv.mac_key, inv.id, nonce, keys.public, info)
    try:
        server._one(sock, [Frame(b"id", ""), Frame(encode({"v": 1, "type": "pair", "invitation": inv.id,
                                                          "nonce": nonce, "info": info, "proof": proof}),
                                                   keys.public)], 2.0)
    except Exception:
        tally.add("wire.pair", "crash")
        raise
    answer = decode(sock.sent[1][1])
    store = json.loads((tmp / "invitations.json").read_text())
    try:
        if answer["type"] == "pair-ok":
            (peer,) = station.saved_peers
            assert [p for p in check_peer_fields(peer) if p.is_error] == []
            assert type(peer.port) is int and type(peer.sync_port) is int
            assert store[inv.id]["used"]
            outcome = "accepted"
        else:
            assert answer["type"] == "refused" and station.saved_peers == []
            assert not store[inv.id]["used"], "a refused pairing burned the invitation"
            outcome = "refused"
    except AssertionError:
        tally.add("wire.pair", "unsafe")
        raise
    tally.add("wire.pair", outcome)


@settings(max_examples=examples(100))
@given(st.lists(st.sampled_from(["station", "host", "sync_port", "sip_port", "patterns", "public_key", "id",
                                 "secret", "expires", "v"]), min_size=1, max_size=3, unique=True), st.data())
def test_invitations_with_any_field_of_any_type(tally: Tally, tmp_path_factory: pytest.TempPathFactory,
                                                fields_: list[str], data: st.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("inv")
    body = json.loads(base64.urlsafe_b64decode(create_invitation(tmp, "moscow", "127.0.0.2", sip_port=5060,
                                                                 patterns="2XX").text()[8:] + "=="))
    for f in fields_:
        body[f] = data.draw(st.one_of(st.sampled_from([True, "7787", 7787.0, float("inf"), "inf", "nan", 1e308,
                                                       -1, None, "fe80::1%x]\n[x]", "٣XX", "", [], {}]),
                                      request_values()))
    text = "pbxfed1:" + base64.urlsafe_b64encode(json.dumps(body).encode("utf-8", "surrogatepass")).decode()
    try:
        inv = parse_invitation(text)
    except InviteError as exc:
        assert exc.code == "E_INVITE_INVALID"
        tally.add("wire.invitation", "refused")
        return
    except Exception:
        tally.add("wire.invitation", "crash")
        raise
    try:
        assert type(inv.sync_port) is int and type(inv.sip_port) is int and 1 <= inv.sync_port <= 65535
        assert inv.expires == inv.expires and inv.expires < 1e11  # finite
        assert check_peer_fields(PeerConfig(name=inv.station, host=inv.host, port=inv.sip_port, patterns=inv.patterns,
                                            secret="x" * 32)) == []
    except AssertionError:
        tally.add("wire.invitation", "unsafe")
        raise
    tally.add("wire.invitation", "accepted")


class FakeDealer:
    def __init__(self, frames_: list[bytes]) -> None:
        self.frames = frames_

    def recv(self, flags: int = 0) -> bytes:
        import zmq

        if not self.frames:
            raise zmq.Again()
        return self.frames.pop(0)

    def send(self, frame: bytes, flags: int = 0) -> None:
        pass


@settings(max_examples=examples(100))
@given(st.lists(st.one_of(frames(), hostile_json(3).map(lambda v: encode({"v": 1, "type": "refused", "code": v,
                                                                           "params": v})),
                          st.builds(lambda c, p: encode({"v": 1, "type": "refused", "code": c, "params": p}),
                                    st.sampled_from(["E_SYNC_PROTOCOL", "E_INVITE_USED", "W_SYNC_DOWN", "E_NOPE"]),
                                    st.dictionaries(st.text(max_size=5), hostile_text(), max_size=3)),
                          st.builds(lambda s, m: encode({"v": 1, "type": "pong", "stored": s, "module_version": m}),
                                    request_values(), request_values())), max_size=4))
def test_a_links_answers_never_break_it(tally: Tally, answers: list[bytes]) -> None:
    link = Link(name="spb", host="127.0.0.3", port=7787, key=PINNED, sock=FakeDealer(list(answers)), mon=None,
                created=0.0, counters={"bytes_received": 0, "bytes_sent": 0, "dir_sent": 0})
    try:
        link.on_answers(None, SyncOptions(), 1.0)
        for p in link.problems:
            p.message("en")
            p.to_json()
    except Exception:
        tally.add("wire.link", "crash")
        raise
    tally.add("wire.link", "refused" if link.state != "up" else "accepted")
