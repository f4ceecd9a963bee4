"""Builds the MikoPBX rows a plan needs (records.json, shape in core/records.py), in Core's column names."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from python_worker import MODULE_ID, OWNER_MARK, SYNC_PORT
from python_worker.core.fields import is_ip_literal
from python_worker.core.planner import INCOMING_PRIORITY, ROUTE_PRIORITY, PeerPlan, Plan
from python_worker.core.records import RECORDS_FORMAT, ProviderRecord, Records
from python_worker.render.hooks import manual_attributes

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
    for invite_id, address in plan.pairing_sources:
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
    ami_users: list[dict[str, Any]] = []
    if plan.peers and plan.ami is not None:
        ami_users.append(_ami_user(plan, filters))
    return {
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


