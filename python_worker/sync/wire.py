"""The sync channel's wire format: one frame, "J" + JSON or "Z" + zlib(JSON), with hard limits per sender.

Nothing is inflated or parsed before the sender is known: the server picks the limits from the key the CURVE
handshake authenticated (sync/server.py), so a stranger's frame is never inflated at all, a station holding a
pairing challenge gets the pairing limits, and only a paired peer's pinned key gets the full ones. Every limit
is checked before the work it bounds: the frame's size before zlib, the inflated size while inflating, the
number of JSON containers and items before parsing (so the parsed value's memory is bounded too), the nesting
depth after.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

PROTOCOL = 1
MAX_MESSAGE = 8 * 1024 * 1024  # bytes on the wire (zmq MAXMSGSIZE); a full 20,000-entry directory is far below
_COMPRESS_OVER = 1024


class WireError(ValueError):
    """A frame refused before or while decoding; the text says why (never quotes the frame)."""


@dataclass(frozen=True)
class Limits:
    wire: int  # bytes of the frame
    inflated: int  # bytes of JSON (after zlib for "Z" frames)
    containers: int  # '[' and '{' in the JSON text (an upper bound of the parsed containers)
    items: int  # ',' and ':' in the JSON text (an upper bound of the parsed values)
    depth: int  # nesting of the parsed value
    compressed: bool = True  # whether "Z" frames are inflated at all


# A paired peer's pinned key: a directory of 20,000 entries needs ~20,000 containers and ~60,000 items.
PEER = Limits(wire=MAX_MESSAGE, inflated=16 * 1024 * 1024, containers=50_000, items=200_000, depth=8)
# A station that holds a pairing challenge (any key may get one): the pairing message with its directory.
PAIRING = Limits(wire=1024 * 1024, inflated=4 * 1024 * 1024, containers=50_000, items=200_000, depth=8)
# Any other key: a pairing challenge request, or a message that is answered only with a refusal.
STRANGER = Limits(wire=1024, inflated=1024, containers=16, items=64, depth=4, compressed=False)


def encode(msg: dict[str, Any]) -> bytes:
    # backslashreplace writes a lone surrogate as its JSON escape (\udxxx), so any text can be sent
    body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")
    return b"Z" + zlib.compress(body, 6) if len(body) > _COMPRESS_OVER else b"J" + body


def _inflate(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(data, limit)
    except zlib.error:
        raise WireError("damaged zlib stream") from None
    if inflater.unconsumed_tail:
        raise WireError(f"more than {limit} bytes inflated")
    if not inflater.eof:
        raise WireError("truncated zlib stream")
    return body


def depth_of(value: object, limit: int) -> int:
    """The nesting depth of `value`, walked without recursion; stops counting past `limit`."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def decode(frame: bytes, limits: Limits = PEER) -> dict[str, Any]:
    """One frame as a JSON object, within `limits`; WireError otherwise."""
    if len(frame) > limits.wire:
        raise WireError(f"frame over {limits.wire} bytes")
    kind, body = frame[:1], frame[1:]
    if kind == b"Z":
        if not limits.compressed:
            raise WireError("compressed frame from an unknown key")
        body = _inflate(body, limits.inflated)
    elif kind != b"J":
        raise WireError("unknown frame kind")
    if len(body) > limits.inflated:
        raise WireError(f"more than {limits.inflated} bytes of JSON")
    if body.count(b"[") + body.count(b"{") > limits.containers or body.count(b",") + body.count(b":") > limits.items:
        raise WireError("too many values")
    try:
        msg = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError("not JSON in UTF-8") from None
    if not isinstance(msg, dict):
        raise WireError("not an object")
    if depth_of(msg, limits.depth) > limits.depth:
        raise WireError(f"nested deeper than {limits.depth}")
    return msg
