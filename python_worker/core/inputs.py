"""The boundary for what an admin types: the CLI's options and the admin form's JSON become typed values here.

Only the shape is judged here (a JSON object of bounded size, texts that are texts, ports in ASCII digits,
switches that read on/off, finite numbers); the values themselves are judged by core/fields.py and
core/validation.py, exactly as for module.db rows and the sync wire. Hosts are stored in their canonical form.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from python_worker.core.config import _OFF, _ON, PeerConfig, Settings
from python_worker.core.fields import (
    MAX_TTL,
    HostError,
    ascii_int,
    finite_number,
    parse_host,
)
from python_worker.core.problems import Problem, problem

MAX_FORM_JSON = 64 * 1024  # bytes of one form's JSON
MAX_FORM_DEPTH = 4
MAX_FIELD = 4096  # characters of any one text field before its own rule (a secret, a note ...) applies
PEER_TEXTS = ("name", "host", "transport", "patterns", "secret", "note")
PEER_SWITCHES = ("blf", "transfers", "overlap_fix")
# PSTN fallback and transit (issue #15): texts, and counts with their default when empty (None: no cap)
PEER_BREAKOUT_TEXTS = ("fallback_provider", "fallback_prepend", "transit_patterns", "transit_provider",
                       "transit_callerid", "via_patterns")
PEER_COUNTS: dict[str, int | None] = {"fallback_trim": 0, "transit_limit": None}
PEER_FORM_FIELDS = ("name", "host", "port", "transport", "patterns", "secret", "note", *PEER_SWITCHES,
                    *PEER_BREAKOUT_TEXTS, *PEER_COUNTS)
SETTINGS_TEXTS = ("station_name", "display_name", "own_patterns", "public_number", "public_prepend")
SETTINGS_SWITCHES = {"blf_default": True, "transfers_default": True, "overlap_fix_default": False}
SETTINGS_COUNTS: dict[str, int | None] = {"public_trim": 0}
SETTINGS_FORM_FIELDS = (*SETTINGS_TEXTS, *SETTINGS_SWITCHES, *SETTINGS_COUNTS)
_TRIMMED = " \t"  # what the form may leave around a value; anything else (a newline, NBSP) makes it invalid


class InputError(ValueError):
    """Input of the wrong shape; `problems` name each field and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.code}" for p in problems))
        self.problems = problems


def _shape(field: str, reason: str, peer: str | None = None) -> Problem:
    return problem("E_VALUE_INVALID", peer, field, detail=field, reason=reason)


def _depth(value: object, limit: int) -> bool:
    """True when `value` nests no deeper than `limit` (an iterative walk: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            stack += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return True


def form_object(text: str | bytes) -> dict[str, Any]:
    """The admin form's JSON: one object, at most MAX_FORM_JSON bytes, nested at most MAX_FORM_DEPTH deep."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > MAX_FORM_JSON:
        raise InputError([_shape("json", f"longer than {MAX_FORM_JSON} bytes")])
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError([_shape("json", "not valid JSON in UTF-8")]) from None
    if not isinstance(data, dict):
        raise InputError([_shape("json", "not a JSON object")])
    if not _depth(data, MAX_FORM_DEPTH):
        raise InputError([_shape("json", "nested too deep")])
    return data


def text_value(data: dict[str, Any], key: str, default: str = "", *, trim: bool = True) -> str:
    """A text field: a string (None or missing: `default`), at most MAX_FIELD characters."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InputError([_shape(key, "not a text")])
    if len(value) > MAX_FIELD:
        raise InputError([_shape(key, f"longer than {MAX_FIELD} characters")])
    return value.strip(_TRIMMED) if trim else value


def switch_value(value: object, field: str) -> bool | None:
    """A switch as the form or the CLI gives it: on/off words, 1/0, true/false; None or '' is the default."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and len(value) <= 8:
        word = value.strip(_TRIMMED).lower()
        if word in _ON:
            return True
        if word in _OFF:
            return False
    raise InputError([_shape(field, "give on or off")])


