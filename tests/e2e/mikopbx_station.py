"""A MikoPBX 2026.1 "station renderer" for end-to-end tests.

Turns a MikoPBX-schema SQLite database plus a module's hooks.json into the pjsip.conf and
extensions.conf that MikoPBX Core would generate, reduced to what matters for call routing,
authentication, transfers and device state.  Written from the documented behaviour of Core's
generators (see docs and tests/e2e/README.md, which lists every departure from real MikoPBX);
no Core code is copied.  Also renders the per-station asterisk.conf, modules.conf, logger.conf and
rtp.conf that let several stations run side by side on 127.0.0.x addresses.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_worker.demo import stationdb

MODULE_ID = "ModulePbxFederation"

# Hook names a module implements (ConfigClass), in the order Core calls them for each file.
HOOK_PEERS_PJ = "generatePeersPj"
HOOK_CONTEXTS = "extensionGenContexts"
HOOK_INCLUDE_INTERNAL = "getIncludeInternal"
HOOK_INTERNAL = "extensionGenInternal"
HOOK_INCLUDE_TRANSFER = "getIncludeInternalTransfer"
HOOK_TRANSFER = "extensionGenInternalTransfer"
HOOK_HINTS = "extensionGenHints"
HOOK_OUT_ROUTE = "generateOutRoutContext"  # per outgoing route; the module answers only for its fallback routes
KNOWN_HOOKS = frozenset(
    {HOOK_PEERS_PJ, HOOK_CONTEXTS, HOOK_INCLUDE_INTERNAL, HOOK_INTERNAL, HOOK_INCLUDE_TRANSFER,
     HOOK_TRANSFER, HOOK_HINTS, HOOK_OUT_ROUTE}
)
_CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "python_worker" / "contract.json").read_text())
FALLBACK_NOTE_PREFIX = str(_CONTRACT["fallback_route_note_prefix"])

ALL_EXTEN = "_[0-9*#+a-zA-Z]!"
ALL_NUMBER_EXTEN = "_[0-9*#+a-zA-Z][0-9*#+a-zA-Z]!"
# "Gosub into <this context>-custom when it exists", the hook point Core leaves in most contexts.
CUSTOM_GOSUB = ('same => n,GosubIf($["${DIALPLAN_EXISTS(${CONTEXT}-custom,${EXTEN},1)}" == "1"]'
                "?${CONTEXT}-custom,${EXTEN},1)")
CODECS = ("alaw", "ulaw")
LANGUAGE = "ru-ru"
TONE_ZONE = "ru"



# --------------------------------------------------------------------------------------------
# Database helpers
# --------------------------------------------------------------------------------------------

def create_db(path: Path | str) -> sqlite3.Connection:
    """An empty MikoPBX-schema station DB (the project's one builder, python_worker/demo/stationdb.py)."""
    db = sqlite3.connect(str(path))
    stationdb.create_station(db, {"Name": "MikoPBX", "SIPPort": "5060", "PBXLanguage": "ru-ru",
                                  "PBXVersion": "2026.1.223", "PBXInternalExtensionLength": "3"},
                             default_action="busy")
    db.commit()
    return db


def add_phone(db: sqlite3.Connection, number: str, secret: str, name: str | None = None) -> None:
    """Add a SIP phone the way Core's extension form stores it; qualify off (a SIPp phone answers no OPTIONS)."""
    stationdb.insert_phone(db, stationdb.Phone(number, name or number, secret), qualify=False)
    db.commit()


def _table_exists(db: sqlite3.Connection, table: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
    return row is not None


def _rows(db: sqlite3.Connection, table: str, where: str = "", order: str = "",
          args: Iterable[Any] = ()) -> list[dict[str, Any]]:
    if not _table_exists(db, table):
        return []
    sql = f"SELECT * FROM {table}"
    if where:
        sql += f" WHERE {where}"
    if order:
        sql += f" ORDER BY {order}"
    cur = db.execute(sql, tuple(args))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _s(value: Any) -> str:
    """Text value of a column the way PHP sees it (NULL -> '')."""
    return "" if value is None else str(value)


def _priority(route: Mapping[str, Any]) -> int:
    try:
        return int(_s(route.get("priority")) or 0)
    except ValueError:
        return 0


# --------------------------------------------------------------------------------------------
# Manual attributes (m_Sip.manualattributes)
# --------------------------------------------------------------------------------------------

def decode_manual_attributes(raw: str) -> str:
    """Base64-decode the column when it round-trips, as Core does; otherwise take it as text."""
    if not raw:
        return ""
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw
    if base64.b64encode(decoded).decode("ascii") != raw:
        return raw
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def parse_manual_attributes(raw: str) -> dict[str, dict[str, str]]:
    """Sections -> ordered key/value pairs.

    Later keys replace earlier ones, except that several `set_var` lines of `[endpoint]` are
    collected and joined with commas into one value, which is what MikoPBX 2026.1 writes for a
    provider endpoint (and which breaks them: docs/platform.md#providers).  Empty values are dropped, '0' is kept.
    Lines before the first section header belong to the section named ' '.
    """
    text = decode_manual_attributes(raw)
    sections: dict[str, dict[str, str]] = {}
    set_vars: dict[str, list[str]] = {}
    current = " "
    for line in text.splitlines():
        row = line.strip()
        if row.startswith("[") and "]" in row:
            current = row[1:row.index("]")].strip()
            sections.setdefault(current, {})
            continue
        if "=" not in row:
            continue
        key, _, value = row.partition("=")
        key, value = key.strip(), value.strip()
        if not key or not value:
            continue
        section = sections.setdefault(current, {})
        if key == "set_var" and current == "endpoint":
            set_vars.setdefault(current, []).append(value)
            section[key] = ",".join(set_vars[current])
        else:
            section[key] = value
    return sections


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------

def load_hooks(path_or_text: Path | str | Mapping[str, str]) -> dict[str, str]:
    if isinstance(path_or_text, Mapping):
        data: Any = dict(path_or_text)
    else:
        candidate = Path(path_or_text) if isinstance(path_or_text, Path) else None
        if candidate is None and not str(path_or_text).lstrip().startswith("{"):
            candidate = Path(path_or_text)
        text = candidate.read_text(encoding="utf-8") if candidate is not None else str(path_or_text)
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("hooks.json must be a JSON object")
    unknown = set(data) - KNOWN_HOOKS
    if unknown:
        raise ValueError(f"unknown hook names in hooks.json: {sorted(unknown)}")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise ValueError(f"hook {key} must map to a string")
        out[key] = value
    return out


def module_block(text: str, module_id: str = MODULE_ID) -> str:
    """Wrap a module's non-empty hook output the way Core does for external modules."""
    if not text:
        return ""
    return f"\n; ***** BEGIN BY {module_id}\n{text.rstrip()}\n; ***** END BY {module_id}\n"


def core_block(text: str) -> str:
    """Core's own (internal module) hook output: right-trimmed, one newline."""
    return text.rstrip() + "\n" if text else ""


# --------------------------------------------------------------------------------------------
# Station description
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StationNet:
    """How one station is reachable on this machine and how it identifies itself."""

    name: str
    address: str
    entity_id: str
    sip_port: int = 5060
    rtp_start: int = 10000
    rtp_end: int = 10999


@dataclass
class StationData:
    phones: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    sip_hosts: dict[str, list[str]]
    out_routes: list[dict[str, Any]]
    in_routes: list[dict[str, Any]]
    default_route: dict[str, Any] | None
    applications: list[dict[str, Any]]
    system_extensions: list[str]
    provider_types: dict[str, str]


def read_station(db: sqlite3.Connection) -> StationData:
    users = {u["id"]: u for u in _rows(db, "m_Users")}
    extensions = _rows(db, "m_Extensions")
    ext_by_number = {_s(e["number"]): e for e in extensions}
    phones = []
    for sip in _rows(db, "m_Sip", "type = 'peer' AND (disabled <> '1' OR disabled IS NULL)", "extension"):
        ext = ext_by_number.get(_s(sip["extension"]), {})
        user = users.get(ext.get("userid"))
        name = _s(user["username"]) if user else ""
        if not name:
            name = _s(ext.get("callerid")) or _s(sip["extension"])
        phones.append({**sip, "calleridname": name})
    providers = _rows(db, "m_Sip", "type = 'friend' AND (disabled <> '1' OR disabled IS NULL)", "id")
    hosts: dict[str, list[str]] = {}
    for row in _rows(db, "m_SipHosts", order="id"):
        hosts.setdefault(_s(row["provider_id"]), []).append(_s(row["address"]).replace("\n", ""))
    enabled = {_s(p["uniqid"]) for p in providers}
    out_routes = [r for r in _rows(db, "m_OutgoingRoutingTable", order="id") if _s(r["providerid"])]
    out_routes = [r for r in sorted(out_routes, key=_priority) if _s(r["providerid"]) in enabled]
    all_in = _rows(db, "m_IncomingRoutingTable", order="id")
    default = next((r for r in all_in if _priority(r) == 9999), None)
    if default is None:
        default = next((r for r in all_in if r["id"] == 1), None)
    in_routes = [r for r in all_in if _priority(r) != 9999]
    apps = _rows(db, "m_DialplanApplications", order="id")
    system = [_s(e["number"]) for e in extensions if _s(e["type"]) == "SYSTEM"]
    ptypes = {_s(p["uniqid"]): _s(p["type"]) for p in _rows(db, "m_Providers")}
    return StationData(phones, providers, hosts, out_routes, in_routes, default, apps, system, ptypes)


# --------------------------------------------------------------------------------------------
# pjsip.conf
# --------------------------------------------------------------------------------------------

def _incoming_context_id(host: str, port: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]", "", host + port) + "-incoming"


def _provider_context_ids(providers: list[dict[str, Any]]) -> dict[str, str]:
    """Provider uniqid -> its endpoint context: '<U>-incoming', or a context shared by providers
    with the same host and port (named from host and port)."""
    groups: dict[str, list[str]] = {}
    for p in providers:
        port = _s(p.get("port")) or "5060"
        groups.setdefault(_incoming_context_id(_s(p["host"]), port), []).append(_s(p["uniqid"]))
    result: dict[str, str] = {}
    for ctx, members in groups.items():
        for uniqid in members:
            result[uniqid] = f"{uniqid}-incoming" if len(members) == 1 else ctx
    return result


def _registration_type(p: Mapping[str, Any]) -> str:
    reg = _s(p.get("registration_type"))
    if reg:
        return reg
    return "outbound" if _s(p.get("noregister")) == "0" else "none"


def _kv(lines: list[str], key: str, value: str | None) -> None:
    if value:
        lines.append(f"{key} = {value}")


def render_pjsip(data: StationData, hooks: Mapping[str, str], net: StationNet) -> str:
    allow = "".join(f"allow = {c}\n" for c in CODECS)
    media = (
        f"bind_rtp_to_media_address = yes\nmedia_address = {net.address}\n"
    )
    out = [
        "[global]\ntype = global\ndisable_multi_domain=yes\n"
        "endpoint_identifier_order=username,ip,anonymous\nuser_agent = PBX\n",
        f"[transport-udp]\ntype = transport\nprotocol = udp\nbind={net.address}:{net.sip_port}\n",
        f"[transport-tcp]\ntype = transport\nprotocol = tcp\nbind={net.address}:{net.sip_port}\n",
        "[aor-common](!)\ntype = aor\nqualify_frequency = 60\nqualify_timeout = 5\nmax_contacts = 5\n"
        "remove_existing = yes\nremove_unavailable = yes\n",
        "[endpoint-base](!)\ntype = endpoint\ncontext = all_peers\ndisallow = all\n" + allow +
        "rtp_symmetric = yes\nforce_rport = yes\nrewrite_contact = yes\nice_support = no\n"
        "direct_media = no\nsend_pai = yes\nnamed_call_group = 1\nnamed_pickup_group = 1\n"
        f"sdp_session = PBX\nlanguage = {LANGUAGE}\ndevice_state_busy_at = 1\ntimers = no\n"
        "rtp_timeout = 120\nrtp_timeout_hold = 600\nrtp_keepalive = 30\nmessage_context = messages\n"
        f"inband_progress = yes\ntone_zone = {TONE_ZONE}\n" + media,
        "[endpoint-udp](endpoint-base,!)\ntransport = transport-udp\n",
        "[endpoint-tcp](endpoint-base,!)\ntransport = transport-tcp\n",
        "[registration-base](!)\ntype = registration\nretry_interval = 45\nmax_retries = 200\n"
        "forbidden_retry_interval = 300\nfatal_retry_interval = 300\nexpiration = 120\n",
        "[provider-aor-base](!)\ntype = aor\nmax_contacts = 1\nmaximum_expiration = 3600\n"
        "minimum_expiration = 60\ndefault_expiration = 120\n",
        "[provider-endpoint-base](!)\ntype = endpoint\ndisallow = all\n" + allow +
        "100rel = no\nrtp_symmetric = yes\nforce_rport = yes\nrewrite_contact = yes\nice_support = no\n"
        f"direct_media = no\nsdp_session = PBX\nlanguage = {LANGUAGE}\ntimers = no\nrtp_keepalive = 0\n"
        "rtp_timeout = 60\nrtp_timeout_hold = 300\ninband_progress = yes\n"
        f"tone_zone = {TONE_ZONE}\n" + media,
        "[provider-endpoint-udp](provider-endpoint-base,!)\ntransport = transport-udp\n",
        "[provider-endpoint-tcp](provider-endpoint-base,!)\ntransport = transport-tcp\n",
    ]
    contexts = _provider_context_ids(data.providers)
    for p in data.providers:
        out.append(_render_provider(p, data.sip_hosts.get(_s(p["uniqid"]), []), contexts[_s(p["uniqid"])]))
    peers = []
    for phone in data.phones:
        peers.append(_render_phone(phone))
    out.append("".join(peers) + module_block(hooks.get(HOOK_PEERS_PJ, "")))
    return "\n".join(out)


def _manual_lines(manual: Mapping[str, Mapping[str, str]], section: str) -> list[str]:
    items = manual.get(section, {})
    if not items:
        return []
    return ["; === Manual attributes ==="] + [f"{k} = {v}" for k, v in items.items() if k != "type"]


def _render_provider(p: Mapping[str, Any], hosts: list[str], context: str) -> str:
    uniqid = _s(p["uniqid"])
    reg = _registration_type(p)
    manual = parse_manual_attributes(_s(p.get("manualattributes")))
    host = _s(p["host"])
    port = _s(p.get("port")) or "5060"
    username = _s(p.get("username"))
    transport = _s(p.get("transport")).strip()
    if transport in ("", "auto"):
        transport = "udp"
    label = {"outbound": "OUTBOUND TRUNK", "inbound": "INBOUND TRUNK", "none": "PEER TRUNK"}.get(reg, "TRUNK")
    parts = [f"; {'=' * 60}\n; {label}: {_s(p.get('description')) or uniqid} ({transport.upper()})\n"
             f"; {'=' * 60}\n"]

    if reg == "outbound":
        lines = [f"[{uniqid}-REG-AUTH]", "type = auth", f"username = {username}",
                 f"password = {_s(p.get('secret'))}", *_manual_lines(manual, "registration-auth")]
        parts.append("\n".join(lines) + "\n")
        lines = [f"[{uniqid}-REG](registration-base)",
                 f"outbound_auth = {uniqid}-REG-AUTH",
                 f"server_uri = sip:{host}:{port}",
                 f"client_uri = sip:{username}@{host}:{port}",
                 f"contact_user = {username}",
                 f"transport = transport-{transport}",
                 f"endpoint = {uniqid}", *_manual_lines(manual, "registration")]
        parts.append("\n".join(lines) + "\n")
    if reg != "none":
        lines = [f"[{uniqid}-AUTH]", "type = auth", f"username = {username}",
                 f"password = {_s(p.get('secret'))}", *_manual_lines(manual, "endpoint-auth")]
        parts.append("\n".join(lines) + "\n")

    # AOR
    aor_name = username if reg == "inbound" else uniqid
    lines = [f"[{aor_name}](provider-aor-base)"]
    if reg == "outbound":
        lines.append(f"contact = sip:{username}@{host}:{port}")
    elif reg == "none":
        lines.append(f"contact = sip:{host}:{port}")
    if _s(p.get("qualify")) == "1":
        lines.append(f"qualify_frequency = {_s(p.get('qualifyfreq'))}")
        lines.append("qualify_timeout = 3.0")
    if _s(p.get("outbound_proxy")):
        lines.append(f"outbound_proxy = sip:{_s(p['outbound_proxy'])}\\;lr")
    lines += _manual_lines(manual, "aor")
    parts.append("\n".join(lines) + "\n")

    # identify
    matches = list(hosts)
    if host:
        matches.append(host)
    if _s(p.get("outbound_proxy")):
        matches.append(_s(p["outbound_proxy"]).split(":")[0])
    unique = list(dict.fromkeys(m for m in matches if m))
    if unique:
        lines = [f"[{uniqid}]", "type = identify", f"endpoint = {uniqid}", f"match = {','.join(unique)}"]
        lines += _manual_lines(manual, "identify")
        parts.append("\n".join(lines) + "\n")

    # endpoint
    fromdomain = _s(p.get("fromdomain")).strip() or host
    fromuser = _s(p.get("fromuser")).strip() or username
    if _s(p.get("disablefromuser")) == "1":
        from_user: str | None = None
        contact_user = username.strip()
    else:
        from_user = fromuser
        contact_user = fromuser
    dtmf = _s(p.get("dtmfmode"))
    dtmf = "rfc4733" if dtmf == "rfc2833" else dtmf
    endpoint_name = username if reg == "inbound" else uniqid
    if reg == "inbound":
        context = f"{username or uniqid}-incoming"
    lines = [f"[{endpoint_name}](provider-endpoint-{transport})", f"set_var = providerID={uniqid}"]
    _kv(lines, "context", context)
    _kv(lines, "dtmf_mode", dtmf)
    _kv(lines, "from_user", from_user)
    _kv(lines, "from_domain", fromdomain)
    _kv(lines, "contact_user", contact_user)
    _kv(lines, "aors", aor_name)
    if _s(p.get("outbound_proxy")):
        lines.append(f"outbound_proxy = sip:{_s(p['outbound_proxy'])}\\;lr")
    if reg == "outbound":
        lines.append(f"outbound_auth = {uniqid}-AUTH")
    elif reg == "inbound":
        lines.append(f"auth = {uniqid}-AUTH")
        lines.append("identify_by = username,auth_username")
    lines += _manual_lines(manual, "endpoint")
    parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _render_phone(phone: Mapping[str, Any]) -> str:
    ext = _s(phone["extension"])
    name = _s(phone.get("calleridname")).strip() or ext
    name = name[:40]
    manual = parse_manual_attributes(_s(phone.get("manualattributes")))
    dtmf = _s(phone.get("dtmfmode"))
    dtmf = "rfc4733" if dtmf == "rfc2833" else dtmf
    transport = _s(phone.get("transport")).strip()
    template = "endpoint-udp" if transport in ("", "auto") else f"endpoint-{transport}"
    auth = [f"[{ext}-AUTH]", "type = auth", f"username = {ext}", f"password = {_s(phone.get('secret'))}"]
    auth += [f"{k} = {v}" for k, v in manual.get("auth", {}).items() if k != "type"]
    aor = [f"[{ext}](aor-common)"] + [f"{k} = {v}" for k, v in manual.get("aor", {}).items() if k != "type"]
    endpoint = [f"[{ext}]({template})", f"callerid = {name} <{ext}>", f"aors = {ext}",
                f"auth = {ext}-AUTH", f"outbound_auth = {ext}-AUTH", f"dtmf_mode = {dtmf}"]
    endpoint += [f"{k} = {v}" for k, v in manual.get("endpoint", {}).items() if k != "type"]
    return (f"; --- PEER: {ext} - {name} ---\n" + "\n".join(auth) + "\n" + "\n".join(aor) + "\n\n"
            + "\n".join(endpoint) + "\n\n; ---\n\n")


# --------------------------------------------------------------------------------------------
# extensions.conf
# --------------------------------------------------------------------------------------------

def _exten_prefix(number: str) -> str:
    if number.startswith("_"):
        return ""
    return "_" if re.fullmatch(r"[.|!NXZ0-9\[\]\-]+", number) else ""


def render_extensions(data: StationData, hooks: Mapping[str, str], out_of_hours: bool = False) -> str:
    parts: list[str] = []
    parts.append("[globals]\nTRANSFER_CONTEXT=internal-transfer;\nMONITOR_INNER=1\n\n\n[general]\n")

    # extensionGenContexts, in Core's hook priority order: working hours (510), provider
    # incoming contexts (SIPConf, 540), applications (550), then external modules (10000).
    parts.append(core_block(_out_work_time_contexts(out_of_hours)))
    parts.append(core_block(_incoming_provider_contexts(data)))
    parts.append(core_block(_applications_context(data)))
    parts.append(module_block(hooks.get(HOOK_CONTEXTS, "")))
    parts.append("\n")
    parts.append(_internal_contexts(data, hooks))
    parts.append(_other_contexts())
    parts.append(_internal_transfer(data, hooks))
    parts.append(_internal_hints(data, hooks))
    parts.append(_outgoing(data, hooks))
    parts.append("\n[public-direct-dial] \n\n")
    parts.append(_cdr_event_stubs())
    return "".join(parts)


def _out_work_time_contexts(out_of_hours: bool) -> str:
    body = ["\n[check-out-work-time]", f"exten => {ALL_EXTEN},1,Set(currentYear=${{STRFTIME(,,%Y)}})"]
    if out_of_hours:
        # Stands for a time condition that matches now: Core jumps to the rule's action
        # (playback-exit -> Hangup() for a sound file).
        body.append("\tsame => n,NoOp(--- outside working hours: e2e station flag ---)")
        body.append("\tsame => n,Hangup()")
    body.append("\tsame => n,return")
    body.append("exten => _[hit],1,Hangup()")
    return "\n".join(body) + "\n"


def _incoming_provider_contexts(data: StationData) -> str:
    contexts = _provider_context_ids(data.providers)
    done: set[str] = set()
    out: list[str] = []
    for p in data.providers:
        uniqid = _s(p["uniqid"])
        ctx = contexts[uniqid]
        if ctx in done:
            continue
        done.add(ctx)
        if ctx == f"{uniqid}-incoming":
            reg = _registration_type(p)
            name = _s(p.get("username")) if reg == "inbound" and _s(p.get("username")) else uniqid
            routes = [r for r in data.in_routes if _s(r.get("provider")) == uniqid]
            out.append(_incoming_context(name, routes, data))
        else:
            members = {_s(q["uniqid"]) for q in data.providers if contexts[_s(q["uniqid"])] == ctx}
            routes = [r for r in data.in_routes if _s(r.get("provider")) in members]
            out.append(_incoming_context(ctx[: -len("-incoming")], routes, data))
    return "".join(out)


def _incoming_context(name: str, routes: list[dict[str, Any]], data: StationData) -> str:
    routes = sorted(routes, key=lambda r: (_priority(r), _s(r.get("extension"))))
    if not any(_s(r.get("number")).strip() in ("", "X!") for r in routes):
        routes.append({"number": "", "extension": "", "timeout": ""})
    heads: dict[str, str] = {}
    dials: dict[str, str] = {}
    for route in routes:
        number = _s(route.get("number")).strip() or "X!"
        if number not in heads:
            heads[number] = "\n\t".join([
                f"exten => {_exten_prefix(number)}{number},1,NoOp(--- Incoming call ---)",
                f"same => n,Set(CHANNEL(language)={LANGUAGE})",
                "same => n,Set(CHANNEL(hangup_handler_wipe)=hangup_handler,s,1)",
                "same => n,Set(__FROM_DID=${EXTEN})",
                "same => n,Set(__FROM_CHAN=${CHANNEL})",
                "same => n,Set(__M_CALLID=${CHANNEL(callid)})",
                'same => n,ExecIf($["${CHANNEL(channeltype)}" != "Local"]?Gosub(set_from_peer,s,1))',
                'same => n,ExecIf($["${CHANNEL(channeltype)}" == "Local"]?Set(__FROM_PEER=${CALLERID(num)}))',
                "same => n,Gosub(add-trim-prefix-clid,${EXTEN},1)",
                "same => n,Set(__TRANSFER_OPTIONS=t)",
                # Working-hours check (ExtensionsOutWorkTimeConf's incoming hook).
                "same => n,NoOp(contextID: ${contextID})",
                'same => n,ExecIf($["${contextID}x" == "x"]?Set(contextID=${CONTEXT}))',
                'same => n,GosubIf($["${IGNORE_TIME}" != "1"]?check-out-work-time,${EXTEN},1)',
                'same => n,GosubIf($["${DIALPLAN_EXISTS(${CONTEXT}-custom,${EXTEN},1)}" == "1"]'
                "?${CONTEXT}-custom,${EXTEN},1)",
            ])
        extension = _s(route.get("extension"))
        if not extension:
            continue
        timeout = _s(route.get("timeout")).strip()
        if extension in data.system_extensions:
            cmd = ('same => n,ExecIf($["${M_DIALSTATUS}" != "ANSWER" && "${M_DIALSTATUS}" != "BUSY"]?'
                   f"Goto(internal,{extension},1));")
        else:
            cmd = (f"same => n,Set(M_TIMEOUT={timeout})\n\t"
                   'same => n,ExecIf($["${M_DIALSTATUS}" != "ANSWER" && "${M_DIALSTATUS}" != "BUSY"]?'
                   f"Dial(Local/{extension}@internal-incoming,{timeout},${{TRANSFER_OPTIONS}}Kg));")
        dials[number] = dials.get(number, "") + "\n\t" + cmd
    out = [f"\n[{name}-incoming]"]
    default = data.default_route
    for number, head in heads.items():
        block = head + dials.get(number, "") + "\n"
        if default is not None and _s(default.get("extension")):
            ext = _s(default["extension"])
            block += "\tsame => n,Set(M_TIMEOUT=0)\n"
            if ext in data.system_extensions:
                block += ('\tsame => n,ExecIf($["${M_DIALSTATUS}" != "ANSWER" && "${M_DIALSTATUS}" != "BUSY"]?'
                          f"Goto(internal,{ext},1)); default action\n")
            else:
                block += ('\tsame => n,ExecIf($["${M_DIALSTATUS}" != "ANSWER" && "${M_DIALSTATUS}" != "BUSY"]?'
                          f"Dial(Local/{ext}@internal,,${{TRANSFER_OPTIONS}}Kg)); default action\n")
            block += ('\tsame => n,ExecIf($["${M_DIALSTATUS}" == "BUSY"]?Busy(2));\n')
        block += "\tsame => n,Hangup()\n"
        out.append(block)
    return "\n".join(out)


def _applications_context(data: StationData) -> str:
    out = ["\n[applications]"]
    for app in data.applications:
        if _s(app.get("type")) != "plaintext":
            continue
        logic = decode_manual_attributes(_s(app.get("applicationlogic")))
        rows = [r for r in logic.strip().split("\n") if r.strip()]
        for i, row in enumerate(rows):
            out.append(f"exten => _{_s(app['extension'])},{row}" if i == 0 else f"\tsame => {row}")
    return "\n".join(out) + "\n"


def _internal_contexts(data: StationData, hooks: Mapping[str, str]) -> str:
    phones = [_s(p["extension"]) for p in data.phones]
    internal = "".join(f"exten => {e},1,Goto(internal-users,{e},1) \n" for e in phones) + "\n"
    return "".join([
        "[internal-num-undefined] \n",
        'exten => _X!,1,ExecIf($["${ISTRANSFER}x" != "x"]?Goto(transfer_dial_hangup,${EXTEN},1))\n\t',
        "same => n,Playback(pbx-invalid,noanswer) \n\n",
        "[set-dial-contacts]\nexten => _X!,1,NoOp()\n\t",
        "same => n,Set(DST_CONTACT=${PJSIP_DIAL_CONTACTS(${EXTEN})})\n\tsame => n,return\n\n",
        "[internal-fw]\n",
        'exten => h,1,ExecIf($["${ISTRANSFER}x" != "x"]?Goto(transfer_dial_hangup,${EXTEN},1))\n',
        "exten => _X!,1,NoOp(DIALSTATUS - ${DIALSTATUS})\n\t",
        'same => n,ExecIf($["${DIALSTATUS}" == "CANCEL"]?Hangup())\n\t',
        # Forwarding as Core does it: AstDB FW_BUSY/<n>, FW_UNAV/<n> or FW/<n> (no answer) names the target.
        'same => n,ExecIf($["${DIALSTATUS}" == "BUSY"]?Set(dstatus=FW_BUSY))\n\t',
        'same => n,ExecIf($["${DIALSTATUS}" == "CHANUNAVAIL"]?Set(dstatus=FW_UNAV))\n\t',
        'same => n,ExecIf($["${dstatus}x" == "x"]?Set(dstatus=FW))\n\t',
        "same => n,Set(fw=${DB(${dstatus}/${EXTEN})})\n\t",
        'same => n,ExecIf($["${fw}x" != "x"]?Set(__FW_SOURCE_PEER=${EXTEN}))\n\t',
        'same => n,ExecIf($["${fw}x" != "x"]?Wait(1))\n\t',
        'same => n,ExecIf($["${fw}x" != "x"]?Goto(internal,${fw},1))\n\t',
        'same => n,ExecIf($["${DIALSTATUS}" == "BUSY"]?Busy(2):Hangup())\n\n',
        "[all_peers]\ninclude => internal-hints\nexten => failed,1,Hangup()\n",
        f"exten => {ALL_EXTEN},1,NoOp(--- call from a phone ---)\n\t",
        "same => n,Set(cleanNumber=${FILTER(\\*\\#\\+1234567890,${EXTEN})})\n\t",
        'same => n,ExecIf($["${EXTEN}" != "${cleanNumber}"]?Goto(${CONTEXT},${cleanNumber},$[${PRIORITY} + 1]))\n\t',
        "same => n,Set(__FROM_CHAN=${CHANNEL})\n\t",
        "same => n,Set(__M_CALLID=${CHANNEL(callid)})\n\t",
        'same => n,ExecIf($["${CHANNEL(channeltype)}" != "Local"]?Gosub(set_from_peer,s,1))\n\t',
        'same => n,ExecIf($["${CALLERID(num)}x" == "x"]?Set(CALLERID(num)=${FROM_PEER}))\n\t',
        "same => n,Set(CHANNEL(hangup_handler_wipe)=hangup_handler,s,1)\n\t",
        "same => n,Gosub(${ISTRANSFER}dial,${EXTEN},1)\n\t",
        CUSTOM_GOSUB + "\n\t",
        *[
            f'same => n,GosubIf($["${{DIALPLAN_EXISTS({n},${{EXTEN}},1)}}" == "1"]?{n},${{EXTEN}},1) \n\t'
            for n in ("applications", "internal", "outgoing")
        ],
        "same => n,Hangup() \n",
        "exten => _[hit],1,Hangup() \n\n",
        "[internal] \n",
        core_block("include => applications \n"),
        module_block(hooks.get(HOOK_INCLUDE_INTERNAL, "")),
        core_block(internal),
        module_block(hooks.get(HOOK_INTERNAL, "")),
        "exten => i,1,NoOp(-- INVALID NUMBER --)\n\tsame => n,Set(DIALSTATUS=INVALID_NUMBER)\n\t",
        "same => n,Playback(privacy-incorrect,noanswer)\n\tsame => n,Hangup()\n",
        'exten => h,1,ExecIf($["${ISTRANSFER}x" != "x"]?Goto(transfer_dial_hangup,${EXTEN},1))\n\n',
        "exten => hangup,1,Set(MASTER_CHANNEL(M_DIALSTATUS)=ANSWER)\n\tsame => n,Hangup()\n",
        "exten => busy,1,Set(MASTER_CHANNEL(M_DIALSTATUS)=BUSY)\n\tsame => n,Busy(2)\n",
        # did2user exactly as Core writes it.
        'exten => did2user,1,ExecIf($["${FROM_DID}x" != "x" && ${DIALPLAN_EXISTS(internal,${FROM_DID},1)} ]'
        "?Goto(internal,${FROM_DID},1))\n\t",
        "same => n,Hangup()\n\n",
        "[internal-incoming]\n",
        f"exten => {ALL_EXTEN},1,ExecIf($[\"${{MASTER_CHANNEL(M_TIMEOUT)}}x\" != \"x\"]"
        "?Set(TIMEOUT(absolute)=${MASTER_CHANNEL(M_TIMEOUT)}))\n\t",
        "same => n,Set(MASTER_CHANNEL(M_TIMEOUT_CHANNEL)=${CHANNEL})\n\t",
        "same => n,Set(MASTER_CHANNEL(M_TIMEOUT)=${EMPTY_VAR})\n\t",
        "same => n,Goto(internal,${EXTEN},1)\n",
        "exten => _[hit],1,Hangup()\n\n",
        "[internal-users] \n",
        "exten => _X!,1,Set(CHANNEL(hangup_handler_wipe)=hangup_handler,s,1) \n\t",
        "same => n,Gosub(${ISTRANSFER}dial,${EXTEN},1)\n\t",
        'same => n,ExecIf($["${PJSIP_ENDPOINT(${EXTEN},auth)}x" == "x"]?Goto(internal-num-undefined,${EXTEN},1)) \n\t',
        'same => n,ExecIf($["${DEVICE_STATE(PJSIP/${EXTEN})}" == "BUSY"]?Set(IS_BUSY=1)) \n\t',
        'same => n,ExecIf($["${IS_BUSY}" == "1"]?Set(DIALSTATUS=BUSY)) \n\t',
        'same => n,GotoIf($["${IS_BUSY}" == "1"]?fw_start) \n\t',
        # The ring time as Core sets it: the forwarding time from AstDB, 600 s when none or no forwarding.
        "same => n,Set(ringlength=${DB(FW_TIME/${EXTEN})}) \n\t",
        'same => n,ExecIf($["${ringlength}x" == "x"]?Set(ringlength=600)) \n\t',
        'same => n,ExecIf($["${DB(FW/${EXTEN})}x" == "x"]?Set(ringlength=600)) \n\t',
        CUSTOM_GOSUB + " \n\t",
        "same => n,Gosub(set-dial-contacts,${EXTEN},1) \n\t",
        'same => n,ExecIf($["${TRANSFER_OPTIONS}x" == "x" || "${ISTRANSFER}x" != "x"]?Set(TRANSFER_OPTIONS=Tt)) \n\t',
        'same => n,ExecIf($["${DST_CONTACT}x" != "x"]?Dial(${DST_CONTACT},${ringlength},${TRANSFER_OPTIONS}'
        "ekKHhU(${ISTRANSFER}dial_answer)b(dial_create_chan,s,1)):Set(DIALSTATUS=CHANUNAVAIL)) \n\t",
        "same => n(fw_start),NoOp() \n\t",
        'same => n,ExecIf($["${DIALSTATUS}" != "ANSWER"]?Goto(internal-fw,${EXTEN},1)) \n\t',
        "same => n(fw_end),Hangup()\n\n",
        'exten => h,1,ExecIf($["${ISTRANSFER}x" != "x"]?Goto(transfer_dial_hangup,${EXTEN},1))\n\n',
    ])


def _other_contexts() -> str:
    return "".join([
        "[messages]\nexten => _X.,1,HangUp()\n\n",
        "[dial_create_chan] \n",
        "exten => s,1,Gosub(lua_${ISTRANSFER}dial_create_chan,${EXTEN},1)\n\t",
        "same => n,Set(pt1c_is_dst=1) \n\t",
        "same => n,Set(CHANNEL(hangup_handler_wipe)=hangup_handler,s,1) \n\t",
        "same => n,return\n\n",
        "[hangup_handler]\nexten => s,1,NoOp(--- hangup - ${CHANNEL} ---)\n\t",
        "same => n,Gosub(hangup_chan,${EXTEN},1)\n\tsame => n,return\n\n",
        "[add-trim-prefix-clid]\n",
        f"exten => {ALL_NUMBER_EXTEN},1,NoOp(--- Incoming call from ${{CALLERID(num)}} ---)\n\t",
        CUSTOM_GOSUB + "\n\t",
        "same => n,return\n\n",
        "exten => _X!,1,NoOp(--- Incoming call from ${CALLERID(num)} ---)\n\t",
        CUSTOM_GOSUB + "\n\t",
        "same => n,return\n\n",
    ])


def _internal_transfer(data: StationData, hooks: Mapping[str, str]) -> str:
    rules = ""
    for phone in data.phones:
        e = _s(phone["extension"])
        rules += (f"exten => {e},1,Set(__ISTRANSFER=transfer_) \n"
                  "\tsame => n,Set(__QUEUE_SRC_CHAN=${EMPTY}) \n"
                  f"\tsame => n,Goto(internal-users,{e},1) \n")
    return ("[internal-transfer] \n" + module_block(hooks.get(HOOK_INCLUDE_TRANSFER, ""))
            + core_block(rules + "\n") + module_block(hooks.get(HOOK_TRANSFER, ""))
            + "exten => h,1,Goto(transfer_dial_hangup,${EXTEN},1)\n\n")


def _internal_hints(data: StationData, hooks: Mapping[str, str]) -> str:
    phones = "".join(
        f"exten => {_s(p['extension'])},hint,PJSIP/{_s(p['extension'])}&Custom:{_s(p['extension'])} \n"
        for p in data.phones
    )
    apps = "".join(
        f"exten => {_s(a['extension'])},hint,Custom:{_s(a['extension'])} \n"
        for a in data.applications if _s(a.get("extension")).isdigit()
    )
    return ("[internal-hints] \n" + core_block(phones) + core_block(apps)
            + module_block(hooks.get(HOOK_HINTS, "")) + "\n\n")


def _out_route_hook(route: Mapping[str, Any], hooks: Mapping[str, str]) -> str:
    """What `hookModulesMethod(GENERATE_OUT_ROUT_CONTEXT, [$rout])` adds inside a route's context before its Dial:
    Core's ExtensionsAnnounceRecording (priority 580) first, then the module (Lib/PbxFederationConf.php gives its
    hooks.json text only to the routes whose note starts with contract.json's `fallback_route_note_prefix`); Core
    then trims the whole and adds a newline and a tab."""
    text = "same => n,Set(_OUT_NEED_ANNONCE=1)\n"
    module = hooks.get(HOOK_OUT_ROUTE, "")
    if module and _s(route.get("note")).startswith(FALLBACK_NOTE_PREFIX):
        text += module_block(module)
    return text.strip() + "\n\t"


def _outgoing(data: StationData, hooks: Mapping[str, str]) -> str:
    head = [
        "[outgoing] \n",
        "exten => _+.!,1,NoOp(Strip + sign from number) \n\t",
        "same => n,Goto(${CONTEXT},${EXTEN:1},1); \n\n",
        f"exten => {ALL_NUMBER_EXTEN},1,Ringing() \n\t",
        "same => n,Set(src_number=${EXTEN})\n\t",
        CUSTOM_GOSUB + "\n\t",
    ]
    bodies: list[str] = []
    for route in data.out_routes:
        provider = _s(route["providerid"])
        if data.provider_types.get(provider, "SIP") != "SIP":
            continue
        ctx = f"{provider}-{route['id']}-outgoing"
        try:
            rest = int(_s(route.get("restnumbers")) or 0)
        except ValueError:
            rest = 0
        tail = f"[0-9]{{{_s(route.get('restnumbers'))}}}$" if rest > 0 else ("$" if rest == 0 else "")
        begins = _s(route.get("numberbeginswith")).replace("*", "\\\\*").replace("+", "\\\\+")
        head.append(f'same => n,ExecIf($["${{REGEX("^{begins}{tail}" ${{EXTEN}})}}" == "1"]'
                    f"?Gosub({ctx},${{EXTEN}},1)) \n\t")
        try:
            trim = int(_s(route.get("trimfrombegin")) or 0)
        except ValueError:
            trim = 0
        number = _s(route.get("prepend")) + (f"${{EXTEN:{trim}}}" if trim > 0 else "${EXTEN}")
        bodies.append("".join([
            f"\n[{ctx}]\n",
            f"exten => {ALL_NUMBER_EXTEN},1,Set(number={number})\n\t",
            "same => n,Set(number=${FILTER(\\*\\#\\+1234567890,${number})})\n\t",
            'same => n,ExecIf($["${number}x" == "x"]?Hangup())\n\t',
            "same => n,Set(ROUTFOUND=1)\n\t",
            f"same => n,Set(_PROVIDER_ID={provider})\n\t",
            f"same => n,Set(DIAL_COMMAND=PJSIP/${{number}}@{provider})\n\t",
            "same => n,Set(DIAL_TIMOUT=600)\n\t",
            'same => n,GosubIf($["${DIALPLAN_EXISTS(all-outgoing-custom,${EXTEN},1)}" == "1"]'
            "?all-outgoing-custom,${EXTEN},1)\n\t",
            f'same => n,GosubIf($["${{DIALPLAN_EXISTS({provider}-outgoing-custom,${{EXTEN}},1)}}" == "1"]'
            f"?{provider}-outgoing-custom,${{EXTEN}},1)\n\t",
            'same => n,ExecIf($["${NEED_RETURN}" == "1"]?return)\n\t',
            _out_route_hook(route, hooks),
            "same => n,Gosub(${ISTRANSFER}dial,${EXTEN},1)\n\t",
            "same => n,Set(DIAL_OUT_ANSWER_OPTIONS=U(${ISTRANSFER}dial_answer))\n\t",
            "same => n,Dial(${DIAL_COMMAND},${DIAL_TIMOUT},"
            "${DOPTIONS}TK${DIAL_OUT_ANSWER_OPTIONS}b(dial_create_chan,s,1))\n\t",
            # Core's spelling, the parenthesis misplaced on purpose: DIALPLAN_EXISTS reads up to the last ')'.
            f'same => n,GosubIf($["${{DIALPLAN_EXISTS({provider}-outgoing-after-dial-custom,${{EXTEN}}),1}}" == "1"]'
            f"?{provider}-outgoing-after-dial-custom,${{EXTEN}},1)\n\t",
            'same => n,ExecIf($["${ISTRANSFER}x" != "x"]?Gosub(transfer_dial_hangup,${EXTEN},1))\n\t',
            'same => n,ExecIf($["${DIALSTATUS}" = "ANSWER"]?Hangup())\n\t',
            'same => n,ExecIf($["${DIALSTATUS}" = "BUSY"]?Busy(2))\n\t',
            "same => n,return\n",
        ]))
    head += [
        'same => n,ExecIf($["${ROUTFOUND}x" == "x"]?Gosub(dial,${EXTEN},1))\n\t',
        "same => n,Playback(silence/2,noanswer) \n\t",
        'same => n,ExecIf($["${ROUTFOUND}x" != "x"]?Playback(followme/sorry,noanswer)'
        ":Playback(cannot-complete-as-dialed,noanswer)) \n\t",
        "same => n,Hangup() \n\n",
        'exten => h,1,ExecIf($["${ISTRANSFER}x" != "x"]?Goto(transfer_dial_hangup,${EXTEN},1))\n\t',
    ]
    return "".join(head) + "".join(bodies)


def _cdr_event_stubs() -> str:
    """Core implements these Gosub targets in Lua (CDR/event bookkeeping); here they only return,
    except set_from_peer, which sets FROM_PEER like Core's Lua does."""
    names = ("dial", "transfer_dial", "dial_answer", "transfer_dial_answer", "lua_dial_create_chan",
             "lua_transfer_dial_create_chan", "hangup_chan", "dial_end", "dial_app",
             "dial_outworktimes")
    out = [f"\n[{n}]\nexten => _.!,1,Return()\n" for n in names]
    out.append("\n[transfer_dial_hangup]\nexten => _.!,1,NoOp(--- transfer dial hangup ---)\n\tsame => n,Return()\n")
    out.append(
        "\n[set_from_peer]\nexten => _.!,1,Set(peerchan=${CHANNEL:0:-9})\n\t"
        "same => n,Set(__FROM_PEER=${CUT(peerchan,/,2)})\n\tsame => n,Return()\n"
    )
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Station files
# --------------------------------------------------------------------------------------------

NOLOAD = (
    "chan_iax2", "pbx_dundi", "res_xmpp", "chan_motif", "res_hep", "res_hep_pjsip", "res_hep_rtcp",
    "res_ari", "res_ari_applications", "res_ari_asterisk", "res_ari_bridges", "res_ari_channels",
    "res_ari_device_states", "res_ari_endpoints", "res_ari_events", "res_ari_model", "res_ari_playbacks",
    "res_ari_recordings", "res_ari_sounds", "app_stasis", "app_stasis_broadcast", "res_stasis",
    "res_stasis_answer", "res_stasis_broadcast", "res_stasis_device_state", "res_stasis_playback",
    "res_stasis_recording", "res_stasis_snoop", "res_stasis_test",
    "cdr_adaptive_odbc", "cdr_custom", "cdr_manager", "cdr_odbc", "cdr_pgsql", "cdr_radius",
    "cdr_sqlite3_custom", "cdr_tds", "cel_custom", "cel_manager", "cel_odbc", "cel_pgsql", "cel_radius",
    "cel_sqlite3_custom", "cel_tds", "res_cdrel_custom", "res_odbc", "res_odbc_transaction",
    "res_config_odbc", "res_config_pgsql", "res_config_ldap", "res_config_curl", "res_config_sqlite3",
    "res_curl", "func_curl", "res_stir_shaken", "res_pjsip_stir_shaken", "res_phoneprov",
    "res_pjsip_phoneprov_provider", "res_http_websocket", "res_pjsip_transport_websocket",
    "res_http_media_cache", "res_http_post", "chan_websocket", "res_websocket_client", "chan_console",
    "chan_unistim", "chan_audiosocket", "res_audiosocket", "app_audiosocket", "res_snmp", "res_statsd",
    "res_prometheus", "res_calendar", "res_calendar_caldav", "res_calendar_ews", "res_calendar_exchange",
    "res_calendar_icalendar", "pbx_lua", "pbx_ael", "res_ael_share", "pbx_realtime", "res_realtime",
    "res_sorcery_realtime", "res_smdi", "app_voicemail", "app_voicemail_odbc", "app_minivm", "res_fax",
    "res_fax_spandsp", "res_aeap", "res_speech_aeap", "res_pjsip_aoc", "app_alarmreceiver",
    "res_stun_monitor", "res_resolver_unbound", "func_odbc", "app_jack", "app_festival", "res_mwi_devstate",
    "app_queue", "res_parking", "app_agent_pool", "app_confbridge", "bridge_softmix", "app_sms",
    "app_followme", "res_pjsip_geolocation", "res_geolocation", "pbx_spool", "res_manager_presencestate",
    "res_manager_devicestate", "app_externalivr", "res_rtp_multicast", "chan_rtp", "app_page",
)


def modules_conf() -> str:
    lines = ["[modules]", "autoload=yes"]
    lines += [f"noload => {name}.so" for name in NOLOAD]
    lines += ["load => res_pjsip_publish_asterisk.so", "load => res_pjsip_outbound_publish.so"]
    return "\n".join(lines) + "\n"


def asterisk_conf(base: str, module_dir: str, entity_id: str) -> str:
    return (
        "[directories]\n"
        f"astetcdir => {base}/etc\n"
        f"astmoddir => {module_dir}\n"
        f"astvarlibdir => {base}/lib\n"
        f"astdbdir => {base}/lib\n"
        f"astkeydir => {base}/lib\n"
        "astdatadir => /usr/share/asterisk\n"
        "astagidir => /usr/share/asterisk/agi-bin\n"
        f"astspooldir => {base}/spool\n"
        f"astrundir => {base}/run\n"
        f"astlogdir => {base}/log\n"
        "astsbindir => /usr/sbin\n\n"
        "[options]\n"
        f"entityid = {entity_id}\n"
        "verbose = 3\n"
        "debug = 0\n"
        "maxload = 0\n"
        "hideconnect = yes\n"
        "transmit_silence = no\n"
        "defaultlanguage = en\n"
    )


def logger_conf() -> str:
    return ("[general]\ndateformat=%F %T.%3q\n\n[logfiles]\n"
            "messages.log => notice,warning,error,verbose\n")


def rtp_conf(net: StationNet) -> str:
    return (f"[general]\nrtpstart={net.rtp_start}\nrtpend={net.rtp_end}\n"
            "rtpchecksums=no\nstrictrtp=no\nicesupport=no\n")


# --------------------------------------------------------------------------------------------
# manager.conf
# --------------------------------------------------------------------------------------------

AMI_CLASSES = ("call", "cdr", "originate", "reporting", "agent", "config", "dialplan", "dtmf", "log", "system",
               "command", "verbose", "user")


def render_manager(db: sqlite3.Connection, net: StationNet) -> str:
    """manager.conf as Core 2026.1 writes it (src/Core/Asterisk/Configs/ManagerConf.php): [general] on AMIPort, then,
    when AMIEnabled is '1', one section per m_AsteriskManagerUsers row: secret, the ACL (networkfilterid 'localhost'
    = permit 127.0.0.1 only, else the filter's permit/deny), read/write from the per-class readwrite|read|write
    columns, Core's two event filters, then the row's own (one a line) or Core's default `!Event: Newexten`; then
    Core's `phpagi` user. Departures: `bindaddr` is the station's own address (Core binds 0.0.0.0; here several
    stations share one namespace), no channelvars, no webenabled/AJAM, no Docker ACL files."""
    settings = {str(r["key"]): _s(r["value"]) for r in _rows(db, "m_PbxSettings")}
    port = settings.get("AMIPort") or "5038"
    conf = (f"[general]\nenabled = yes\nport = {port}\nbindaddr = {net.address}\ndisplayconnects = no\n"
            "allowmultiplelogin = yes\ntimestampevents = yes\n\n")
    if (settings.get("AMIEnabled") or "1") == "1":
        filters = {str(r["id"]): r for r in _rows(db, "m_NetworkFilters")}
        for user in _rows(db, "m_AsteriskManagerUsers", order="id"):
            fid = _s(user.get("networkfilterid"))
            if fid == "localhost":
                permit, deny = "127.0.0.1/255.255.255.255", "0.0.0.0/0.0.0.0"
            else:
                nf = filters.get(fid, {})
                permit, deny = _s(nf.get("permit")), _s(nf.get("deny"))
            conf += f"[{_s(user['username'])}]\nsecret={_s(user['secret'])}\n"
            if deny.strip():
                conf += f"deny={deny}\n"
            if permit.strip():
                conf += f"permit={permit}\n"
            read = [c for c in AMI_CLASSES if _s(user.get(c)) in ("readwrite", "read")]
            write = [c for c in AMI_CLASSES if _s(user.get(c)) in ("readwrite", "write")]
            conf += f"read={','.join(read)}\n" if read else ""
            conf += f"write={','.join(write)}\n" if write else ""
            conf += "eventfilter=!UserEvent: CdrConnector\neventfilter=!UserEvent: Ping_\n"
            own = [f.strip() for f in _s(user.get("eventfilter")).splitlines() if f.strip()]
            conf += "".join(f"eventfilter={f}\n" for f in own) if own else "eventfilter=!Event: Newexten\n"
            conf += "\n"
    conf += ("[phpagi]\nsecret=phpagi\ndeny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\nread=all\n"
             "write=all\neventfilter=!Event: Newexten\n\n")
    return conf


EMPTY_CONFIGS = (
    "acl.conf", "cel.conf", "ccss.conf", "features.conf", "indications.conf",
    "musiconhold.conf", "pjproject.conf", "sorcery.conf", "udptl.conf", "codecs.conf", "say.conf",
    "cli.conf", "cli_permissions.conf", "dnsmgr.conf", "http.conf", "enum.conf", "res_parking.conf",
    "extconfig.conf", "stasis.conf", "pjsip_notify.conf", "pjsip_wizard.conf", "followme.conf",
    "hep.conf", "statsd.conf", "dsp.conf", "prometheus.conf", "confbridge.conf", "queues.conf",
    "queuerules.conf", "app_mysql.conf", "res_pktccops.conf", "smdi.conf", "geolocation.conf",
    "cli_aliases.conf", "iax.conf", "iaxprov.conf", "sla.conf", "res_fax.conf", "amd.conf",
    "aeap.conf", "res_stun_monitor.conf", "stir_shaken.conf", "calendar.conf", "chan_dahdi.conf",
    "voicemail.conf", "minivm.conf",
)


def write_station(
    directory: Path,
    db: sqlite3.Connection,
    hooks: Mapping[str, str],
    net: StationNet,
    *,
    base_as_seen_by_asterisk: str | None = None,
    module_dir: str = "/usr/lib/x86_64-linux-gnu/asterisk/modules",
    out_of_hours: bool = False,
) -> Path:
    """Render every file one station needs under `directory`; return its asterisk.conf.

    `base_as_seen_by_asterisk` is the same folder's path inside the chroot (default: the same path).
    """
    base = base_as_seen_by_asterisk or str(directory)
    etc = directory / "etc"
    for sub in ("etc", "lib", "lib/keys", "spool", "run", "log", "log/cdr-csv", "spool/outgoing"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    data = read_station(db)
    (directory / "asterisk.conf").write_text(asterisk_conf(base, module_dir, net.entity_id))
    # Asterisk reads asterisk.conf from astetcdir too on reload paths; keep both identical.
    (etc / "asterisk.conf").write_text(asterisk_conf(base, module_dir, net.entity_id))
    for name in EMPTY_CONFIGS:
        (etc / name).write_text("")
    (etc / "modules.conf").write_text(modules_conf())
    (etc / "logger.conf").write_text(logger_conf())
    (etc / "rtp.conf").write_text(rtp_conf(net))
    # CDR to <astlogdir>/cdr-csv/Master.csv (cdr_csv does not create the folder: made above; it reads
    # its [csv] section from cdr.conf and declines to load, silently, without one).
    (etc / "cdr.conf").write_text("[general]\nenable = yes\nunanswered = yes\n\n"
                                  "[csv]\nusegmtime = no\nloguniqueid = yes\nloguserfield = no\naccountlogs = no\n")
    (etc / "pjsip.conf").write_text(render_pjsip(data, hooks, net))
    (etc / "extensions.conf").write_text(render_extensions(data, hooks, out_of_hours=out_of_hours))
    (etc / "manager.conf").write_text(render_manager(db, net))
    return directory / "asterisk.conf"


def rerender_dialplan_and_pjsip(
    directory: Path, db: sqlite3.Connection, hooks: Mapping[str, str], net: StationNet,
    *, out_of_hours: bool = False,
) -> None:
    data = read_station(db)
    (directory / "etc" / "pjsip.conf").write_text(render_pjsip(data, hooks, net))
    (directory / "etc" / "extensions.conf").write_text(render_extensions(data, hooks, out_of_hours=out_of_hours))
    (directory / "etc" / "manager.conf").write_text(render_manager(db, net))
