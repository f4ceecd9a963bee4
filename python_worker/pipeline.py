"""The pipeline in one place: read both databases (db/), plan (core/), render (render/).

Every entry point that needs the station's configuration goes through here: the CLI, the reconciler, the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from python_worker.core.config import ModuleConfig
from python_worker.core.planner import Plan, build_plan
from python_worker.core.records import Records
from python_worker.core.runtime import STATIC, Runtime
from python_worker.core.station import StationSnapshot
from python_worker.db.moduledb import read_config
from python_worker.db.snapshot import read_snapshot
from python_worker.render.hooks import render_hooks
from python_worker.render.records import build_records
from python_worker.statedir import HOOKS_FILE, RECORDS_FILE, to_json


@dataclass(frozen=True)
class Outputs:
    plan: Plan
    hooks: dict[str, str]
    records: Records


def compute(snapshot: StationSnapshot, config: ModuleConfig, runtime: Runtime = STATIC) -> Outputs:
    """Pure: plan and render from already-read data."""
    plan = build_plan(snapshot, config, runtime)
    return Outputs(plan=plan, hooks=render_hooks(plan), records=build_records(plan))


def compute_from_files(mikopbx_db: Path, module_db: Path, runtime: Runtime = STATIC) -> Outputs:
    """Read the station and module DBs (read-only) and compute."""
    return compute(read_snapshot(mikopbx_db), read_config(module_db), runtime)


def write_outputs(out: Outputs, directory: Path) -> None:
    """Write hooks.json and records.json as plain files (`render`, the demo; the applier writes its own atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / HOOKS_FILE).write_text(to_json(out.hooks), encoding="utf-8")
    (directory / RECORDS_FILE).write_text(to_json(out.records), encoding="utf-8")
