"""Module-owned records in mikopbx.db: find them, diff them against records.json, write the difference.

Only rows that carry the module's mark are ever changed: m_Providers/m_OutgoingRoutingTable/
m_IncomingRoutingTable notes and m_NetworkFilters descriptions beginning `ModulePbxFederation:`; m_Sip and
m_SipHosts rows of a provider uniqid the module owns (planned, last applied, or marked in m_Providers; the
uniqid is a hash of the module's name and the peer's name, so no admin-made provider can carry it).
One SQLite write transaction (BEGIN IMMEDIATE) per apply, retried with backoff while the DB is busy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from python_worker import FIREWALL_CATEGORY, OWNER_MARK
from python_worker.core.problems import Problem, problem
from python_worker.core.records import (
    AMI_USERS,
    CUSTOM_FILES,
    FILTERS,
    FIREWALL,
    INCOMING,
    MARK_COLUMNS,
    OUTGOING,
    PROVIDERS,
    ROW_SECTIONS,
    SIP,
    SIP_HOSTS,
    TABLE_ORDER,
    key_of,
)

DEFAULT_RULE_PRIORITY = 9999  # Core's default incoming rule: never touched
# Rows Core's own relations delete with one of ours (ACTION_CASCADE in Core's models at 2024.1.114 and 2026.1.223:
# NetworkFilters -> FirewallRules by networkfilterid, IncomingRoutingTable -> OutWorkTimesRouts by routId). They exist
# only because our row does; written with SQL, the cascade is ours to do.
OUT_WORK_TIMES_ROUTES = "m_OutWorkTimesRouts"
CASCADES: Mapping[str, tuple[str, str]] = {
    FILTERS: (FIREWALL, "networkfilterid"),
    INCOMING: (OUT_WORK_TIMES_ROUTES, "routId"),
}

# Priorities are the admin's to reorder (MikoPBX's route list renumbers them on drag and drop), so a
# changed priority of our route is not drift: it is written when the route is created and kept afterwards.
KEPT_ON_UPDATE: Mapping[str, frozenset[str]] = {
    OUTGOING: frozenset({"priority"}),
    INCOMING: frozenset({"priority"}),
}
_PEER_IN_NOTE = re.compile(re.escape(OWNER_MARK) + r" peer (\S+)")
_MARK_SQL = "substr({col}, 1, :mark_len) = :mark"


@dataclass(frozen=True)
class Row:
    """One record the plan wants (or a record last applied), keyed by its stable identity."""

    table: str
    key: tuple[str, ...]
    peer: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    op: str  # create | update | delete | adopt (take over a row Core made for the module: record_id)
    table: str
    key: tuple[str, ...]
    peer: str
    columns: tuple[str, ...] = ()  # changed columns (update only)
    drift: str = ""  # "" | edited | deleted: the row differed from what we last applied
    record_id: int = 0  # the row deleted, updated or adopted (0: a row still to be created)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"op": self.op, "table": self.table, "key": list(self.key), "peer": self.peer}
        if self.columns:
            out["columns"] = list(self.columns)
        if self.drift:
            out["drift"] = self.drift
        if self.record_id:
            out["record_id"] = self.record_id
        return out


@dataclass(frozen=True)
class Written:
    """One row the write transaction changed, as Core's models would describe the change: `fields` are the changed
    columns (a create or delete: every column of the row, `id` last; CustomFiles deletes also carry `values`)."""

    op: str  # create | update | delete (an adopted row is an update)
    table: str
    record_id: int
    fields: tuple[str, ...]
    values: Mapping[str, Any] = field(default_factory=dict)  # a deleted row's columns (what Core's snapshot holds)


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    issues: list[Problem] = field(default_factory=list)  # conflicts with the admin's own rows
    written: list[Written] = field(default_factory=list)  # filled by the write transaction (db/writer.py)

    @property
    def drift(self) -> list[Change]:
        return [c for c in self.changes if c.drift]

    def tables(self) -> set[str]:
        return {c.table for c in self.changes}


def _n(value: object) -> str | None:
    """Compare values the way SQLite affinity stores them: 5060 and '5060' are equal."""
    return None if value is None else str(value)


def flatten(records: Mapping[str, Any] | None) -> list[Row]:
    """records.json -> one Row per MikoPBX record, with its identity key."""
    if not records:
        return []
    rows: list[Row] = []
    for prov in records.get("providers", []):
        peer = str(prov["peer"])
        rows.append(Row(PROVIDERS, key_of(PROVIDERS, prov["m_Providers"]), peer, prov["m_Providers"]))
        rows.append(Row(SIP, key_of(SIP, prov["m_Sip"]), peer, prov["m_Sip"]))
        for host in prov.get("m_SipHosts", []):
            rows.append(Row(SIP_HOSTS, key_of(SIP_HOSTS, host), peer, host))
    for section, table in ROW_SECTIONS.items():
        for rec in records.get(section, []):
            values = {k: v for k, v in rec.items() if k != "peer"}
            rows.append(Row(table, key_of(table, values), str(rec.get("peer") or ""), values))
    return rows


def provider_ids(rows: Iterable[Row]) -> set[str]:
    return {r.key[0] for r in rows if r.table == PROVIDERS}


@dataclass(frozen=True)
class DbRow:
    id: int
    values: Mapping[str, Any]


def table_columns(conn: Connection, table: str) -> list[str]:
    return [str(r[1]) for r in conn.exec_driver_sql(f'PRAGMA table_info("{table}")').all()]


def read_owned(conn: Connection, known_ids: set[str]) -> dict[tuple[str, tuple[str, ...]], list[DbRow]]:
    """Every module-owned row in the station DB, grouped by (table, key); duplicates kept for removal."""
    mark = {"mark": OWNER_MARK, "mark_len": len(OWNER_MARK)}
    provider_mark = _MARK_SQL.format(col=MARK_COLUMNS[PROVIDERS])
    marked = conn.execute(text(f"SELECT uniqid FROM {PROVIDERS} WHERE " + provider_mark), mark).scalars().all()
    ids = sorted(known_ids | {str(u) for u in marked if u})
    in_ids: Any = bindparam("ids", expanding=True)
    by_ids = {
        PROVIDERS: text(f"SELECT * FROM {PROVIDERS} WHERE uniqid IN :ids OR "
                        + _MARK_SQL.format(col=MARK_COLUMNS[PROVIDERS])).bindparams(in_ids),
        SIP: text(f"SELECT * FROM {SIP} WHERE uniqid IN :ids").bindparams(in_ids),
        SIP_HOSTS: text(f"SELECT * FROM {SIP_HOSTS} WHERE provider_id IN :ids").bindparams(in_ids),
    }
    by_mark = {
        table: text(f"SELECT * FROM {table} WHERE "
                    + (f"priority IS NOT {DEFAULT_RULE_PRIORITY} AND " if table == INCOMING else "")
                    + _MARK_SQL.format(col=MARK_COLUMNS[table]))
        for table in (OUTGOING, INCOMING, FILTERS, FIREWALL, CUSTOM_FILES, AMI_USERS)
    }
    out: dict[tuple[str, tuple[str, ...]], list[DbRow]] = {}
    existing = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all())
    for table, query in (*by_ids.items(), *by_mark.items()):
        if table not in existing:
            continue
        params: dict[str, Any] = dict(mark)
        if table in by_ids:
            params["ids"] = ids or [""]
        for m in conn.execute(query, params).mappings().all():
            values = dict(m)
            out.setdefault((table, key_of(table, values)), []).append(DbRow(int(values.pop("id")), values))
    for rows in out.values():
        rows.sort(key=lambda r: r.id)
    return out


def _peer_for(table: str, key: tuple[str, ...], values: Mapping[str, Any], by_uid: Mapping[str, str]) -> str:
    if table in (PROVIDERS, SIP, SIP_HOSTS) and key[0] in by_uid:
        return by_uid[key[0]]
    for col in ("note", "description"):
        m = _PEER_IN_NOTE.match(str(values.get(col) or ""))
        if m:
            return m.group(1)
    return ""


def compute_diff(conn: Connection, desired: Sequence[Row], previous: Sequence[Row]) -> Diff:
    """What must change so the DB holds exactly `desired` among the module's rows (`previous` = last applied)."""
    known = provider_ids(desired) | provider_ids(previous)
    owned = read_owned(conn, known)
    prev_by_key = {(r.table, r.key): r for r in previous}
    by_uid = {r.key[0]: r.peer for r in (*previous, *desired) if r.table == PROVIDERS}
    columns = {t: set(table_columns(conn, t)) for t in TABLE_ORDER}
    diff = Diff()
    wanted: set[tuple[str, tuple[str, ...]]] = set()
    skip_filters = _admin_filter_conflicts(conn, desired, diff)
    category_rows = _core_category_rows(conn, owned)
    skip_ami = _admin_ami_user_conflicts(conn, desired, diff)
    for row in desired:
        ident = (row.table, row.key)
        if row.table == FILTERS and row.key in skip_filters:
            continue
        if row.table == FIREWALL and (str(row.values["network_filter"]),) in skip_filters:
            continue  # the admin's own filter for that address governs it
        if not columns[row.table]:
            continue  # a table this station's schema does not have (never seen in 2024.1/2026.1)
        if row.table == AMI_USERS and row.key in skip_ami:
            continue
        wanted.add(ident)
        have = owned.get(ident, [])
        prev = prev_by_key.get(ident)
        if not have:
            if row.table == CUSTOM_FILES:
                _adopt_custom_file(conn, row, diff, prev is not None)
                continue
            drift = "deleted" if prev else ""
            if row.table == FIREWALL and (core_row := _take_core_row(conn, row, category_rows)):
                diff.changes.append(Change("adopt", row.table, row.key, row.peer, drift=drift, record_id=core_row))
                continue
            diff.changes.append(Change("create", row.table, row.key, row.peer, drift=drift))
            continue
        values = resolved(conn, row)
        cols = [c for c in values if c in columns[row.table] and c not in KEPT_ON_UPDATE.get(row.table, ())]
        changed = tuple(c for c in cols if _n(have[0].values.get(c)) != _n(values[c]))
        if changed:
            edited = prev is not None and any(_n(have[0].values.get(c)) != _n(prev.values.get(c)) for c in changed)
            diff.changes.append(Change("update", row.table, row.key, row.peer, changed, "edited" if edited else "",
                                       record_id=have[0].id))
        for extra in have[1:]:
            diff.changes.append(Change("delete", row.table, row.key, row.peer, record_id=extra.id))
    for (table, key), have in sorted(owned.items()):
        if (table, key) not in wanted:
            for r in have:
                peer = _peer_for(table, key, r.values, by_uid)
                diff.changes.append(Change("delete", table, key, peer, record_id=r.id))
    for rid, key in category_rows:  # Core's rows of our category on our filters that no plan keeps
        diff.changes.append(Change("delete", FIREWALL, key, "", record_id=rid))
    _cascade(conn, diff)
    _admin_routes_on_our_trunks(conn, desired, diff)
    order = {t: i for i, t in enumerate(TABLE_ORDER)}
    diff.changes.sort(key=lambda c: (c.op != "delete", order.get(c.table, len(order)), c.peer, c.key, c.record_id))
    return diff