def port_value(value: object, field: str = "port", default: int = 5060) -> int:
    """A port as typed: an int or ASCII digits ('٥٠٦٠' and True are refused); None or '' is `default`."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        value = value.strip(_TRIMMED)
    number = ascii_int(value)
    if number is None or not 1 <= number <= 65535:
        raise InputError([problem("E_PORT_INVALID", None, field, value=value)])
    return number


def count_value(value: object, field: str, default: int | None) -> int | None:
    """A count as typed (a trim, a cap): an int or its ASCII digits; None or '' is `default`. A text that is not
    a whole number reads as -1, which core/fields.py refuses with the field's own problem (so the form hears of
    every bad field at once); a value of another type (a bool, a float, a list) is a wrong shape."""
    if value is None:
        return default
    if isinstance(value, str):
        if len(value) > MAX_FIELD:
            raise InputError([_shape(field, f"longer than {MAX_FIELD} characters")])
        value = value.strip(_TRIMMED)
        if value == "":
            return default
    elif type(value) is not int:
        raise InputError([_shape(field, "not a whole number")])
    number = ascii_int(value)
    return -1 if number is None else number


def canonical_host(host: str) -> str:
    """The canonical host when it is valid; the text as given otherwise (core/fields.py then says why)."""
    try:
        return parse_host(host)
    except HostError:
        return host


def peer_from_form(data: dict[str, Any], base: PeerConfig | None = None) -> PeerConfig:
    """A proposed peer from the form's JSON (or the CLI's options as a dict); InputError for a wrong shape."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key in PEER_TEXTS:
        try:
            if key in data or base is None:
                default = "udp" if key == "transport" else ""
                values[key] = text_value(data, key, default, trim=key not in ("secret", "note"))
        except InputError as exc:
            problems += exc.problems
    for key in PEER_BREAKOUT_TEXTS:
        try:
            if key in data or base is None:
                values[key] = text_value(data, key)
        except InputError as exc:
            problems += exc.problems
    for key in PEER_SWITCHES:
        try:
            if key in data or base is None:
                values[key] = switch_value(data.get(key), key)
        except InputError as exc:
            problems += exc.problems
    for key, count_default in PEER_COUNTS.items():
        try:
            if key in data or base is None:
                values[key] = count_value(data.get(key), key, count_default)
        except InputError as exc:
            problems += exc.problems
    try:
        if "enabled" in data:
            enabled = switch_value(data.get("enabled"), "enabled")
            if enabled is not None:
                values["enabled"] = enabled
        if "port" in data or base is None:
            values["port"] = port_value(data.get("port"))
    except InputError as exc:
        problems += exc.problems
    if problems:
        raise InputError(problems)
    if "host" in values:
        values["host"] = canonical_host(values["host"])
    if "transport" in values:
        values["transport"] = values["transport"].lower() or "udp"
    if base is None:
        return PeerConfig(**values)
    return replace(base, **values)


def settings_from_form(data: dict[str, Any], base: Settings | None = None) -> Settings:
    """Proposed station settings from the form's JSON (or the CLI's options); InputError for a wrong shape."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key in SETTINGS_TEXTS:
        try:
            if key in data or base is None:
                values[key] = text_value(data, key, trim=key != "display_name")
        except InputError as exc:
            problems += exc.problems
    for key, default in SETTINGS_SWITCHES.items():
        try:
            if key in data or base is None:
                value = switch_value(data.get(key), key)
                values[key] = default if value is None else value
        except InputError as exc:
            problems += exc.problems
    for key, count_default in SETTINGS_COUNTS.items():
        try:
            if key in data or base is None:
                values[key] = count_value(data.get(key), key, count_default)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return Settings(**values) if base is None else replace(base, **values)


def row_id(data: dict[str, Any]) -> int | None:
    """The form's `id` (the row being edited): a positive int or its ASCII digits; None for a new peer."""
    value = data.get("id")
    if value is None or value == "":
        return None
    number = ascii_int(value.strip(_TRIMMED) if isinstance(value, str) else value)
    if number is None or not 0 < number < 2**62:
        raise InputError([_shape("id", "not a row number")])
    return number


def seconds(value: object, field: str, low: float, high: float = MAX_TTL) -> float:
    """A finite number of seconds within [low, high] (`--ttl inf` and `nan` are refused)."""
    number = finite_number(value, low, high)
    if number is None:
        raise InputError([_shape(field, f"give a number of seconds from {low:g} to {high:g}")])
    return number
