"""Renders a plan into hook texts (hooks.json) and MikoPBX records (records.json) with Jinja2."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from python_worker import MODULE_ID, OWNER_MARK, SYNC_PORT
from python_worker.core.config import is_ip_literal
from python_worker.core.planner import INCOMING_PRIORITY, ROUTE_PRIORITY, PeerPlan, Plan

# Beside this module, read as plain files (the module may run from an unpacked tree on the box).
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
HOOK_TEMPLATES = {
    "generatePeersPj": "peers_pj.j2",
    "extensionGenContexts": "contexts.j2",
    "extensionGenInternalTransfer": "transfer.j2",
    "extensionGenHints": "hints.j2",
}
# A dead peer is noticed within this many seconds (+3 s qualify timeout); Asterisk then refuses to dial
# its unavailable contact at once instead of retransmitting an INVITE for 32 s.
QUALIFY_SECONDS = 10
# Core writes asterisk.conf ending with its [options] section and appends an 'append'-mode custom file to it.
ASTERISK_CONF = "/etc/asterisk/asterisk.conf"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_IDENT_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_PATTERN_RE = re.compile(r"^_?[0-9XZN\[\]-]+$")
_REGEX_RE = re.compile(r"^[0-9\[\]|-]+$")
_CALLER_NAME_RE = re.compile(r"^[\w .@+-]+$")  # what directory.clean_name leaves


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


def _mark(peer: PeerPlan, what: str = "") -> str:
    return f"{OWNER_MARK} peer {peer.name}{(' ' + what) if what else ''}"


def build_records(plan: Plan, pairing_sources: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The MikoPBX rows the plan needs, in Core's column names (no ids), sorted by peer then pattern.

    `pairing_sources`: (invitation id, IP address) of pending invitations made `--from` an address; that
    station may reach the sync port (closed by default) until the invitation is used or expires."""
    providers: list[dict[str, Any]] = []
    outgoing: list[dict[str, Any]] = []
    incoming: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []
    firewall: list[dict[str, Any]] = []
    for peer in plan.peers:
        uid = peer.provider_id
        providers.append({
            "peer": peer.name,
            "m_Providers": {"uniqid": uid, "type": "SIP", "sipuid": uid, "iaxuid": "", "note": _mark(peer)},
            "m_Sip": {
                "uniqid": uid, "disabled": "0", "extension": "", "type": "friend",
                "registration_type": "none", "host": peer.host, "port": peer.port,
                "username": plan.station_name, "secret": peer.secret, "transport": peer.transport,
                "outbound_proxy": "", "fromuser": "", "fromdomain": "", "nat": "force_rport,comedia",
                "dtmfmode": "auto", "qualifyfreq": QUALIFY_SECONDS, "qualify": "1", "networkfilterid": None,
                "manualattributes": base64.b64encode(manual_attributes(peer).encode()).decode(),
                "disablefromuser": "1", "noregister": "1",
                "description": f"Federation: {peer.name}", "enableRecording": 1, "weakSecret": 0,
            },
            "m_SipHosts": [{"provider_id": uid, "address": peer.host}],
        })
        for route in peer.routes:
            outgoing.append({
                "peer": peer.name, "rulename": f"Federation: {peer.name} {route.pattern}",
                "providerid": uid, "priority": str(ROUTE_PRIORITY),
                "numberbeginswith": route.numberbeginswith, "restnumbers": str(route.restnumbers),
                "trimfrombegin": "0", "prepend": "", "note": _mark(peer, f"pattern {route.pattern}"),
            })
        incoming.append({
            "peer": peer.name, "rulename": f"Federation: {peer.name}", "number": "", "extension": "did2user",
            "provider": uid, "priority": INCOMING_PRIORITY, "timeout": 120, "action": "extension",
            "note": _mark(peer), "audio_message_id": "",
        })
        if is_ip_literal(peer.host):
            prefix = 32 if ipaddress.ip_address(peer.host).version == 4 else 128
            filters.append({
                "peer": peer.name, "permit": f"{peer.host}/{prefix}",
                "deny": "0.0.0.0/0" if prefix == 32 else "::/0",
                "newer_block_ip": "1", "local_network": "0", "description": _mark(peer),
            })
            if peer.is_paired:
                # The sync port's category is 'block' by default; it opens only for a paired peer's filter.
                firewall.append({
                    "peer": peer.name, "protocol": "tcp", "portfrom": str(SYNC_PORT), "portto": str(SYNC_PORT),
                    "action": "allow", "category": MODULE_ID, "portFromKey": "", "portToKey": "",
                    "description": _mark(peer, "sync"), "network_filter": _mark(peer),
                })
    for invite_id, address in sorted(set(pairing_sources)):
        if not is_ip_literal(address):
            continue
        prefix = 32 if ipaddress.ip_address(address).version == 4 else 128
        mark = f"{OWNER_MARK} invitation {invite_id}"
        filters.append({
            "peer": "", "permit": f"{address}/{prefix}", "deny": "0.0.0.0/0" if prefix == 32 else "::/0",
            "newer_block_ip": "0", "local_network": "0", "description": mark,
        })
        firewall.append({
            "peer": "", "protocol": "tcp", "portfrom": str(SYNC_PORT), "portto": str(SYNC_PORT),
            "action": "allow", "category": MODULE_ID, "portFromKey": "", "portToKey": "",
            "description": f"{mark} sync", "network_filter": mark,
        })
    custom_files: list[dict[str, Any]] = []
    if plan.peers:
        entity = (f"; {MODULE_ID}: a unique entity ID, so device states of the stations never merge\n"
                  f"entityid = {plan.entity_id}\n")
        custom_files.append({
            "filepath": ASTERISK_CONF, "mode": "append", "changed": "0",
            "content": base64.b64encode(entity.encode()).decode(),
            "description": f"{OWNER_MARK} entity ID of station {plan.station_name}",
        })
    return {
        "format": 1,
        "module": MODULE_ID,
        "station": {"name": plan.station_name, "entity_id": plan.entity_id, "own_patterns": list(plan.own_patterns)},
        "providers": providers,
        "outgoing_routes": outgoing,
        "incoming_routes": incoming,
        "network_filters": filters,
        "firewall_rules": firewall,
        "custom_files": custom_files,
    }


def to_json(data: object) -> str:
    """Canonical JSON text: sorted keys, UTF-8, trailing newline, so equal data gives equal bytes."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
