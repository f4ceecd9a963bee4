"""One reconcile: plan, write the module's records and hook fragments, reload, and keep the last good state.

Crash safety. The station's configuration is the module's rows in mikopbx.db plus `<stateDir>/hooks.json`.
Before changing either, the old and new versions of both are written to an intent journal (atomically);
then the rows change in one SQLite transaction, then hooks.json and records.json are renamed into place, then
the reload runs, then the journal is removed. Whoever finds a journal (the next apply or worker start) looks
at the DB: if it holds the journal's new rows, the commit happened and the files and the reload are finished;
otherwise the old rows and files are put back. A reload that fails rolls back the same way, and reloads again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from python_worker import MODULE_ID
from python_worker.apply.core_events import ModelEvent, events_between, events_of
from python_worker.apply.reloads import TARGETS, hook_targets, reload_targets
from python_worker.apply.system import Reloader, ReloadRequest, ReloadResult
from python_worker.core.planner import Plan
from python_worker.core.problems import Problem
from python_worker.core.records import empty_records
from python_worker.core.runtime import STATIC, Runtime
from python_worker.db.engine import sqlite_engine
from python_worker.db.owned import Change, Diff, Row, flatten
from python_worker.db.writer import DatabaseBusy, apply_records, read_diff, rows_now
from python_worker.logs import remember_secrets
from python_worker.pipeline import Outputs, compute_from_files
from python_worker.render.hooks import HOOK_TEMPLATES
from python_worker.statedir import (
    APPLY_LOCK,
    HOOKS_FILE,
    JOURNAL_FILE,
    RECORDS_FILE,
    LockTimeout,
    file_lock,
    pause_point,
    read_json,
    remove_file,
    to_json,
    write_json_if_changed,
)

log = logging.getLogger("pbxfed")

EMPTY_HOOKS: dict[str, str] = dict.fromkeys(HOOK_TEMPLATES, "")


@dataclass(frozen=True)
class Paths:
    mikopbx_db: Path
    module_db: Path
    state_dir: Path

    def state(self, name: str) -> Path:
        return self.state_dir / name


@dataclass(frozen=True)
class ApplyOptions:
    busy_timeout: float = 10.0  # how long to retry a locked mikopbx.db
    lock_timeout: float = 30.0  # how long to wait for another apply on the same state dir


@dataclass
class ApplyReport:
    """What one reconcile did. Holds no secret: changes name tables, keys and columns, never values."""

    result: str  # unchanged | applied | dry-run | rolled-back | busy | refused | held | error
    time: float = field(default_factory=time.time)
    changes: list[Change] = field(default_factory=list)
    issues: list[Problem] = field(default_factory=list)  # conflicts with the admin's own rows
    problems: tuple[Problem, ...] = ()
    hooks_changed: list[str] = field(default_factory=list)
    reload: tuple[str, ...] = ()
    reload_details: tuple[str, ...] = ()
    recovered: str = ""  # "" | forward | backward: an interrupted apply found and finished or undone
    message: str = ""
    digest: str = ""
    plan: Plan | None = None
    module_enabled: bool = True

    @property
    def drift(self) -> list[Change]:
        return [c for c in self.changes if c.drift]

    @property
    def ok(self) -> bool:
        return self.result in ("unchanged", "applied", "dry-run", "held")

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0}
        for c in self.changes:
            out["create" if c.op == "adopt" else c.op] += 1  # adopting Core's placeholder creates our record
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "ok": self.ok,
            "time": round(self.time, 3),
            "time_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.time)),
            "message": self.message,
            "module_enabled": self.module_enabled,
            "counts": self.counts(),
            "create": [c.to_json() for c in self.changes if c.op in ("create", "adopt")],
            "update": [c.to_json() for c in self.changes if c.op == "update"],
            "delete": [c.to_json() for c in self.changes if c.op == "delete"],
            "drift": [c.to_json() for c in self.changes if c.drift],
            "issues": [i.to_json() for i in self.issues],
            "problems": [p.to_json() for p in self.problems],
            "hooks_changed": self.hooks_changed,
            "reload": list(self.reload),
            "reload_details": list(self.reload_details),
            "recovered": self.recovered,
        }

    def summary(self) -> str:
        c = self.counts()
        parts = [f"{self.result}: {c['create']} created, {c['update']} updated, {c['delete']} removed"]
        if self.hooks_changed:
            parts.append("hooks " + ",".join(self.hooks_changed))
        if self.reload:
            parts.append("reload " + ",".join(self.reload))
        drift = [c for c in self.changes if c.drift]
        if drift:
            parts.append("drift repaired: " + "; ".join(f"{d.table} {'/'.join(d.key)} {d.drift}" for d in drift))
        if self.recovered:
            parts.append(f"interrupted apply recovered ({self.recovered})")
        if self.message:
            parts.append(self.message)
        return "; ".join(parts)


def digest_of(hooks: Mapping[str, str], records: Mapping[str, Any]) -> str:
    return hashlib.sha256((to_json(hooks) + to_json(records)).encode()).hexdigest()[:16]


def module_enabled(mikopbx_db: Path) -> bool:
    """False only when Core's m_PbxExtensionModules says this module is disabled."""
    engine = sqlite_engine(mikopbx_db, read_only=True)
    try:
        with engine.connect() as conn:
            has = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                    "name='m_PbxExtensionModules'")).first()
            if has is None:
                return True
            row = conn.execute(text("SELECT disabled FROM m_PbxExtensionModules WHERE uniqid = :u"),
                               {"u": MODULE_ID}).first()
    finally:
        engine.dispose()
    return row is None or str(row[0]) != "1"


