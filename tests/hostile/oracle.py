"""What a safe outcome is, checked the same way for every source; and the hostile values the strategies draw from.

Safe render: every hook text is made only of the line forms the templates write (a section header whose name
is one the plan derives, a comment, `key = value`, `exten =>`, `same =>`), with no control character but the
line feed and the tab; every records.json text is free of line breaks and control characters, every host a
plain host, every permit a plain /32 or /128. Nothing lost: every peer planned before a saved change is
still planned after it, with the same trunk; the admin's own rows are byte-identical.
"""

from __future__ import annotations

import base64
import functools
import re
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from python_worker.core.fields import is_valid_host
from python_worker.core.planner import Plan

_HEADER = re.compile(r"\[([A-Za-z0-9_-]+)\]")
_LINE_FORMS = (
    re.compile(r"\[[A-Za-z0-9_-]+\]"),
    re.compile(r"; [^\n]*"),
    re.compile(r"@?[a-z_-]+ = [^\n]*"),
    re.compile(r"exten => [^\n]+"),
    re.compile(r"\tsame => n,[^\n]+"),
)
_CONTINUATION = re.compile(r"same => n,[^\n]+")
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class Unsafe(AssertionError):
    """An output an attacker could have shaped: a new section, a new line, a control character, a bad host."""


def expected_sections(plan: Plan) -> set[str]:
    out: set[str] = set()
    for p in plan.peers:
        out |= {f"{p.provider_id}-incoming-custom", p.auth_in, p.auth_out}
        if p.is_overlap_fix:
            out.add(f"{p.provider_id}-outgoing-custom")
        if p.is_blf:
            out |= {p.outbound_publish, p.name}
        if p.fallback is not None:  # the trunk's Dial is wrapped: keep the caller number, mark "answered nothing"
            out |= {f"{p.provider_id}-outgoing-custom", f"{p.provider_id}-outgoing-after-dial-custom"}
        if p.transit is not None:
            out.add(p.transit_context)
    return out


def check_lines(what: str, text: str, allowed: set[str]) -> None:
    """Raise Unsafe unless `text` has only the templates' line forms, and only the sections in `allowed`."""
    if _BAD_CHARS.search(text) or "\r" in text:
        raise Unsafe(f"{what}: a control character")
    for line in text.split("\n"):
        if not line:
            continue
        if not any(form.fullmatch(line) for form in _LINE_FORMS):
            raise Unsafe(f"{what}: a line the templates never write: {line[:80]!r}")
        header = _HEADER.fullmatch(line)
        if header and header.group(1) not in allowed:
            raise Unsafe(f"{what}: a section the plan does not make: {line[:80]!r}")


def check_hooks(hooks: Mapping[str, str], plan: Plan) -> None:
    """Raise Unsafe unless every hook text has only the template's line forms and the plan's sections."""
    allowed = expected_sections(plan)
    for hook, text in hooks.items():
        if hook == "generateOutRoutContext":
            # Core writes this text into a fallback route's context right after its own `exten => ...` line: its
            # first line continues that extension (`same => n,...`, no tab); it never opens a section.
            first, _, rest = text.partition("\n")
            if first and (not _CONTINUATION.fullmatch(first) or _BAD_CHARS.search(first) or "\r" in first):
                raise Unsafe(f"{hook}: a first line that does not continue Core's extension: {first[:80]!r}")
            check_lines(hook, rest, set())
            continue
        check_lines(hook, text, allowed)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def check_records(records: Mapping[str, Any]) -> None:
    """Raise Unsafe unless every text of records.json is one line without control characters, every host a
    plain host and every permit a plain address/32 or /128."""
    for text in _strings({k: v for k, v in records.items() if k != "providers"}):
        if _BAD_CHARS.search(text) or "\n" in text or "\r" in text:
            raise Unsafe(f"records: a control character in {text[:60]!r}")
    for prov in records.get("providers", []):
        sip = prov["m_Sip"]
        for key, text in sip.items():
            if isinstance(text, str) and key != "manualattributes" and (_BAD_CHARS.search(text) or "\n" in text):
                raise Unsafe(f"m_Sip.{key}: a control character")
        attributes = base64.b64decode(sip["manualattributes"]).decode()
        if [line.split(" =")[0] for line in attributes.splitlines()] != [
                "[endpoint]", "identify_by", "auth", "outbound_auth", "set_var"]:
            raise Unsafe("manual attributes: another shape")
        check_lines("manualattributes", attributes, {"endpoint"})
        hosts = [sip["host"], *(h["address"] for h in prov["m_SipHosts"])]
        if not all(is_valid_host(h) for h in hosts):
            raise Unsafe(f"records: host {hosts!r}")
        for text in _strings([prov["m_Providers"], prov["m_SipHosts"]]):
            if _BAD_CHARS.search(text) or "\n" in text:
                raise Unsafe("records: a control character")
    for row in records.get("network_filters", []):
        if not re.fullmatch(r"([0-9.]+/32|[0-9a-f:]+/128)", row["permit"]):
            raise Unsafe(f"records: permit {row['permit']!r}")


