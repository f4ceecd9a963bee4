"""Builds the MikoPBX rows a plan needs (records.json, shape in core/records.py), in Core's column names."""

from __future__ import annotations

import base64
import re
from typing import Any

from python_worker import FALLBACK_NOTE_PREFIX, FIREWALL_CATEGORY, MODULE_ID, OWNER_MARK, SYNC_PORT, SYNC_PORT_KEY
from python_worker.core.breakout import FALLBACK_ROUTE_PRIORITY
from python_worker.core.fields import ip_literal, is_valid_host
from python_worker.core.planner import INCOMING_PRIORITY, ROUTE_PRIORITY, PeerPlan, Plan
from python_worker.core.records import RECORDS_FORMAT, ROW_SECTIONS, ProviderRecord, Records
from python_worker.render.hooks import RenderError, is_line_safe, manual_attributes

# A dead peer is noticed within this many seconds (+3 s qualify timeout); Asterisk then refuses to dial
# its unavailable contact at once instead of retransmitting an INVITE for 32 s.
QUALIFY_SECONDS = 10
# Core writes asterisk.conf ending with its [options] section and appends an 'append'-mode custom file to it.
ASTERISK_CONF = "/etc/asterisk/asterisk.conf"
# The worker's AMI account (docs/platform.md#ami): ExtensionStatus (call) and ContactStatus (system) events to read;
# Setvar DEVICE_STATE and ExtensionStateList (call) and PJSIPQualify (reporting) to write. Nothing else: no
# `command`, `system` or `config` writes (those would run CLI commands, load modules or edit files).
AMI_PERMISSIONS = {"call": "readwrite", "system": "read", "reporting": "write"}
AMI_CLASSES = ("call", "cdr", "originate", "reporting", "agent", "config", "dialplan", "dtmf", "log", "system",
               "command", "verbose", "user")
AMI_EVENTS = ("Event: ExtensionStatus", "Event: ContactStatus")
AMI_LOCAL_ONLY = "localhost"  # Core 2026.1: this networkfilterid means permit 127.0.0.1 only
AMI_FILTER = f"{OWNER_MARK} AMI from this station only"


def _mark(peer: PeerPlan, what: str = "") -> str:
    return f"{OWNER_MARK} peer {peer.name}{(' ' + what) if what else ''}"


