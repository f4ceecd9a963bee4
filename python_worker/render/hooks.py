"""Renders a plan into the ConfigClass hook texts (hooks.json) with Jinja2; every value passes a filter."""

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
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_IDENT_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_PATTERN_RE = re.compile(r"^_?[0-9XZN\[\]-]+$")
_REGEX_RE = re.compile(r"^[0-9\[\]|-]+$")
_CALLER_NAME_RE = re.compile(r"^[\w .@+-]+$")  # what directory.clean_name leaves
_DEVICES_RE = re.compile(r"^[A-Za-z]+[/:][A-Za-z0-9_-]+(&[A-Za-z]+[/:][A-Za-z0-9_-]+)*$")  # PJSIP/201&Custom:FED-x
_DEAD_DIAL_RE = re.compile(r"^PJSIP/\$\{EXTEN\}@SIP-TRUNK-[0-9A-F]+-FED-DOWN$")
_PATTERN_DEVICES_RE = re.compile(r"^Custom:FED-[0-9A-F]+-([0-9]+|\$\{EXTEN\})$")  # Custom:FED-x-${EXTEN}


class RenderError(ValueError):
    """A value reached a template that the planner should never have let through (a fault)."""


def escape_conf(value: object) -> str:
    """Make any text safe as an Asterisk config value: no line breaks, no control chars, `;` escaped."""
    text = _CONTROL_RE.sub(" ", str(value))
    return text.replace("\\", "\\\\").replace(";", r"\;")


def _checked(rx: re.Pattern[str], what: str) -> Any:
    def check(value: object) -> str:
        text = str(value)
        if not rx.match(text):
            raise RenderError(f"unsafe {what} reached a template: {text!r}")
        return text

    return check


def uri_host(host: str) -> str:
    """Host part of a SIP URI: IPv6 literals in brackets."""
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]"
    except ValueError:
        pass
    return escape_conf(host)


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
    env.filters["callername"] = _checked(_CALLER_NAME_RE, "caller name")
    env.filters["devices"] = _checked(_DEVICES_RE, "hint device list")
    env.filters["pattern_devices"] = _checked(_PATTERN_DEVICES_RE, "pattern hint device")
    env.filters["dial"] = _checked(_DEAD_DIAL_RE, "dial string")
    return env


_ENV = make_environment()


def _tidy(text: str) -> str:
    """One newline at the end, none when empty: Core wraps each hook's text in its own markers."""
    text = text.rstrip()
    return text + "\n" if text else ""


def render_hooks(plan: Plan) -> dict[str, str]:
    """Text for each ConfigClass hook; '' where the plan needs nothing."""
    return {
        hook: _tidy(_ENV.get_template(tpl).render(plan=plan, module=MODULE_ID))
        for hook, tpl in HOOK_TEMPLATES.items()
    }


def manual_attributes(peer: PeerPlan) -> str:
    """The provider's manual attributes INI text (what Core appends to its pjsip sections)."""
    return _ENV.get_template("manualattributes.j2").render(peer=peer)
