"""The module's own tables in module.db; mirrors Models/*.php column by column."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table, Text

metadata = MetaData()

SETTINGS_TABLE = "m_ModulePbxFederation"
PEERS_TABLE = "m_ModulePbxFederationPeers"
DIRECTORY_TABLE = "m_ModulePbxFederationDirectory"

settings_table = Table(
    SETTINGS_TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_name", Text),
    Column("display_name", Text),
    Column("own_patterns", Text),
    Column("blf_default", Integer),
    Column("transfers_default", Integer),
    Column("overlap_fix_default", Integer),
    Column("public_number", Text),
    Column("public_trim", Integer),
    Column("public_prepend", Text),
)

peers_table = Table(
    PEERS_TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text),
    Column("host", Text),
    Column("port", Integer),
    Column("transport", Text),
    Column("patterns", Text),
    Column("secret", Text),
    Column("enabled", Integer),
    Column("blf", Integer),
    Column("transfers", Integer),
    Column("overlap_fix", Integer),
    Column("note", Text),
    Column("paired", Integer),
    Column("sync_port", Integer),
    Column("public_key", Text),
    Column("fallback_provider", Text),
    Column("fallback_trim", Integer),
    Column("fallback_prepend", Text),
    Column("transit_patterns", Text),
    Column("transit_provider", Text),
    Column("transit_limit", Integer),
    Column("transit_callerid", Text),
    Column("via_patterns", Text),
)

directory_table = Table(
    DIRECTORY_TABLE,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("peer", Text),
    Column("version", Text),
    Column("module_version", Text),
    Column("patterns", Text),
    Column("entries", Text),
    Column("received_at", Integer),
    Column("transit_grant", Text),
)

# Column name -> SQL type word, the form the PHP/Python agreement test compares.
def table_columns(table: Table) -> dict[str, str]:
    """Column names and their affinity (INTEGER or TEXT) in declaration order."""
    return {c.name: ("INTEGER" if isinstance(c.type, Integer) else "TEXT") for c in table.columns}
