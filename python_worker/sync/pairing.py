"""Pairing material: the station's CurveZMQ key pair, invitations (text form, store, one-time use), proofs.

An invitation carries the inviting station's name, address, sync port and public key, an id and a one-time
secret with an expiry. The secret never travels again: the invited station proves it holds it with an HMAC over
a nonce the inviting station chose, bound to its own public key and to what it tells about itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import zmq

from python_worker import SYNC_PORT
from python_worker.core.config import PeerConfig
from python_worker.core.directory import LocalDirectory
from python_worker.core.fields import MAX_TTL, finite_number, is_port, is_valid_key, is_valid_name, parse_host
from python_worker.core.patterns import PatternError, parse_pattern_list
from python_worker.logs import remember_secret
from python_worker.statedir import file_lock, read_json, write_atomic

KEY_FILE = "sync-key.json"
INVITES_FILE = "invitations.json"
INVITES_LOCK = "invitations.lock"
PREFIX = "pbxfed1:"
DEFAULT_TTL = 3600.0
MIN_TTL = 1.0
MAX_INVITATION = 4096  # characters of an invitation's text (a real one has about 330)
_Z85_KEY_LEN = 40
_ID_RE = re.compile(r"[0-9a-f]{12}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class InviteError(ValueError):
    """An invitation refused; `code` is a problem code (E_INVITE_*) and `params` fill its message."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class KeyPair:
    public: str  # Z85 text, 40 characters
    secret: str


def load_or_create_keys(state_dir: Path) -> KeyPair:
    """The station's long-term key pair, created at first use in `<state>/sync-key.json` with mode 0600."""
    path = state_dir / KEY_FILE
    data = read_json(path)
    if isinstance(data, dict) and len(str(data.get("public", ""))) == _Z85_KEY_LEN:
        return KeyPair(str(data["public"]), str(data["secret"]))
    state_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(state_dir / INVITES_LOCK, 10.0):
        data = read_json(path)  # another process may have made it while we waited
        if isinstance(data, dict) and len(str(data.get("public", ""))) == _Z85_KEY_LEN:
            return KeyPair(str(data["public"]), str(data["secret"]))
        public, secret = zmq.curve_keypair()
        pair = KeyPair(public.decode("ascii"), secret.decode("ascii"))
        write_atomic(path, json.dumps(asdict(pair)).encode(), mode=0o600)
    return pair


@dataclass(frozen=True)
class Invitation:
    station: str
    host: str
    sync_port: int
    sip_port: int
    patterns: str
    public_key: str
    id: str
    secret: str
    expires: float

    def text(self) -> str:
        body = json.dumps({"v": 1, **asdict(self)}, separators=(",", ":"), sort_keys=True).encode()
        return PREFIX + base64.urlsafe_b64encode(body).decode("ascii").rstrip("=")

    @property
    def mac_key(self) -> bytes:
        return invite_mac_key(self.secret)


def invite_mac_key(secret: str) -> bytes:
    """The HMAC key both ends derive from the one-time secret (the inviting station stores only this)."""
    return hashlib.sha256(b"pbxfed-invite-v1|" + secret.encode()).digest()