def _last_good(paths: Paths) -> tuple[dict[str, str], Mapping[str, Any]]:
    hooks = read_json(paths.state(HOOKS_FILE))
    records = read_json(paths.state(RECORDS_FILE))
    return (dict(hooks) if isinstance(hooks, dict) else dict(EMPTY_HOOKS),
            records if isinstance(records, dict) else empty_records())


def _write_state(paths: Paths, hooks: Mapping[str, str], records: Mapping[str, Any]) -> None:
    # records.json first, hooks.json last: hooks.json is what Core's PHP reads, so it flips last.
    write_json_if_changed(paths.state(RECORDS_FILE), records)
    write_json_if_changed(paths.state(HOOKS_FILE), hooks)


def _journal(paths: Paths, phase: str, old: tuple[Mapping[str, str], Mapping[str, Any]],
             new: tuple[Mapping[str, str], Mapping[str, Any]], targets: tuple[str, ...],
             events: list[ModelEvent] | None = None) -> None:
    """The intent journal. `events` (Core's model-change messages) only once the commit says what was written."""
    body: dict[str, Any] = {
        "phase": phase, "targets": list(targets), "time": time.time(),
        "old": {"hooks": old[0], "records": old[1]}, "new": {"hooks": new[0], "records": new[1]},
    }
    if events is not None:
        body["events"] = events
    write_json_if_changed(paths.state(JOURNAL_FILE), body)


def _request(targets: tuple[str, ...], events: list[ModelEvent], old_hooks: Mapping[str, str],
             new_hooks: Mapping[str, str]) -> ReloadRequest:
    return ReloadRequest(targets, tuple(events), hook_targets(old_hooks, new_hooks))


def _reload(reloader: Reloader, request: ReloadRequest) -> ReloadResult:
    return ReloadResult(True, ()) if request.is_empty else reloader.reload(request)


def _events_now(paths: Paths, before: list[Row], after: list[Row]) -> list[ModelEvent]:
    """Messages for a change from `before` to `after` that the DB already holds (ids read from it now)."""
    ids, columns = rows_now(paths.mikopbx_db, after)
    return events_between(before, after, ids, columns)


def recover(paths: Paths, reloader: Reloader, opts: ApplyOptions) -> str:
    """Finish or undo an apply that was interrupted (journal present); '' when there was none."""
    journal = read_json(paths.state(JOURNAL_FILE))
    if not isinstance(journal, dict):
        remove_file(paths.state(JOURNAL_FILE))
        return ""
    old, new = journal["old"], journal["new"]
    remember_secrets(old["records"], new["records"])
    targets = tuple(journal.get("targets") or TARGETS)
    new_rows, old_rows = flatten(new["records"]), flatten(old["records"])
    if journal.get("phase") == "apply" and not read_diff(paths.mikopbx_db, new_rows, old_rows).changes:
        _write_state(paths, new["hooks"], new["records"])
        direction = "forward"
        events = journal.get("events")
        if not isinstance(events, list):  # interrupted between the commit and the journal naming the writes
            events = _events_now(paths, old_rows, new_rows)
        result = _reload(reloader, _request(targets, events, old["hooks"], new["hooks"]))
        if not result.ok:
            # The new config was refused: treat it like any failed reload and go back.
            back = apply_records(paths.mikopbx_db, old_rows, new_rows, busy_timeout=opts.busy_timeout)
            _write_state(paths, old["hooks"], old["records"])
            _reload(reloader, _request(targets, events_of(back.written), new["hooks"], old["hooks"]))
            direction = "backward"
    else:
        diff = apply_records(paths.mikopbx_db, old_rows, new_rows, busy_timeout=opts.busy_timeout)
        _write_state(paths, old["hooks"], old["records"])
        if diff.changes or journal.get("phase") == "rollback":
            events = events_of(diff.written) if diff.written else _events_now(paths, new_rows, old_rows)
            _reload(reloader, _request(targets, events, new["hooks"], old["hooks"]))
        direction = "backward"
    remove_file(paths.state(JOURNAL_FILE))
    log.warning("interrupted apply found in %s: %s", paths.state(JOURNAL_FILE),
                "finished" if direction == "forward" else "rolled back to the previous configuration")
    return direction


