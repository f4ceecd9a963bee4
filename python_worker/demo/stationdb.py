"""Builds MikoPBX-schema config databases (the tables this module reads and writes) for demos and tests."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

# Column lists follow MikoPBX Core's models; 2024.1 has receive_calls_without_auth,
# 2026.1 drops it and adds the CID/DID parser columns (docs/platform.md#config-database).
_SIP_COMMON = """
    `id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `uniqid` VARCHAR(0) NULL, `disabled` VARCHAR(1) NOT NULL,
    `extension` VARCHAR(0) NULL, `type` VARCHAR(0) NULL, `registration_type` VARCHAR(0) NULL,
    `host` VARCHAR(0) NULL, `port` INTEGER NULL, `username` VARCHAR(0) NULL, `secret` VARCHAR(0) NULL,
    `transport` VARCHAR(0) NULL, `outbound_proxy` VARCHAR(0) NULL, `fromuser` VARCHAR(0) NULL,
    `fromdomain` VARCHAR(0) NULL, `nat` VARCHAR(0) NULL, `dtmfmode` VARCHAR(0) NULL, `qualifyfreq` INTEGER NULL,
    `qualify` VARCHAR(1) NULL, `networkfilterid` INTEGER NULL, `manualattributes` VARCHAR(0) NULL,
    `disablefromuser` VARCHAR(1) DEFAULT "0" NULL, `noregister` VARCHAR(1) DEFAULT "0" NULL,
    `description` VARCHAR(0) NULL, `enableRecording` INTEGER DEFAULT "1" NULL, `weakSecret` INTEGER DEFAULT "0" NULL"""
_SIP_2024 = _SIP_COMMON + ', `receive_calls_without_auth` VARCHAR(1) DEFAULT "0" NULL'
_SIP_2026 = _SIP_COMMON + """, `cid_source` VARCHAR(0) NULL, `cid_custom_header` VARCHAR(0) NULL,
    `cid_parser_start` VARCHAR(0) NULL, `cid_parser_end` VARCHAR(0) NULL, `cid_parser_regex` VARCHAR(0) NULL,
    `did_source` VARCHAR(0) NULL, `did_custom_header` VARCHAR(0) NULL, `did_parser_start` VARCHAR(0) NULL,
    `did_parser_end` VARCHAR(0) NULL, `did_parser_regex` VARCHAR(0) NULL, `cid_did_debug` VARCHAR(1) NULL"""

_AMI_COMMON = ("`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `username` VARCHAR(0) NULL, `secret` VARCHAR(0) NULL, "
               + ", ".join(f"`{c}` VARCHAR(0) NULL" for c in ("call", "cdr", "originate", "reporting", "agent",
                                                               "config", "dialplan", "dtmf", "log", "system", "user",
                                                               "verbose", "command"))
               + ', `networkfilterid` INTEGER NULL, `description` VARCHAR(0) NULL, `weakSecret` VARCHAR(0) DEFAULT "0"')
_AMI_2024 = _AMI_COMMON
_AMI_2026 = _AMI_COMMON + ", `eventfilter` VARCHAR(0) NULL"  # 2026.1 adds per-user event filters

