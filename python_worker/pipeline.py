"""One render pass: read both databases, plan, render. The single entry the CLI and the worker use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_worker.core.config import ModuleConfig
from python_worker.core.planner import Plan, build_plan
from python_worker.db.moduledb import read_config
from python_worker.db.snapshot import StationSnapshot, read_snapshot
from python_worker.render.hooks import build_records, render_hooks


@dataclass(frozen=True)
class Outputs:
    plan: Plan
    hooks: dict[str, str]
    records: dict[str, Any]


def compute(
    snapshot: StationSnapshot, config: ModuleConfig, unreachable: frozenset[str] = frozenset(),
    publish_epochs: Mapping[str, int] | None = None, pairing_sources: Sequence[tuple[str, str]] = (),
    *, lamps: bool = False,
) -> Outputs:
    """Pure: plan and render from already-read data (`unreachable`: peers whose trunk is down;
    `publish_epochs`: per peer, which outbound-publish generation to render; `pairing_sources`:
    (invitation id, address) of pending invitations whose station may reach the sync port to pair; `lamps`:
    hints carry the peers' lamp devices, which the worker's --devstate-cmd sets)."""
    plan = build_plan(snapshot, config, unreachable, publish_epochs, lamps=lamps)
    return Outputs(plan=plan, hooks=render_hooks(plan), records=build_records(plan, pairing_sources))


def compute_from_files(mikopbx_db: Path, module_db: Path, unreachable: frozenset[str] = frozenset(),
                       publish_epochs: Mapping[str, int] | None = None,
                       pairing_sources: Sequence[tuple[str, str]] = (), *, lamps: bool = False) -> Outputs:
    """Read the station and module DBs (read-only) and compute."""
    return compute(read_snapshot(mikopbx_db), read_config(module_db), unreachable, publish_epochs,
                   pairing_sources, lamps=lamps)