def _desired(paths: Paths, disable: bool, runtime: Runtime) -> tuple[Outputs | None, bool]:
    if disable or not module_enabled(paths.mikopbx_db):
        return None, False
    return compute_from_files(paths.mikopbx_db, paths.module_db, runtime), True


def reconcile(
    paths: Paths,
    reloader: Reloader,
    *,
    opts: ApplyOptions | None = None,
    dry_run: bool = False,
    disable: bool = False,
    hold_digest: str = "",
    runtime: Runtime = STATIC,
) -> ApplyReport:
    """One full reconcile under the state dir's lock. Never raises for busy DBs or failed reloads.

    `runtime`: what the worker knows at run time (dead peers, publication epochs, lamps, pairing sources)."""
    opts = opts or ApplyOptions()
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(paths.state(APPLY_LOCK), opts.lock_timeout):
            report = _reconcile_locked(paths, reloader, opts, dry_run, disable, hold_digest, runtime)
    except LockTimeout as exc:
        report = ApplyReport("busy", message=f"another apply is running: {exc}")
    except DatabaseBusy as exc:
        report = ApplyReport("busy", message=str(exc))
    except FileNotFoundError as exc:
        report = ApplyReport("error", message=str(exc))
    (log.info if report.ok else log.error)("%s", report.summary())
    return report


def _reconcile_locked(paths: Paths, reloader: Reloader, opts: ApplyOptions, dry_run: bool, disable: bool,
                      hold_digest: str, runtime: Runtime) -> ApplyReport:
    recovered = "" if dry_run else recover(paths, reloader, opts)
    old_hooks, old_records = _last_good(paths)
    outputs, enabled = _desired(paths, disable, runtime)
    report = ApplyReport("unchanged", recovered=recovered, module_enabled=enabled)
    if outputs is None:
        new_hooks: dict[str, str] = dict(EMPTY_HOOKS)
        new_records: Mapping[str, Any] = empty_records(old_records.get("station"))
    else:
        new_hooks, new_records = outputs.hooks, outputs.records
        report.plan, report.problems = outputs.plan, outputs.plan.problems
        if any(p.is_error and p.peer is None for p in report.problems):
            report.result = "refused"
            report.message = "station settings have errors; the last good configuration stays"
            return report
    remember_secrets(old_records, new_records)
    report.digest = digest_of(new_hooks, new_records)
    new_rows, old_rows = flatten(new_records), flatten(old_records)
    preview = read_diff(paths.mikopbx_db, new_rows, old_rows)
    report.issues = preview.issues
    report.hooks_changed = sorted(h for h in set(old_hooks) | set(new_hooks) if old_hooks.get(h) != new_hooks.get(h))
    if dry_run:
        report.result, report.changes = "dry-run", preview.changes
        report.reload = reload_targets(preview.changes, old_hooks, new_hooks)
        return report
    if not preview.changes and not report.hooks_changed:
        if to_json(old_records) != to_json(new_records):
            _write_state(paths, new_hooks, new_records)  # e.g. only the station section changed
        return report
    if hold_digest and report.digest == hold_digest:
        report.result = "held"
        report.message = "this configuration failed to reload before; waiting for a change"
        return report

    old, new = (old_hooks, old_records), (new_hooks, new_records)
    _journal(paths, "apply", old, new, reload_targets(preview.changes, old_hooks, new_hooks))
    pause_point("after-journal")
    try:
        diff: Diff = apply_records(paths.mikopbx_db, new_rows, old_rows, busy_timeout=opts.busy_timeout)
    except DatabaseBusy:
        remove_file(paths.state(JOURNAL_FILE))  # rolled back: nothing changed, nothing to finish
        raise
    pause_point("after-db")
    targets = reload_targets(diff.changes, old_hooks, new_hooks)
    events = events_of(diff.written)
    _journal(paths, "apply", old, new, targets, events)  # the real diff may differ from the preview
    _write_state(paths, new_hooks, new_records)
    pause_point("after-files")
    result = _reload(reloader, _request(targets, events, old_hooks, new_hooks))
    pause_point("after-reload")
    report.issues, report.changes, report.reload = diff.issues, diff.changes, targets
    report.reload_details = result.details
    if result.ok:
        remove_file(paths.state(JOURNAL_FILE))
        report.result = "applied"
        return report
    log.error("reload failed, rolling back to the last good configuration")
    _journal(paths, "rollback", old, new, targets)
    back = apply_records(paths.mikopbx_db, old_rows, new_rows, busy_timeout=opts.busy_timeout)
    _write_state(paths, old_hooks, old_records)
    again = _reload(reloader, _request(targets, events_of(back.written), new_hooks, old_hooks))
    remove_file(paths.state(JOURNAL_FILE))
    report.result = "rolled-back"
    report.reload_details = result.details + again.details
    report.message = "reload failed; the previous configuration was restored" + (
        "" if again.ok else ", but reloading it failed too")
    return report