_TABLES = {
    "m_PbxSettings": "`key` VARCHAR(0) PRIMARY KEY NOT NULL, `value` VARCHAR(0) NULL",
    "m_Users": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `email` VARCHAR(0) NULL, "
    "`username` VARCHAR(0) NULL, `language` VARCHAR(0) NULL, `avatar` VARCHAR(0) NULL",
    "m_Extensions": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `number` VARCHAR(0) NULL, "
    "`type` VARCHAR(0) NULL, `callerid` VARCHAR(0) NULL, `userid` INTEGER NULL, "
    '`show_in_phonebook` VARCHAR(1) DEFAULT "1" NULL, `public_access` VARCHAR(1) DEFAULT "1" NULL, '
    '`is_general_user_number` VARCHAR(1) DEFAULT "0" NULL, `search_index` VARCHAR(0) DEFAULT "" NULL',
    "m_Providers": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `uniqid` VARCHAR(0) NULL, "
    "`type` VARCHAR(0) NULL, `sipuid` VARCHAR(0) NULL, `iaxuid` VARCHAR(0) NULL, `note` VARCHAR(0) NULL",
    "m_SipHosts": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `provider_id` VARCHAR(0) NULL, "
    "`address` VARCHAR(0) NULL",
    "m_OutgoingRoutingTable": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `rulename` VARCHAR(0) NULL, "
    "`providerid` VARCHAR(0) NULL, `priority` VARCHAR(0) NULL, `numberbeginswith` VARCHAR(0) NULL, "
    "`restnumbers` VARCHAR(0) NULL, `trimfrombegin` VARCHAR(0) NULL, `prepend` VARCHAR(0) NULL, "
    "`note` VARCHAR(0) NULL",
    "m_IncomingRoutingTable": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `rulename` VARCHAR(0) NULL, "
    "`number` VARCHAR(0) NULL, `extension` VARCHAR(0) NULL, `provider` VARCHAR(0) NULL, "
    "`priority` INTEGER NULL, `timeout` INTEGER NULL, `action` VARCHAR(0) NULL, `note` VARCHAR(0) NULL, "
    "`audio_message_id` VARCHAR(0) NULL",
    "m_DialplanApplications": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `uniqid` VARCHAR(0) NULL, "
    "`name` VARCHAR(0) NULL, `extension` VARCHAR(0) NULL, `hint` VARCHAR(0) NULL, "
    "`applicationlogic` VARCHAR(0) NULL, `type` VARCHAR(0) NULL, `description` VARCHAR(0) NULL, "
    'UNIQUE ("uniqid")',
    "m_NetworkFilters": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `permit` VARCHAR(0) NULL, "
    '`deny` VARCHAR(0) NULL, `newer_block_ip` VARCHAR(1) DEFAULT "0" NULL, '
    '`local_network` VARCHAR(1) DEFAULT "0" NULL, `description` VARCHAR(0) NULL',
    "m_OutWorkTimesRouts": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `timeConditionId` INTEGER NOT NULL, "
    "`routId` VARCHAR(0) NOT NULL",
    "m_CustomFiles": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `filepath` VARCHAR(0) NULL, "
    '`content` VARCHAR(0) NULL, `mode` VARCHAR(0) DEFAULT "none" NULL, `changed` VARCHAR(1) DEFAULT "0" NULL, '
    "`description` VARCHAR(0) NULL",
    "m_FirewallRules": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `protocol` VARCHAR(0) NULL, "
    "`portfrom` VARCHAR(0) NULL, `portto` VARCHAR(0) NULL, `networkfilterid` INTEGER NULL, "
    "`action` VARCHAR(0) NULL, `category` VARCHAR(0) NULL, `portFromKey` VARCHAR(0) NULL, "
    "`portToKey` VARCHAR(0) NULL, `description` VARCHAR(0) NULL",
    "m_LanInterfaces": "`id` INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, `name` VARCHAR(0) NULL, "
    "`interface` VARCHAR(0) NULL, `ipaddr` VARCHAR(0) NULL, `subnet` VARCHAR(0) NULL, "
    "`extipaddr` VARCHAR(0) NULL, `exthostname` VARCHAR(0) NULL, `disabled` VARCHAR(1) NOT NULL",
}


@dataclass(frozen=True)
class Phone:
    """A SIP extension to create: number, user display name, SIP password."""

    number: str
    name: str
    secret: str = ""


@dataclass
class StationSpec:
    """What a generated station DB holds."""

    name: str
    sip_port: int = 5060
    external_ip: str = ""
    lan_ip: str = ""
    phones: list[Phone] = field(default_factory=list)
    version: str = "2026.1.223"
    language: str = "ru-ru"


def insert_phone(conn: sqlite3.Connection, phone: Phone, *, qualify: bool = True) -> None:
    """A SIP extension as Core's extension form stores it: m_Users, m_Extensions and the m_Sip peer.
    `qualify` off for test phones that cannot answer OPTIONS (SIPp between scenarios)."""
    cur = conn.execute("INSERT INTO m_Users(email, username, language) VALUES ('', ?, 'ru-ru')", (phone.name,))
    conn.execute(
        "INSERT INTO m_Extensions(number, type, callerid, userid, show_in_phonebook, public_access, "
        "is_general_user_number) VALUES (?, 'SIP', ?, ?, '1', '1', '1')",
        (phone.number, phone.name, cur.lastrowid),
    )
    conn.execute(
        "INSERT INTO m_Sip(uniqid, disabled, extension, type, secret, transport, dtmfmode, "
        "qualifyfreq, qualify, networkfilterid, manualattributes, description) "
        "VALUES (?, '0', ?, 'peer', ?, 'udp', 'auto', 60, ?, NULL, '', ?)",
        (f"SIP-PHONE-{phone.number}", phone.number, phone.secret or f"pw{phone.number}", "1" if qualify else "0",
         phone.name),
    )


@dataclass(frozen=True)
class PublicProvider:
    """An admin's provider to the public network (an IP peer, qualify off) and its one outgoing route."""

    uniqid: str
    host: str
    description: str
    route: str = "PSTN 11 digits"
    numberbeginswith: str = ""
    restnumbers: int = 11
    priority: int = 5


