"""What Core must be told after the worker wrote mikopbx.db: the model-change messages Core's own models publish.

Every save or delete through one of Core's models publishes `{source: "ModelsBase->sendChangesToBackend", model,
recordId, action: afterSave|afterDelete, changedFields}` to WorkerModelsEvents (Core's src/Common/Models/
ModelsBase.php `processSettingsChanges`/`sendChangesToBackend`, the same at 2024.1.114 and 2026.1.223). From them
WorkerModelsEvents plans Core's own reloads (ProcessOtherModels: Sip -> PJSIP, dialplan, firewall, advice,
recording settings; NetworkFilters -> firewall, PJSIP, manager, ...), refreshes the config objects it caches (on
2024.1 the provider list behind every `[<provider>-incoming]` context) and calls every module's
modelsEventChangeData. The worker writes with SQL, so it builds the same messages from what its transaction wrote
(db/writer.py `Written`) and hands them, after the commit, to Lib/ReloadCore.php, which publishes them with Core's own
queue client and clears Core's model caches (docs/applier.md, "Telling Core").

changedFields as Core's models fill them (Phalcon's snapshot, seen with Core 2026.1.223 + Phalcon 5.18.1): a create
lists every field of the model then `id`; an update lists the changed fields; a delete lists every field of the row
then `id`, except CustomFiles, whose delete carries `{filepath: ..., mode: ...}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from python_worker.core.records import (
    AMI_USERS,
    CUSTOM_FILES,
    FILTERS,
    FIREWALL,
    INCOMING,
    OUTGOING,
    PROVIDERS,
    SIP,
    SIP_HOSTS,
)
from python_worker.db.owned import OUT_WORK_TIMES_ROUTES, Row, Written

SOURCE = "ModelsBase->sendChangesToBackend"
_MODELS = "MikoPBX\\Common\\Models\\"
# Each table's model class (src/Common/Models/<Name>.php, the same names at both tags).
MODEL_OF: Mapping[str, str] = {
    PROVIDERS: _MODELS + "Providers",
    SIP: _MODELS + "Sip",
    SIP_HOSTS: _MODELS + "SipHosts",
    OUTGOING: _MODELS + "OutgoingRoutingTable",
    INCOMING: _MODELS + "IncomingRoutingTable",
    FILTERS: _MODELS + "NetworkFilters",
    FIREWALL: _MODELS + "FirewallRules",
    CUSTOM_FILES: _MODELS + "CustomFiles",
    # Core's ProcessOtherModels: a save of AsteriskManagerUsers plans ReloadManagerAction (manager.conf).
    AMI_USERS: _MODELS + "AsteriskManagerUsers",
    OUT_WORK_TIMES_ROUTES: _MODELS + "OutWorkTimesRouts",
}

ModelEvent = dict[str, Any]


def event(table: str, action: str, record_id: int | str, changed: Sequence[str] | Mapping[str, Any]) -> ModelEvent:
    """One message, shaped like ModelsBase's (recordId as the string Core's model id is)."""
    fields: list[str] | dict[str, Any] = dict(changed) if isinstance(changed, Mapping) else list(changed)
    return {"source": SOURCE, "model": MODEL_OF[table], "recordId": str(record_id) if record_id else "",
            "action": action, "changedFields": fields}


def _deleted_fields(w: Written) -> Sequence[str] | Mapping[str, Any]:
    if w.table == CUSTOM_FILES:
        return {"filepath": w.values.get("filepath"), "mode": w.values.get("mode")}
    return w.fields


def events_of(written: Iterable[Written]) -> list[ModelEvent]:
    """The messages Core's models would have published for these writes, in write order."""
    out: list[ModelEvent] = []
    for w in written:
        if w.op == "delete":
            out.append(event(w.table, "afterDelete", w.record_id, _deleted_fields(w)))
        elif w.fields:
            out.append(event(w.table, "afterSave", w.record_id, w.fields))
    return out


def events_between(old: Sequence[Row], new: Sequence[Row], ids: Mapping[tuple[str, tuple[str, ...]], int],
                   columns: Mapping[str, Sequence[str]]) -> list[ModelEvent]:
    """Messages for a change known only as its before and after (an apply interrupted between its commit and the
    journal naming what it wrote): `ids` are the rows' ids now, `columns` each table's columns. A deleted row's id is
    gone: its message carries none (Core's planning keys on the model; a CustomFiles delete on its filepath)."""
    out: list[ModelEvent] = []
    old_by = {(r.table, r.key): r for r in old}
    new_by = {(r.table, r.key): r for r in new}
    for ident, row in new_by.items():
        rid = ids.get(ident, 0)
        before = old_by.get(ident)
        if before is None:
            out.append(event(row.table, "afterSave", rid, _all_fields(columns.get(row.table, ()))))
            continue
        changed = [c for c in row.values if c != "network_filter" and _s(row.values[c]) != _s(before.values.get(c))]
        if changed:
            out.append(event(row.table, "afterSave", rid, changed))
    for ident, row in old_by.items():
        if ident not in new_by:
            fields: Sequence[str] | Mapping[str, Any] = _all_fields(columns.get(row.table, ()))
            if row.table == CUSTOM_FILES:
                fields = {"filepath": row.values.get("filepath"), "mode": row.values.get("mode")}
            out.append(event(row.table, "afterDelete", 0, fields))
    return out


def _all_fields(columns: Sequence[str]) -> list[str]:
    return [*(c for c in columns if c != "id"), "id"]


def _s(value: object) -> str | None:
    return None if value is None else str(value)