def _core_category_rows(conn: Connection, owned: Mapping[tuple[str, tuple[str, ...]], list[DbRow]]
                        ) -> list[tuple[int, tuple[str, ...]]]:
    """Rows of the module's firewall category on the module's own filters that carry no mark: Core made them
    (enabling the module writes one per filter and rule of getDefaultFirewallRules; the 2026.1 Firewall page adds
    missing categories when a filter is saved). Both keys are ours: the worker adopts one where it wants a rule and
    deletes the rest, so each of our filters holds at most one row of our category."""
    filter_ids = sorted(r.id for (table, _key), rows in owned.items() if table == FILTERS for r in rows)
    if not filter_ids:
        return []
    query = text(f"SELECT id, description FROM {FIREWALL} WHERE category = :cat AND "
                 "CAST(networkfilterid AS INTEGER) IN :ids AND "
                 f"(description IS NULL OR NOT {_MARK_SQL.format(col='description')}) ORDER BY id"
                 ).bindparams(bindparam("ids", expanding=True))
    rows = conn.execute(query, {"cat": FIREWALL_CATEGORY, "ids": filter_ids,
                                "mark": OWNER_MARK, "mark_len": len(OWNER_MARK)}).all()
    return [(int(rid), (str(desc or ""),)) for rid, desc in rows]