def insert_provider(conn: sqlite3.Connection, prov: PublicProvider) -> None:
    """The provider as Core's provider form stores it (m_Providers, m_Sip friend, m_SipHosts) and its route."""
    conn.execute("INSERT INTO m_Providers (uniqid, type, sipuid, iaxuid, note) VALUES (?, 'SIP', ?, '', ?)",
                 (prov.uniqid, prov.uniqid, prov.description))
    conn.execute(
        "INSERT INTO m_Sip (uniqid, disabled, extension, type, registration_type, host, port, username, secret, "
        "transport, outbound_proxy, fromuser, fromdomain, nat, dtmfmode, qualifyfreq, qualify, manualattributes, "
        "disablefromuser, noregister, description, enableRecording, weakSecret) VALUES (?, '0', '', 'friend', "
        "'none', ?, 5060, 'pstn', '', 'udp', '', '', '', '', 'auto', 60, '0', '', '1', '1', ?, 1, 0)",
        (prov.uniqid, prov.host, prov.description))
    conn.execute("INSERT INTO m_SipHosts (provider_id, address) VALUES (?, ?)", (prov.uniqid, prov.host))
    conn.execute("INSERT INTO m_OutgoingRoutingTable (rulename, providerid, priority, numberbeginswith, restnumbers, "
                 "trimfrombegin, prepend, note) VALUES (?, ?, ?, ?, ?, '0', '', '')",
                 (prov.route, prov.uniqid, str(prov.priority), prov.numberbeginswith, str(prov.restnumbers)))


def add_provider(path: Path, prov: PublicProvider) -> None:
    conn = sqlite3.connect(path)
    try:
        insert_provider(conn, prov)
        conn.commit()
    finally:
        conn.close()


def add_phone(path: Path, phone: Phone) -> None:
    """Add one SIP extension to an existing station DB (tests and demos: an admin adding a colleague)."""
    conn = sqlite3.connect(path)
    try:
        insert_phone(conn, phone)
        conn.commit()
    finally:
        conn.close()


def create_schema(conn: sqlite3.Connection, version: str = "2026.1") -> None:
    """Create the MikoPBX tables this module touches, with the column set of `version`."""
    is_2026 = version.startswith("2026")
    sip = _SIP_2026 if is_2026 else _SIP_2024
    conn.execute(f'CREATE TABLE IF NOT EXISTS "m_Sip" ({sip})')
    ami = _AMI_2026 if version.startswith("2026") else _AMI_2024
    conn.execute(f'CREATE TABLE IF NOT EXISTS "m_AsteriskManagerUsers" ({ami})')
    for table, cols in _TABLES.items():
        if table == "m_NetworkFilters" and is_2026:
            cols += ", `priority` VARCHAR(0) NULL"  # 2026.1 orders the filters by it (Core: NetworkFilters.php)
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({cols})')


SYSTEM_EXTENSIONS = ("hangup", "busy", "did2user", "voicemail")


def create_station(conn: sqlite3.Connection, settings: dict[str, str], *, version: str = "2026.1.223",
                   default_action: str = "hangup") -> None:
    """An empty station in `conn`: the schema of `version`, PbxSettings, Core's system extensions and its default
    incoming rule (priority 9999, `default_action`). The one builder of MikoPBX-schema DBs for demos and tests."""
    create_schema(conn, version)
    conn.executemany("INSERT INTO m_PbxSettings(key, value) VALUES (?, ?)", sorted(settings.items()))
    conn.execute(
        "INSERT INTO m_IncomingRoutingTable(rulename, number, extension, provider, priority, timeout, "
        "action, note, audio_message_id) VALUES ('default action', '', ?, '', 9999, 0, 'extension', '', '')",
        (default_action,),
    )
    for system in SYSTEM_EXTENSIONS:
        conn.execute(
            "INSERT INTO m_Extensions(number, type, callerid, show_in_phonebook) "
            "VALUES (?, 'SYSTEM', 'System Extension', '0')",
            (system,),
        )


def build_station_db(path: Path, spec: StationSpec) -> Path:
    """Write a fresh MikoPBX-schema DB for `spec` at `path` (replacing any file there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    try:
        create_station(conn, {
            "Name": spec.name,
            "SIPPort": str(spec.sip_port),
            "TLS_PORT": "5061",
            "ExternalSipIpAddr": spec.external_ip,
            "ExternalSipHostName": "",
            "PBXInternalExtensionLength": "3",
            "PBXVersion": spec.version,
            "PBXLanguage": spec.language,
        }, version=spec.version)
        if spec.lan_ip:
            conn.execute(
                "INSERT INTO m_LanInterfaces(name, interface, ipaddr, subnet, disabled) "
                "VALUES ('LAN', 'eth0', ?, '24', '0')",
                (spec.lan_ip,),
            )
        for phone in spec.phones:
            insert_phone(conn, phone)
        conn.commit()
    finally:
        conn.close()
    return path