def planned(plan: Plan) -> dict[str, str]:
    """name -> provider id of every planned peer."""
    return {p.name: p.provider_id for p in plan.peers}


def check_nothing_lost(before: Plan, after: Plan, *, except_for: str = "") -> None:
    """Every peer planned before is planned after, with the same trunk (except the peer being changed)."""
    lost = {n: pid for n, pid in planned(before).items()
            if n.lower() != except_for.lower() and planned(after).get(n) != pid}
    if lost:
        raise AssertionError(f"lost working peers: {sorted(lost)}")


def dump_admin(db: Path) -> list[tuple[str, bytes]]:
    """The admin's own rows of mikopbx.db (no module mark, not our trunk), as bytes, in a stable order."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: list[tuple[str, bytes]] = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                                             "name NOT LIKE 'sqlite_%' ORDER BY name")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                text = repr(row)
                if "ModulePbxFederation" in text or "SIP-TRUNK-" in text:
                    continue
                out.append((table, text.encode("utf-8", "backslashreplace")))
        return out
    finally:
        conn.close()


# ---- hostile values -------------------------------------------------------------------------------------
INJECTIONS = [
    "fe80::1%x]\n[evil]\ntype=endpoint", "127.0.0.3\n[evil]", "spb\n", "spb\r\n[x]", "a;b", "#include /etc/passwd",
    "${SHELL(id)}", "x]\n[y", "\u2028[z]", "\x85[z]", "\x00", "\ud800", "\udfff", "\u202e", "\u200b", "\ufeff",
    "spb\u00a0", " spb ", "SPB", "Spb", "spb\t", "ѕрb", "[section]", "\\", "\"", "'", "%s%n", "{value}", "{0}",
    "x" * 5000, "٣XX", "³XX", "๓XX", "٥٠٦٠",
]
HOSTS = [
    "127.0.0.9", "127.000.0.9", "0x7f000009", "2130706441", "0177.0.0.1", "127.1", "0.0.0.0", "::", "224.0.0.1",
    "255.255.255.255", "239.1.2.3", "ff02::1", "fe80::1", "fe80::1%eth0", "::ffff:127.0.0.9", "::1",
    "0:0:0:0:0:0:0:1", "2001:DB8::1", "2001:db8:0:0:0:0:0:1", "a....", ".", "-a.b", "a-.b", "a..b", "pbx.example.",
    "PBX.Example.COM", "x" * 300, "1.2.3.4.5", "1.2.3", "[::1]", "127.0.0.9:5060", "127.0.0.9 ", " 127.0.0.9",
    "127.0.0.9/32", "host_name", "münchen.de", "xn--mnchen-3ya.de", "240.0.0.1", "0.1.2.3", "a" * 64 + ".com",
]


@functools.cache  # one strategy object: Hypothesis re-validates new ones
def hostile_text(max_size: int = 80) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(INJECTIONS),
        st.text(max_size=max_size),
        st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Zs", "Zl", "Zp", "Cf", "Nd"]),
                max_size=12),
        st.builds(lambda a, b, c: a + b + c, st.sampled_from(["spb", "127.0.0.3", "3XX", "", "Sup3rSecretTrunk"]),
                  st.sampled_from(["\n", "\r", "\x00", "\u00a0", "\u2028", "]", "[", ";", "%", "\ud800", ""]),
                  st.sampled_from(["[evil]", "x", "", "\ntype=endpoint"])),
    )


@functools.cache  # one strategy object: Hypothesis re-validates new ones
def hostile_json(depth: int = 3) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                        hostile_text(40))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8), inner, max_size=4), max_leaves=12 * depth)