def build_records(plan: Plan) -> Records:
    """The MikoPBX rows the plan needs, in Core's column names (no ids), sorted by peer then pattern.

    The plan's pairing sources (pending invitations made for an address) may reach the sync port, closed by
    default, until the invitation is used or expires."""
    providers: list[ProviderRecord] = []
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
        if peer.fallback is not None:
            # Tried by Core after the trunk's route; its Dial runs only when the trunk answered nothing at all
            # (the guard of the generateOutRoutContext hook, render/templates/out_route.j2).
            for fb in peer.fallback.routes:
                outgoing.append({
                    "peer": peer.name, "rulename": f"Federation: {peer.name} {fb.pattern} fallback",
                    "providerid": peer.fallback.provider_id, "priority": str(FALLBACK_ROUTE_PRIORITY),
                    "numberbeginswith": fb.numberbeginswith, "restnumbers": str(fb.restnumbers),
                    "trimfrombegin": str(fb.trimfrombegin), "prepend": fb.prepend,
                    "note": f"{FALLBACK_NOTE_PREFIX}peer {peer.name} pattern {fb.pattern}",
                })
        for route in peer.via_routes:
            outgoing.append({
                "peer": peer.name, "rulename": f"Federation: {peer.name} transit {route.pattern}",
                "providerid": uid, "priority": str(ROUTE_PRIORITY),
                "numberbeginswith": route.numberbeginswith, "restnumbers": str(route.restnumbers),
                "trimfrombegin": "0", "prepend": "", "note": _mark(peer, f"transit {route.pattern}"),
            })
        incoming.append({
            "peer": peer.name, "rulename": f"Federation: {peer.name}", "number": "", "extension": "did2user",
            "provider": uid, "priority": INCOMING_PRIORITY, "timeout": 120, "action": "extension",
            "note": _mark(peer), "audio_message_id": "",
        })
        address = ip_literal(peer.host)
        if address is not None:
            prefix = 32 if address.version == 4 else 128
            filters.append({
                "peer": peer.name, "permit": f"{address}/{prefix}",
                "deny": "0.0.0.0/0" if prefix == 32 else "::/0",
                "newer_block_ip": "1", "local_network": "0", "description": _mark(peer),
            })
            if peer.is_paired:
                # The sync port's category is 'block' by default; it opens only for a paired peer's filter.
                firewall.append({
                    "peer": peer.name, "protocol": "tcp", "portfrom": str(SYNC_PORT), "portto": str(SYNC_PORT),
                    "action": "allow", "category": FIREWALL_CATEGORY, "portFromKey": SYNC_PORT_KEY,
                    "portToKey": SYNC_PORT_KEY,
                    "description": _mark(peer, "sync"), "network_filter": _mark(peer),
                })
    for invite_id, source in plan.pairing_sources:
        allowed = ip_literal(source)
        if allowed is None or not re.fullmatch(r"[0-9a-f]{1,32}", invite_id):
            continue
        prefix = 32 if allowed.version == 4 else 128
        mark = f"{OWNER_MARK} invitation {invite_id}"
        filters.append({
            "peer": "", "permit": f"{allowed}/{prefix}", "deny": "0.0.0.0/0" if prefix == 32 else "::/0",
            "newer_block_ip": "0", "local_network": "0", "description": mark,
        })
        firewall.append({
            "peer": "", "protocol": "tcp", "portfrom": str(SYNC_PORT), "portto": str(SYNC_PORT),
            "action": "allow", "category": FIREWALL_CATEGORY, "portFromKey": SYNC_PORT_KEY,
                    "portToKey": SYNC_PORT_KEY,
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
    ami_users: list[dict[str, Any]] = []
    if plan.peers and plan.ami is not None:
        ami_users.append(_ami_user(plan, filters))
    records: Records = {
        "format": RECORDS_FORMAT,
        "module": MODULE_ID,
        "station": {"name": plan.station_name, "entity_id": plan.entity_id, "own_patterns": list(plan.own_patterns)},
        "providers": providers,
        "outgoing_routes": outgoing,
        "incoming_routes": incoming,
        "network_filters": filters,
        "firewall_rules": firewall,
        "custom_files": custom_files,
        "ami_users": ami_users,
    }
    check_records(records)
    return records


def _values(row: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in row.items() if k != "manualattributes"]


def check_records(records: Records) -> None:
    """The second wall for the rows, independent of validation: no text of any row may hold a line break or a
    control character, hosts must be plain hosts and permits plain networks (Core turns them into SIP contacts
    and firewall rules). RenderError otherwise: the last good configuration stays."""
    rows: list[dict[str, Any]] = []
    for prov in records["providers"]:
        rows += [prov["m_Providers"], prov["m_Sip"], *prov["m_SipHosts"]]
        if not is_valid_host(prov["m_Sip"]["host"]) or any(not is_valid_host(h["address"])
                                                           for h in prov["m_SipHosts"]):
            raise RenderError(f"unsafe host in the records of {prov['peer'][:40]!r}")
        attributes = base64.b64decode(prov["m_Sip"]["manualattributes"]).decode("utf-8")
        if not all(is_line_safe(line) for line in attributes.split("\n")):
            raise RenderError(f"unsafe manual attributes for {prov['peer'][:40]!r}")
    for section in ROW_SECTIONS:
        rows += records[section]  # type: ignore[literal-required]
    for row in rows:
        for column, value in _values(row):
            # An AMI user's eventfilter is one filter per line (Core writes each as an `eventfilter=` line).
            lines = value.split("\n") if isinstance(value, str) and column == "eventfilter" else [value]
            if any(isinstance(line, str) and not is_line_safe(line) for line in lines):
                raise RenderError(f"unsafe text in column {column}")
    for row in records["network_filters"]:
        address, _, prefix = str(row["permit"]).partition("/")
        parsed = ip_literal(address)
        if parsed is None or prefix != ("32" if parsed.version == 4 else "128") or str(parsed) != address:
            raise RenderError(f"unsafe permit {str(row['permit'])[:60]!r}")


def _has_localhost_acl(version: str) -> bool:
    """Core 2026.1 renders networkfilterid 'localhost' as permit 127.0.0.1 only; 2024.1 looks the value up as a
    filter id (src/Core/Asterisk/Configs/ManagerConf.php at both tags), so there it needs a real filter row."""
    head = version.split(".")[:2]
    try:
        return (int(head[0]), int(head[1])) >= (2026, 1)
    except (ValueError, IndexError):
        return True  # unknown: the current form


def _ami_user(plan: Plan, filters: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker's own AMI account as an m_AsteriskManagerUsers row (Core writes manager.conf from the table)."""
    assert plan.ami is not None
    row: dict[str, Any] = {"peer": "", "username": plan.ami.username, "secret": plan.ami.secret,
                           **{c: AMI_PERMISSIONS.get(c, "") for c in AMI_CLASSES},
                           "eventfilter": "\n".join(AMI_EVENTS), "weakSecret": "1",
                           "description": f"{OWNER_MARK} lamps of paired stations (device states)"}
    if _has_localhost_acl(plan.version):
        row["networkfilterid"] = AMI_LOCAL_ONLY
    else:
        filters.append({"peer": "", "permit": "127.0.0.1/32", "deny": "0.0.0.0/0", "newer_block_ip": "0",
                        "local_network": "0", "description": AMI_FILTER})
        row["network_filter"] = AMI_FILTER
    return row