def parse_invitation(text: str) -> Invitation:
    """The invitation in `text` (surrounding whitespace and line breaks are ignored). Every field has its exact
    type: `"sync_port": true` or `"7787"` is not a port, `"expires": "inf"` is not a time."""
    if not isinstance(text, str) or len(text) > MAX_INVITATION:
        raise InviteError("E_INVITE_INVALID", reason="the text is too long")
    compact = "".join(text.split())
    if not compact.startswith(PREFIX):
        raise InviteError("E_INVITE_INVALID", reason=f"it does not start with {PREFIX}")
    raw = compact[len(PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise InviteError("E_INVITE_INVALID", reason="the text is damaged") from None
    if not isinstance(data, dict) or type(data.get("v")) is not int or data.get("v") != 1:
        raise InviteError("E_INVITE_INVALID", reason="unknown invitation format")
    fields = ("station", "host", "sync_port", "sip_port", "patterns", "public_key", "id", "secret", "expires")
    if any(f not in data for f in fields):
        raise InviteError("E_INVITE_INVALID", reason="a field is missing")
    host = data["host"]
    try:
        canonical = parse_host(host)
    except ValueError:
        canonical = ""
    patterns = data["patterns"]
    try:
        good_patterns = isinstance(patterns, str) and bool(parse_pattern_list(patterns))
    except PatternError:
        good_patterns = False
    expires = data["expires"]
    if not (is_valid_name(data["station"]) and canonical and canonical == host and is_port(data["sync_port"])
            and is_port(data["sip_port"]) and good_patterns and is_valid_key(data["public_key"])
            and isinstance(data["id"], str) and _ID_RE.fullmatch(data["id"])
            and isinstance(data["secret"], str) and _SECRET_RE.fullmatch(data["secret"])
            and finite_number(expires, 0, 1e11) is not None):
        raise InviteError("E_INVITE_INVALID", reason="a field has an impossible value")
    return Invitation(station=data["station"], host=host, sync_port=data["sync_port"], sip_port=data["sip_port"],
                      patterns=patterns, public_key=data["public_key"], id=data["id"], secret=data["secret"],
                      expires=float(expires))


def create_invitation(state_dir: Path, station: str, host: str, *, sip_port: int, patterns: str,
                      sync_port: int = SYNC_PORT, ttl: float = DEFAULT_TTL, now: float | None = None,
                      allow_from: str = "") -> Invitation:
    """A new invitation, remembered (as its HMAC key, expiry and use) in `<state>/invitations.json`.

    `allow_from`: the invited station's IP address; while the invitation is pending the firewall lets that
    address reach the sync port, which is otherwise open only to paired peers."""
    if finite_number(ttl, MIN_TTL, MAX_TTL) is None:
        raise InviteError("E_INVITE_INVALID", reason=f"the validity must be {MIN_TTL:g} to {MAX_TTL:g} seconds")
    if not (is_valid_name(station) and parse_host(host) == host and is_port(sync_port) and is_port(sip_port)):
        raise InviteError("E_INVITE_INVALID", reason="this station's name, address or ports are not valid")
    keys = load_or_create_keys(state_dir)
    now = time.time() if now is None else now
    inv = Invitation(station=station, host=host, sync_port=sync_port, sip_port=sip_port, patterns=patterns,
                     public_key=keys.public,
                     id=secrets.token_hex(6), secret=secrets.token_urlsafe(24), expires=round(now + ttl, 3))
    with file_lock(state_dir / INVITES_LOCK, 10.0):
        store = _read_store(state_dir)
        # Forget invitations that expired over a day ago; used and recent ones stay to answer "already used".
        store = {k: v for k, v in store.items() if _expiry(v) > now - 86400}
        store[inv.id] = {"mac_key": inv.mac_key.hex(), "expires": inv.expires, "created": round(now, 3),
                         "used": None, "used_by": None, "allow_from": allow_from}
        write_atomic(state_dir / INVITES_FILE, json.dumps(store, sort_keys=True, indent=1).encode(), mode=0o600)
    return inv


def _expiry(rec: dict[str, Any]) -> float:
    return finite_number(rec.get("expires", 0), 0, 1e11) or 0.0


def _read_store(state_dir: Path) -> dict[str, dict[str, Any]]:
    """The invitations store; a record of the wrong shape reads as expired, never as a crash."""
    data = read_json(state_dir / INVITES_FILE)
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)}


def list_invitations(state_dir: Path) -> dict[str, dict[str, Any]]:
    """Pending and used invitations without their keys."""
    return {k: {f: v for f, v in rec.items() if f != "mac_key"} for k, rec in _read_store(state_dir).items()}


def pairing_window(state_dir: Path, now: float | None = None) -> tuple[list[tuple[str, str]], float | None]:
    """Pending invitations made for a known address (unused, unexpired): their (invitation id, address), and
    the earliest expiry (wall clock) among them, when the sync port must close again for that address."""
    now = time.time() if now is None else now
    pending = {k: rec for k, rec in _read_store(state_dir).items()
               if isinstance(rec.get("allow_from"), str) and rec["allow_from"] and not rec.get("used")
               and _expiry(rec) > now}
    sources = sorted((k, str(rec["allow_from"])) for k, rec in pending.items())
    return sources, min((_expiry(rec) for rec in pending.values()), default=None)


def pairing_sources(state_dir: Path, now: float | None = None) -> list[tuple[str, str]]:
    """(invitation id, address) of pending invitations made for a known address: unused and unexpired."""
    return pairing_window(state_dir, now)[0]


