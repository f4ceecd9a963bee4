"""records.json: the MikoPBX rows a plan needs, its typed shape, and each row's identity and ownership mark.

The renderer produces this shape, the applier diffs it against mikopbx.db, the journal stores it: this module is
the one place that says which sections it has, which table each section fills, how a row is recognised again
(its identity key) and which column carries the module's ownership mark.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from python_worker import MODULE_ID

RECORDS_FORMAT = 1

PROVIDERS, SIP, SIP_HOSTS = "m_Providers", "m_Sip", "m_SipHosts"
OUTGOING, INCOMING, FILTERS = "m_OutgoingRoutingTable", "m_IncomingRoutingTable", "m_NetworkFilters"
CUSTOM_FILES, FIREWALL = "m_CustomFiles", "m_FirewallRules"
AMI_USERS = "m_AsteriskManagerUsers"
# FIREWALL and AMI_USERS after FILTERS: they name our filter by its description and get its id when written.
TABLE_ORDER = (PROVIDERS, SIP, SIP_HOSTS, OUTGOING, INCOMING, FILTERS, FIREWALL, CUSTOM_FILES, AMI_USERS)

# The columns whose values identify a row across applies (MikoPBX's ids are not stable across a restore).
KEY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    PROVIDERS: ("uniqid",),
    SIP: ("uniqid",),
    SIP_HOSTS: ("provider_id", "address"),
    OUTGOING: ("note",),
    INCOMING: ("note",),
    FILTERS: ("description",),
    FIREWALL: ("description",),
    CUSTOM_FILES: ("filepath",),
    AMI_USERS: ("username",),
}
# The column that starts with the ownership mark on the module's rows (m_Sip and m_SipHosts are owned through
# their provider's uniqid instead).
MARK_COLUMNS: Mapping[str, str] = {
    PROVIDERS: "note",
    OUTGOING: "note",
    INCOMING: "note",
    FILTERS: "description",
    FIREWALL: "description",
    CUSTOM_FILES: "description",
    AMI_USERS: "description",
}
# The sections of records.json that hold one table's rows each (providers hold three tables per peer).
ROW_SECTIONS: Mapping[str, str] = {
    "outgoing_routes": OUTGOING,
    "incoming_routes": INCOMING,
    "network_filters": FILTERS,
    "firewall_rules": FIREWALL,
    "custom_files": CUSTOM_FILES,
    "ami_users": AMI_USERS,
}


class StationRecord(TypedDict, total=False):
    name: str
    entity_id: str
    own_patterns: list[str]


class ProviderRecord(TypedDict):
    peer: str
    m_Providers: dict[str, Any]
    m_Sip: dict[str, Any]
    m_SipHosts: list[dict[str, Any]]


class Records(TypedDict):
    """records.json. Every row dict of the row sections carries `peer` ('' for station-wide rows) besides its
    MikoPBX columns; firewall rules also carry `network_filter` (their filter's description)."""

    format: int
    module: str
    station: StationRecord
    providers: list[ProviderRecord]
    outgoing_routes: list[dict[str, Any]]
    incoming_routes: list[dict[str, Any]]
    network_filters: list[dict[str, Any]]
    firewall_rules: list[dict[str, Any]]
    custom_files: list[dict[str, Any]]
    # The worker's own AMI account (lamps of paired peers: docs/design.md "Device states over the sync channel");
    # a row may carry `network_filter` (our filter's description) for its networkfilterid.
    ami_users: list[dict[str, Any]]


def key_of(table: str, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The identity key of a row of `table`."""
    return tuple(str(values[c]) for c in KEY_COLUMNS[table])


def empty_records(station: Mapping[str, Any] | None = None) -> Records:
    """records.json with nothing in it (the module disabled, or nothing planned yet)."""
    return {"format": RECORDS_FORMAT, "module": MODULE_ID, "station": dict(station or {}),  # type: ignore[typeddict-item]
            "providers": [], "outgoing_routes": [], "incoming_routes": [], "network_filters": [],
            "firewall_rules": [], "custom_files": [], "ami_users": []}


def trunk_secrets(records: Mapping[str, Any] | None) -> list[str]:
    """The secrets a records.json holds, trunks' and the AMI account's (for masking them in logs)."""
    records = records or {}
    return ([str(p.get("m_Sip", {}).get("secret") or "") for p in records.get("providers", [])]
            + [str(u.get("secret") or "") for u in records.get("ami_users", [])])
