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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from python_worker import MODULE_ID
from python_worker.apply.core_events import ModelEvent, events_between, events_of
from python_worker.apply.reloads import TARGETS, hook_targets, reload_targets
from python_worker.apply.report import ApplyReport as ApplyReport  # callers import it from here too
from python_worker.apply.system import Reloader, ReloadRequest, ReloadResult
from python_worker.core.problems import problem
from python_worker.core.records import empty_records
from python_worker.core.runtime import STATIC, Runtime
from python_worker.db.engine import DatabaseBusy, DatabaseError, connect
from python_worker.db.owned import Diff, Row, flatten
from python_worker.db.writer import apply_records, read_diff, rows_now
from python_worker.logs import REDACTOR, remember_secrets
from python_worker.pipeline import Outputs, compute_from_files
from python_worker.render.hooks import HOOK_TEMPLATES, RenderError
from python_worker.statedir import (
    APPLY_LOCK,
    HOOKS_FILE,
    JOURNAL_FILE,
    RECORDS_FILE,
    LockTimeout,
    Staged,
    file_lock,
    pause_point,
    read_json,
    remove_file,
    stage_json_if_changed,
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


def digest_of(hooks: Mapping[str, str], records: Mapping[str, Any]) -> str:
    return hashlib.sha256((to_json(hooks) + to_json(records)).encode()).hexdigest()[:16]


def module_enabled(mikopbx_db: Path) -> bool:
    """False only when Core's m_PbxExtensionModules says this module is disabled."""
    with connect(mikopbx_db, read_only=True) as conn:
        has = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                "name='m_PbxExtensionModules'")).first()
        if has is None:
            return True
        row = conn.execute(text("SELECT disabled FROM m_PbxExtensionModules WHERE uniqid = :u"),
                           {"u": MODULE_ID}).first()
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


def _stage_state(paths: Paths, hooks: Mapping[str, str], records: Mapping[str, Any]) -> list[Staged]:
    """Write and fsync the new state files beside their names before the DB commit (records.json first), so a
    full disk is found while nothing has changed yet; after the commit only renames remain."""
    staged: list[Staged] = []
    try:
        for path, data in ((paths.state(RECORDS_FILE), records), (paths.state(HOOKS_FILE), hooks)):
            item = stage_json_if_changed(path, data)
            if item is not None:
                staged.append(item)
    except BaseException:
        for item in staged:
            item.discard()
        raise
    return staged


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
    old, new = journal.get("old"), journal.get("new")
    if not (isinstance(old, dict) and isinstance(new, dict) and all(
            isinstance(x.get("hooks"), dict) and isinstance(x.get("records"), dict) for x in (old, new))):
        # Only this module writes the journal (0600, atomically): a wrong shape is disk damage. Kept aside for
        # support; the reconcile that follows brings the rows and files in line with the plan again.
        paths.state(JOURNAL_FILE).replace(paths.state(JOURNAL_FILE + ".damaged"))
        log.error("interrupted apply journal %s is damaged; kept as %s.damaged", JOURNAL_FILE, JOURNAL_FILE)
        return ""
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
    except DatabaseError as exc:  # busy beyond --busy-timeout, or damaged: the last good configuration stays
        which = problem(exc.code, None, "database", detail=exc.path.name, reason=exc.reason,
                        limit=f"{max(exc.waited, opts.busy_timeout):g}")
        report = ApplyReport("busy" if isinstance(exc, DatabaseBusy) else "error", message=which.message("en"),
                             problems=(which,))
    except FileNotFoundError as exc:
        report = ApplyReport("error", message=str(exc))
    except RenderError as exc:  # a value the planner should have refused: nothing is written
        report = ApplyReport("error", message=f"refused to render an unsafe value ({exc}); the last good "
                             "configuration stays")
    except OSError as exc:  # e.g. the disk is full: nothing was committed, or the journal finishes it later
        which = problem("E_STATE_WRITE_FAILED", None, "state_dir", detail=paths.state_dir,
                        reason=exc.strerror or type(exc).__name__)
        report = ApplyReport("error", message=which.message("en"), problems=(which,))
    report.message = REDACTOR.mask(report.message)
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
        staged = _stage_state(paths, new_hooks, new_records)
    except BaseException:
        remove_file(paths.state(JOURNAL_FILE))  # nothing changed yet
        raise
    try:
        diff: Diff = apply_records(paths.mikopbx_db, new_rows, old_rows, busy_timeout=opts.busy_timeout)
    except BaseException as exc:
        for item in staged:
            item.discard()
        if isinstance(exc, DatabaseBusy):
            remove_file(paths.state(JOURNAL_FILE))  # rolled back: nothing changed, nothing to finish
        # else the journal stays: the next reconcile looks at the DB and finishes or undoes this apply
        raise
    pause_point("after-db")
    targets = reload_targets(diff.changes, old_hooks, new_hooks)
    events = events_of(diff.written)
    try:
        for item in staged:  # renames only: records.json first, hooks.json (what Core reads) last
            item.commit()
    except BaseException:  # the journal stays: the next reconcile finishes the files from it
        for item in staged:
            item.discard()
        raise
    _journal(paths, "apply", old, new, targets, events)  # the real diff may differ from the preview
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
