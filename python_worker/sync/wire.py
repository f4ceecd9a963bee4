"""The sync channel's wire format: one frame, "J" + JSON or "Z" + zlib(JSON), with hard size limits."""

from __future__ import annotations

import json
import zlib
from typing import Any

PROTOCOL = 1
MAX_MESSAGE = 8 * 1024 * 1024  # bytes on the wire; a full 20,000-entry directory compresses far below this
MAX_JSON = 32 * 1024 * 1024
_COMPRESS_OVER = 1024


def encode(msg: dict[str, Any]) -> bytes:
    body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()
    return b"Z" + zlib.compress(body, 6) if len(body) > _COMPRESS_OVER else b"J" + body


def decode(frame: bytes) -> dict[str, Any]:
    kind, body = frame[:1], frame[1:]
    if kind == b"Z":
        d = zlib.decompressobj()
        body = d.decompress(body, MAX_JSON)
        if d.unconsumed_tail:
            raise ValueError("message too large")
    elif kind != b"J":
        raise ValueError("unknown frame kind")
    msg = json.loads(body.decode())
    if not isinstance(msg, dict):
        raise ValueError("not an object")
    return dict(msg)