def _take_core_row(conn: Connection, row: Row, category_rows: list[tuple[int, tuple[str, ...]]]) -> int:
    """The id of a Core-made row of our category on the planned rule's filter (removed from the list), or 0."""
    fid = resolved(conn, row).get("networkfilterid")
    if fid is None:
        return 0
    for i, (rid, _key) in enumerate(category_rows):
        got = conn.execute(text(f"SELECT networkfilterid FROM {FIREWALL} WHERE id = :id"), {"id": rid}).scalar()
        if _n(got) == _n(fid):
            del category_rows[i]
            return rid
    return 0


def _cascade(conn: Connection, diff: Diff) -> None:
    """The rows Core's relations would delete with each of our deleted rows (CASCADES), unless already deleted."""
    existing = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all())
    gone = {(c.table, c.record_id) for c in diff.changes if c.op == "delete"}
    for change in list(diff.changes):
        if change.op != "delete" or change.table not in CASCADES:
            continue
        table, column = CASCADES[change.table]
        if table not in existing:
            continue
        key_col = "description" if table == FIREWALL else "id"
        rows = conn.execute(text(f'SELECT id, "{key_col}" FROM "{table}" WHERE "{column}" = :id ORDER BY id'),
                            {"id": str(change.record_id)}).all()
        for rid, key in rows:
            if (table, int(rid)) not in gone:
                gone.add((table, int(rid)))
                diff.changes.append(Change("delete", table, (str(key or ""),), change.peer, record_id=int(rid)))


