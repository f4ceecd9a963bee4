"""The invited side of pairing: prove the invitation, exchange station details, store the peer and its directory."""

from __future__ import annotations

import contextlib
import hmac
import time
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from python_worker.core.config import PeerConfig
from python_worker.core.directory import DirectoryError, directory_from_wire
from python_worker.core.fields import name_key
from python_worker.db.engine import DatabaseError
from python_worker.logs import remember_secret
from python_worker.sync.messages import MessageError, checked_answer, info_problems, refusal
from python_worker.sync.pairing import (
    Invitation,
    InviteError,
    answer_proof,
    load_or_create_keys,
    pair_proof,
    peer_from_info,
    station_info,
)
from python_worker.sync.station import Station
from python_worker.sync.wire import MAX_MESSAGE, PEER, PROTOCOL, WireError, decode, encode


def accept_invitation(inv: Invitation, state_dir: Path, station: Station, *, host: str, sync_port: int,
                      timeout: float = 10.0, now: float | None = None) -> PeerConfig:
    """Pair with the inviting station: prove the secret, exchange details, store the peer and its directory.

    Raises InviteError with a problem code: E_INVITE_* (refused), E_SYNC_KEY_MISMATCH (the station does not
    hold the key in the invitation), E_SYNC_UNREACHABLE (no answer within `timeout`), E_PAIR_REFUSED,
    E_PAIR_FAILED (the other station, or this one, could not store the pairing).
    """
    remember_secret(inv.secret)
    now = time.time() if now is None else now
    if inv.expires < now:
        raise InviteError("E_INVITE_EXPIRED", value=inv.station,
                          when=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(inv.expires)))
    keys = load_or_create_keys(state_dir)
    local = station.directory()
    secret_placeholder = "x" * 32  # the real one comes from the inviting station
    precheck = station.check_new_peer(PeerConfig(name=inv.station, host=inv.host, port=inv.sip_port,
                                                 patterns=inv.patterns, secret=secret_placeholder, paired=True))
    if precheck:
        raise InviteError("E_PAIR_REFUSED", value=local.station,
                          reason="; ".join(p.message("en") for p in precheck))
    # A row made by hand for the inviting station may already grant it transit: pairing carries the grant at once.
    info = station_info(local.for_peer(station.grants().get(name_key(inv.station), "")), keys, host, station.sip_port(),
                        sync_port)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.curve_secretkey = keys.secret.encode()
    sock.curve_publickey = keys.public.encode()
    sock.curve_serverkey = inv.public_key.encode()
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
    mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                  | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    address = f"{inv.host}:{inv.sync_port}"
    deadline = time.monotonic() + timeout
    try:
        sock.connect(f"tcp://{('[' + inv.host + ']') if ':' in inv.host else inv.host}:{inv.sync_port}")

        def wait_for(kind: str) -> dict[str, Any]:
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(mon, zmq.POLLIN)
            failures = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    code = "E_SYNC_KEY_MISMATCH" if failures else "E_SYNC_UNREACHABLE"
                    raise InviteError(code, value=address)
                ready = dict(poller.poll(int(left * 1000) + 1))
                if mon in ready:
                    event = parse_monitor_message(mon.recv_multipart())
                    if event["event"] != zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        failures += 1
                        if failures >= 2:  # a second refusal is no accident: the key is wrong
                            raise InviteError("E_SYNC_KEY_MISMATCH", value=address)
                if sock in ready:
                    try:  # the server's key is the invitation's (pinned): the peer limits
                        msg = decode(sock.recv(), PEER)
                        answer = checked_answer(msg)
                        if answer in ("refused", "error"):
                            code, params = refusal(msg) if "code" in msg else ("E_PAIR_FAILED", {})
                            raise InviteError(code, **({"value": inv.station, "reason": "no reason given"}
                                                       if code == "E_PAIR_FAILED" and not params else params))
                    except (WireError, MessageError):
                        raise InviteError("E_PAIR_FAILED", value=inv.station, reason="a damaged answer") from None
                    if answer == kind:
                        return msg

        sock.send(encode({"v": PROTOCOL, "type": "pair-hello"}))
        nonce = str(wait_for("pair-challenge").get("nonce") or "")
        proof = pair_proof(inv.mac_key, inv.id, nonce, keys.public, info)
        sock.send(encode({"v": PROTOCOL, "type": "pair", "invitation": inv.id, "nonce": nonce, "info": info,
                          "proof": proof}))
        ok = wait_for("pair-ok")
    finally:
        with contextlib.suppress(zmq.ZMQError):
            sock.disable_monitor()
        mon.close(linger=0)
        sock.close(linger=0)
        ctx.term()
    theirs, trunk = ok["info"], str(ok["secret"])
    remember_secret(trunk)
    if not hmac.compare_digest(answer_proof(inv.mac_key, nonce, theirs, trunk), str(ok["proof"])):
        raise InviteError("E_INVITE_FORGED")
    theirs = {**theirs, "host": inv.host, "public_key": inv.public_key, "station": inv.station}
    reason = info_problems(theirs)
    if reason:
        raise InviteError("E_INVITE_INVALID", reason=reason)
    peer = peer_from_info(theirs, trunk)
    try:
        station.save_peer(peer)
    except DatabaseError as exc:  # the other station has stored us; the admin can pair again with a new invitation
        raise InviteError("E_PAIR_FAILED", value=local.station,
                          reason="database busy" if exc.code == "E_DB_BUSY" else "database damaged") from None
    with contextlib.suppress(DirectoryError, DatabaseError):
        station.save_directory(directory_from_wire(peer.name, theirs.get("directory")))
    return peer
