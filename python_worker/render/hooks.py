"""Renders a plan into the ConfigClass hook texts (hooks.json) with Jinja2; every value passes a filter.

The filters are the second wall, independent of validation: an identifier, pattern, regex, host or device list
that is not exactly of its shape (checked with fullmatch: `$` would accept a trailing newline) stops the render
(RenderError: the last good configuration stays), and free text is escaped, so no value can ever start a new line
or a new section, whatever slipped past the field checks."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from python_worker import MODULE_ID
from python_worker.core.planner import PeerPlan, Plan

# Beside this module, read as plain files (the module may run from an unpacked tree on the box).
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
HOOK_TEMPLATES = {
    "generatePeersPj": "peers_pj.j2",
    "extensionGenContexts": "contexts.j2",
    "extensionGenInternalTransfer": "transfer.j2",
    "extensionGenHints": "hints.j2",
}
# Hooks hooks.json carries only when they have text. Core calls generateOutRoutContext once per outgoing route
# with the route's row; the PHP host gives this text only to the module's fallback routes (their note starts with
# contract.json's fallback_route_note_prefix): their guard (dial only when the peer's trunk answered nothing) and
# our caller's public number.
OPTIONAL_HOOK_TEMPLATES = {
    "generateOutRoutContext": "out_route.j2",
}
# Line breaks of any kind (Asterisk splits on \n and \r; \x85, \u2028, \u2029 end lines elsewhere), the other
# control characters, and lone surrogates (which cannot even be written as UTF-8).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_IDENT_RE = re.compile(r"[A-Za-z0-9_-]{1,80}")
_PATTERN_RE = re.compile(r"_?[0-9XZN\[\]-]{1,200}")
_REGEX_RE = re.compile(r"[0-9\[\]|-]+")
_NUMBER_RE = re.compile(r"\+?[0-9]{1,16}")  # a public number (caller number of calls to the public network)
_PREPEND_RE = re.compile(r"\+?[0-9]{0,16}")
_DEVICES_RE = re.compile(r"[A-Za-z]+[/:][A-Za-z0-9_-]+(&[A-Za-z]+[/:][A-Za-z0-9_-]+)*")  # PJSIP/201&Custom:FED-x
_DNS_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_DEAD_DIAL_RE = re.compile(r"PJSIP/\$\{EXTEN\}@SIP-TRUNK-[0-9A-F]+-FED-DOWN")
_PATTERN_DEVICES_RE = re.compile(r"Custom:FED-[0-9A-F]+-([0-9]+|\$\{EXTEN\})")  # Custom:FED-x-${EXTEN}


class RenderError(ValueError):
    """A value reached a template that the planner should never have let through (a fault)."""


def escape_conf(value: object) -> str:
    """Make any text safe as an Asterisk config value: no line breaks, no control chars, `;` escaped."""
    text = _CONTROL_RE.sub(" ", str(value))
    return text.replace("\\", "\\\\").replace(";", r"\;")


def is_line_safe(text: str) -> bool:
    """True when `text` holds no line break, control character or lone surrogate."""
    return _CONTROL_RE.search(text) is None


def _checked(rx: re.Pattern[str], what: str) -> Any:
    def check(value: object) -> str:
        text = str(value)
        if not rx.fullmatch(text):
            raise RenderError(f"unsafe {what} reached a template: {text[:80]!r}")
        return text

    return check


def uri_host(host: str) -> str:
    """Host part of a SIP URI: an IPv4 literal or DNS name as it is, an IPv6 literal (never with a zone) in
    brackets; anything else stops the render."""
    text = str(host)
    if ":" in text and "%" not in text:
        try:
            return f"[{ipaddress.IPv6Address(text).compressed}]"
        except ValueError:
            pass
    elif _DNS_RE.fullmatch(text) and ".." not in text:
        return text
    raise RenderError(f"unsafe host reached a template: {text[:80]!r}")


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["conf"] = escape_conf
    env.filters["ident"] = _checked(_IDENT_RE, "identifier")
    env.filters["pattern"] = _checked(_PATTERN_RE, "pattern")
    env.filters["regex"] = _checked(_REGEX_RE, "regex")
    env.filters["uri_host"] = uri_host
    env.filters["devices"] = _checked(_DEVICES_RE, "hint device list")
    env.filters["number"] = _checked(_NUMBER_RE, "public number")
    env.filters["prepend"] = _checked(_PREPEND_RE, "number prefix")
    env.filters["pattern_devices"] = _checked(_PATTERN_DEVICES_RE, "pattern hint device")
    env.filters["dial"] = _checked(_DEAD_DIAL_RE, "dial string")
    return env


_ENV = make_environment()


def _tidy(text: str) -> str:
    """One newline at the end, none when empty: Core wraps each hook's text in its own markers."""
    text = text.rstrip()
    return text + "\n" if text else ""


def render_hooks(plan: Plan) -> dict[str, str]:
    """Text for each ConfigClass hook; '' where the plan needs nothing (the optional hooks are then left out)."""
    hooks = {
        hook: _tidy(_ENV.get_template(tpl).render(plan=plan, module=MODULE_ID))
        for hook, tpl in HOOK_TEMPLATES.items()
    }
    for hook, tpl in OPTIONAL_HOOK_TEMPLATES.items():
        text = _tidy(_ENV.get_template(tpl).render(plan=plan, module=MODULE_ID))
        if text:
            hooks[hook] = text
    return hooks


def manual_attributes(peer: PeerPlan) -> str:
    """The provider's manual attributes INI text (what Core appends to its pjsip sections)."""
    return _ENV.get_template("manualattributes.j2").render(peer=peer)