def resolved(conn: Connection, row: Row) -> Mapping[str, Any]:
    """A firewall rule's or AMI user's `network_filter` (our filter's description) as the networkfilterid column."""
    if row.table not in (FIREWALL, AMI_USERS) or "network_filter" not in row.values:
        return row.values
    fid = conn.execute(text(f"SELECT id FROM {FILTERS} WHERE description = :d ORDER BY id LIMIT 1"),
                       {"d": row.values["network_filter"]}).scalar()
    values = {k: v for k, v in row.values.items() if k != "network_filter"}
    values["networkfilterid"] = fid
    return values


def _adopt_custom_file(conn: Connection, row: Row, diff: Diff, was_applied: bool) -> None:
    """Core keeps one m_CustomFiles row per config file (mode 'none', empty content, until the admin edits it).

    Such a placeholder is taken over; a row the admin customised is reported and left alone. Our row is
    deleted on removal: Core recreates the placeholder the next time it writes the file.
    """
    rows = conn.execute(text(f"SELECT id, mode, content FROM {CUSTOM_FILES} WHERE filepath = :p ORDER BY id"),
                        {"p": row.key[0]}).all()
    drift = "deleted" if was_applied else ""
    if not rows:
        diff.changes.append(Change("create", row.table, row.key, row.peer, drift=drift))
        return
    rid, mode, content = rows[0]
    # Core's placeholders hold no content: NULL, '' or the text 'NULL' (seen in a real migrated DB).
    if str(mode or "none") == "none" and str(content or "").strip() in ("", "NULL"):
        diff.changes.append(Change("adopt", row.table, row.key, row.peer, drift=drift, record_id=int(rid)))
    else:
        diff.issues.append(problem("W_ADMIN_CUSTOM_FILE", row.peer or None, "station_name", detail=row.key[0],
                                   table=CUSTOM_FILES, record_id=int(rid)))


def _admin_filter_conflicts(conn: Connection, desired: Sequence[Row], diff: Diff) -> set[tuple[str, ...]]:
    """Admin filters with the same permit as a planned one: reported, and ours is not added beside them."""
    skip: set[tuple[str, ...]] = set()
    rows = conn.execute(text(f"SELECT id, permit, description FROM {FILTERS}")).all()
    for row in desired:
        if row.table != FILTERS:
            continue
        for fid, permit, desc in rows:
            if str(permit or "") == str(row.values.get("permit")) and not str(desc or "").startswith(OWNER_MARK):
                diff.issues.append(problem("W_ADMIN_FILTER_SAME_ADDRESS", row.peer, "host", value=row.peer,
                                           detail=str(desc or ""), table=FILTERS, record_id=int(fid)))
                skip.add(row.key)
    return skip


def _admin_ami_user_conflicts(conn: Connection, desired: Sequence[Row], diff: Diff) -> set[tuple[str, ...]]:
    """An AMI user the admin made under the name of ours: reported, and ours is not added beside it (manager.conf
    would get two sections of that name)."""
    wanted = [r for r in desired if r.table == AMI_USERS]
    if not wanted or not table_columns(conn, AMI_USERS):
        return set()
    skip: set[tuple[str, ...]] = set()
    rows = conn.execute(text(f"SELECT id, username, description FROM {AMI_USERS}")).all()
    for row in wanted:
        for uid, username, desc in rows:
            if str(username or "") == row.key[0] and not str(desc or "").startswith(OWNER_MARK):
                diff.issues.append(problem("W_ADMIN_AMI_USER", None, "ami", detail=row.key[0], table=AMI_USERS,
                                           record_id=int(uid)))
                skip.add(row.key)
    return skip


def _admin_routes_on_our_trunks(conn: Connection, desired: Sequence[Row], diff: Diff) -> None:
    uids = {r.key[0]: r.peer for r in desired if r.table == PROVIDERS}
    if not uids:
        return
    rows = conn.execute(text(f"SELECT id, rulename, providerid, note FROM {OUTGOING}")).all()
    for rid, name, pid, note in rows:
        if str(pid or "") in uids and not str(note or "").startswith(OWNER_MARK):
            diff.issues.append(problem("W_ADMIN_ROUTE_ON_MODULE_TRUNK", uids[str(pid)], "patterns",
                                       value=uids[str(pid)], detail=str(name or ""), table=OUTGOING,
                                       record_id=int(rid)))
