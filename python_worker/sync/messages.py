"""The shape of every sync message, checked after decoding and before anything reads it: exact types (no
coercion: `sync_port: true` is not 1, `"7787"` is not 7787), bounded texts, known message types. The values of
station fields (names, hosts, ports, patterns, keys) follow core/fields.py, the same rules as the CLI and the
admin form."""

from __future__ import annotations

import re
from typing import Any

from python_worker.core.fields import is_port, is_valid_key, is_valid_name, parse_host
from python_worker.core.patterns import PatternError, parse_pattern_list
from python_worker.core.problems import MESSAGES
from python_worker.core.public_fields import MAX_PUBLIC_PATTERNS_TEXT
from python_worker.sync.wire import PROTOCOL

REQUESTS = ("pair-hello", "pair", "hello", "ping", "dir", "states", "watch")
ANSWERS = ("pair-challenge", "pair-ok", "pong", "refused", "error")
_HEX = re.compile(r"[0-9a-f]{1,64}")
_VERSION = re.compile(r"[0-9A-Za-z.+~-]{1,64}")
_TRUNK_SECRET = re.compile(r"[0-9a-f]{32}")  # what new_trunk_secret makes
MAX_PARAM_TEXT = 600
MAX_PARAMS = 8
MAX_FEATURES = 8  # what a worker may announce it does (sync/states.py FEATURE)
_FEATURE = re.compile(r"[a-z][a-z0-9-]{0,31}")


class MessageError(ValueError):
    """A message of the wrong shape; the text names the field."""


def _str(msg: dict[str, Any], key: str, rx: re.Pattern[str] | None = None, *, optional: bool = False,
         limit: int = 64) -> str | None:
    value = msg.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit or (rx is not None and not rx.fullmatch(value)):
        raise MessageError(f"bad {key}")
    return value


def _name(msg: dict[str, Any], key: str = "from") -> str:
    value = msg.get(key)
    if not is_valid_name(value):
        raise MessageError(f"bad {key}")
    assert isinstance(value, str)
    return value


def _features(msg: dict[str, Any]) -> None:
    value = msg.get("features")
    if value is None:
        return
    if not isinstance(value, list) or len(value) > MAX_FEATURES or not all(
            isinstance(f, str) and _FEATURE.fullmatch(f) for f in value):
        raise MessageError("bad features")


def checked_request(msg: dict[str, Any]) -> str:
    """The type of a request after its shape is checked (the protocol version first: E_SYNC_PROTOCOL)."""
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in REQUESTS:
        raise MessageError("unknown type")
    if kind == "pair-hello":
        return kind
    if kind == "pair":
        _str(msg, "invitation", _HEX, limit=32)
        _str(msg, "nonce", _HEX)
        _str(msg, "proof", _HEX)
        if not isinstance(msg.get("info"), dict):
            raise MessageError("bad info")
        return kind
    _name(msg)
    if kind in ("hello", "ping"):
        _str(msg, "version", _HEX, optional=True)
        _str(msg, "module_version", _VERSION, optional=True)
        _features(msg)
    # A states map itself is judged by core/devstates.valid_states (numbers and known states, bounded count).
    if kind == "states" and (type(msg.get("full")) is not bool or not isinstance(msg.get("states"), dict)):
        raise MessageError("bad states")
    # Its numbers are judged by sync/states.read_watch (digits, bounded count).
    if kind == "watch" and not isinstance(msg.get("numbers"), list):
        raise MessageError("bad numbers")
    if kind == "dir":
        reason = directory_problems(msg.get("directory"))
        if reason:
            raise MessageError(reason)
    return kind


def directory_problems(directory: object) -> str:
    """Why a directory (in a `dir` request or a station's pairing info) has the wrong shape ('' when fine). Its
    entries and patterns are judged by core/directory.py; the transit grant it may carry (issue #15) must be a
    text of at most MAX_PUBLIC_PATTERNS_TEXT characters (its content is judged there too: a bad grant grants
    nothing)."""
    if not isinstance(directory, dict):
        return "bad directory"
    grant = directory.get("grant")
    if grant is not None and not (isinstance(grant, str) and len(grant) <= MAX_PUBLIC_PATTERNS_TEXT):
        return "bad grant"
    return ""


def is_current(msg: dict[str, Any]) -> bool:
    """Speaks our protocol version: exactly the int PROTOCOL (True is not 1)."""
    return type(msg.get("v")) is int and msg["v"] == PROTOCOL


def refusal(msg: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A refusal's problem code (one of ours, E_ only) and its params (texts, bounded)."""
    code = msg.get("code")
    if not isinstance(code, str) or code not in MESSAGES or not code.startswith("E_"):
        raise MessageError("bad code")
    params = msg.get("params", {})
    if not isinstance(params, dict) or len(params) > MAX_PARAMS or not all(
            isinstance(k, str) and len(k) <= 16 and isinstance(v, str) and len(v) <= MAX_PARAM_TEXT
            for k, v in params.items()):
        raise MessageError("bad params")
    return code, dict(params)


def checked_answer(msg: dict[str, Any]) -> str:
    """The type of an answer after its shape is checked."""
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in ANSWERS:
        raise MessageError("unknown type")
    if kind == "pair-challenge":
        _str(msg, "nonce", _HEX)
    elif kind == "pair-ok":
        if not isinstance(msg.get("info"), dict):
            raise MessageError("bad info")
        _str(msg, "secret", _TRUNK_SECRET)
        _str(msg, "proof", _HEX)
    elif kind == "pong":
        _features(msg)
        _str(msg, "stored", _HEX, optional=True)
        _str(msg, "watch_v", _HEX, optional=True)
        _str(msg, "module_version", _VERSION, optional=True)
        station = msg.get("station")
        if station not in (None, "") and not is_valid_name(station):
            raise MessageError("bad station")
    elif kind == "refused" or (kind == "error" and "code" in msg):
        refusal(msg)
    return kind


def info_problems(info: object) -> str:
    """Why a station's pairing info is unusable ('' when it is fine): exact types, the field rules."""
    if not isinstance(info, dict):
        return "no station info"
    if not is_valid_name(info.get("station")):
        return "bad station name"
    host = info.get("host")
    try:
        if parse_host(host) != host:
            return "bad address"
    except ValueError:
        return "bad address"
    for key in ("sip_port", "sync_port"):
        if not is_port(info.get(key)):
            return f"bad {key}"
    patterns = info.get("patterns")
    try:
        if not isinstance(patterns, str):
            return "bad patterns"
        parse_pattern_list(patterns)
    except PatternError:
        return "bad patterns"
    if not is_valid_key(info.get("public_key")):
        return "bad public key"
    version = info.get("module_version")
    if version is not None and not (isinstance(version, str) and _VERSION.fullmatch(version)):
        return "bad module version"
    if "directory" in info:
        return directory_problems(info["directory"])
    return ""