def pair_proof(mac_key: bytes, invite_id: str, nonce: str, client_key: str, info: dict[str, Any]) -> str:
    """What the invited station sends: HMAC over the server's nonce, its own key and what it says it is."""
    msg = "|".join(("pair-v1", invite_id, nonce, client_key, canonical(info)))
    return hmac.new(mac_key, msg.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def answer_proof(mac_key: bytes, nonce: str, info: dict[str, Any], trunk_secret: str) -> str:
    """What the inviting station sends back: proof that it, too, knows the invitation."""
    msg = "|".join(("pair-ok-v1", nonce, canonical(info), trunk_secret))
    return hmac.new(mac_key, msg.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def canonical(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class InvitationBook:
    """The inviting side's checks: known, unexpired, unused, proof right; then marked used (under a lock)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def check(self, invite_id: str, station: str, proof_of: Any, proof: str, now: float | None = None) -> bytes:
        """Verify an attempt; returns the HMAC key. `proof_of(mac_key)` computes the expected proof."""
        now = time.time() if now is None else now
        rec = _read_store(self.state_dir).get(invite_id)
        try:
            key = bytes.fromhex(str(rec["mac_key"])) if rec is not None else b""
        except (KeyError, ValueError):
            key = b""
        if rec is None or len(key) != 32:
            raise InviteError("E_INVITE_UNKNOWN", value=station)
        # The proof is checked first, so nobody learns an invitation's state without knowing its secret.
        if not hmac.compare_digest(str(proof_of(key)), proof):
            raise InviteError("E_INVITE_FORGED")
        if rec.get("used"):
            raise InviteError("E_INVITE_USED", value=station)
        if _expiry(rec) < now:
            raise InviteError("E_INVITE_EXPIRED", value=station, when=_iso(_expiry(rec)))
        return key

    def use(self, invite_id: str, used_by: str, action: Callable[[], None], now: float | None = None) -> bool:
        """Run `action` (store the new peer) and mark the invitation used, under the store's lock: False when
        someone used it first; if `action` fails the invitation stays unused (a failed pairing never burns it)."""
        now = time.time() if now is None else now
        with file_lock(self.state_dir / INVITES_LOCK, 10.0):
            store = _read_store(self.state_dir)
            rec = store.get(invite_id)
            if rec is None or rec.get("used"):
                return False
            action()
            rec["used"], rec["used_by"] = round(now, 3), used_by
            write_atomic(self.state_dir / INVITES_FILE, json.dumps(store, sort_keys=True, indent=1).encode(),
                         mode=0o600)
        return True

    def consume(self, invite_id: str, used_by: str, now: float | None = None) -> bool:
        """Mark used; False when someone used it first (two attempts racing)."""
        now = time.time() if now is None else now
        with file_lock(self.state_dir / INVITES_LOCK, 10.0):
            store = _read_store(self.state_dir)
            rec = store.get(invite_id)
            if rec is None or rec.get("used"):
                return False
            rec["used"], rec["used_by"] = round(now, 3), used_by
            write_atomic(self.state_dir / INVITES_FILE, json.dumps(store, sort_keys=True, indent=1).encode(),
                         mode=0o600)
        return True


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def new_trunk_secret() -> str:
    secret = secrets.token_hex(16)
    remember_secret(secret)  # masked in every log line from now on, whatever fails next
    return secret


def write_invitation_file(path: Path, inv: Invitation) -> None:
    """The invitation text as a file (mode 0600: it holds the one-time secret)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    write_atomic(path, (inv.text() + "\n").encode(), mode=0o600)
    os.chmod(path, 0o600)


def station_info(directory: LocalDirectory, keys: KeyPair, host: str, sip_port: int, sync_port: int) -> dict[str, Any]:
    """What one station tells the other at pairing."""
    return {"station": directory.station, "host": host, "sip_port": sip_port, "sync_port": sync_port,
            "patterns": directory.patterns, "public_key": keys.public, "module_version": directory.module_version,
            "directory": directory.to_wire()}


def peer_from_info(info: dict[str, Any], secret: str) -> PeerConfig:
    """The peer row pairing stores for the station that told `info` (the trunk secret agreed at pairing)."""
    return PeerConfig(name=str(info["station"]), host=str(info["host"]), port=int(info["sip_port"]),
                      transport="udp", patterns=str(info["patterns"]), secret=secret, enabled=True,
                      note=f"paired {time.strftime('%Y-%m-%d %H:%M')}", paired=True,
                      sync_port=int(info["sync_port"]), public_key=str(info["public_key"]))
