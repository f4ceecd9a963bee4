"""The worker's status: one typed document, answered on the control endpoint and published as status.json.

The admin page reads status.json (through the PHP host, no Python started per poll), the CLI's `status` asks the
running worker. Both get this one shape; docs/status.md describes it field by field. It is built from what the
worker already knows (its last reconcile, its last Asterisk poll), never by asking Asterisk again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from python_worker.apply.reconciler import ApplyReport
from python_worker.core.liveness import Liveness
from python_worker.core.planner import Plan
from python_worker.core.problems import Problem, shown
from python_worker.core.views import breakout_view

STATUS_FORMAT = 1

# The values of the three dots, and the colour the page gives each (anything else is yellow: "no data yet").
TRUNK_STATES = ("reachable", "unreachable", "unknown")
BLF_STATES = ("ok", "waiting", "unknown", "disabled")
APPLY_STATES = ("applied", "failed", "disabled")


class PeerStatus(TypedDict):
    name: str
    provider_id: str | None
    host: str | None
    port: int | None
    transport: str | None
    patterns: list[str]
    planned: bool  # in the plan (enabled and without errors)
    applied: bool  # its provider is in the records last written
    disabled: bool
    trunk: str  # TRUNK_STATES: the trunk's qualify state in Asterisk
    rtt_ms: float | None  # the trunk's last qualify round trip
    blf: str  # BLF_STATES: ok once the peer's device states reach us
    apply: str  # APPLY_STATES
    problems: list[dict[str, Any]]  # Problem.to_json(): code, severity, peer, field, params, message {ru, en}
    drift: list[dict[str, Any]]  # rows of this peer the last apply found changed by hand and repaired
    fallback: dict[str, Any] | None  # its PSTN fallback as planned (core/views.breakout_view), or None
    transit: dict[str, Any] | None  # what it may call out through us, or None
    via: list[str]  # numbers we call out through it


class Status(TypedDict):
    format: int
    running: bool
    pid: int
    started: float
    module_enabled: bool | None
    station: str | None
    last_apply: dict[str, Any] | None  # ApplyReport.to_json() of the last reconcile that changed or failed
    last_check: float
    last_check_result: str | None
    held_configuration: str | None  # digest of a configuration that failed to reload (waiting for a change)
    trunk_source: str  # "asterisk" once a contacts poll answered, else "unknown"
    problems: list[dict[str, Any]]  # station-wide problems
    peers: list[PeerStatus]
    sync: dict[str, Any] | None  # SyncService.status() when the sync port is served
    threads: dict[str, Any]  # per supervised thread (control, watch, sync): alive, restarts, last_error, last_restart
    lamps: dict[str, Any] | None  # DevstateBridge.status() when device states travel over the sync channel


@dataclass(frozen=True)
class Observed:
    """What the worker knows besides its reports: the last contacts poll and the peers' liveness."""

    contacts: Mapping[str, tuple[str, float | None]] | None  # provider id -> (trunk state, rtt ms)
    liveness: Liveness
    applied_ids: frozenset[str]  # provider ids in the records last written
    sync: dict[str, Any] | None
    started: float
    last_check: float
    hold_digest: str
    threads: dict[str, Any] | None = None  # Supervisor.status()
    blf: Mapping[str, str] = field(default_factory=dict)  # peer -> BLF dot, for peers whose states we carry
    problems: tuple[Problem, ...] = ()  # station-wide problems seen at run time (the AMI login)
    lamps: dict[str, Any] | None = None


def _peer(plan: Plan | None, name: str) -> PeerStatus:
    # a refused name may hold anything: shown escaped, like its problems
    return {"name": shown(name), "provider_id": None, "host": None, "port": None, "transport": None, "patterns": [],
            "planned": False, "applied": False, "disabled": False, "trunk": "unknown", "rtt_ms": None,
            "blf": "unknown", "apply": "failed", "problems": [], "drift": [], "fallback": None, "transit": None,
            "via": []}


def build_status(last: ApplyReport | None, last_apply: ApplyReport | None, seen: Observed) -> Status:
    plan = last.plan if last else None
    peers: dict[str, PeerStatus] = {}
    if plan is not None:
        for p in plan.peers:
            peers[p.name] = {**_peer(plan, p.name), "provider_id": p.provider_id, "host": p.host, "port": p.port,
                             "transport": p.transport, "patterns": list(p.patterns), "planned": True,
                             "applied": p.provider_id in seen.applied_ids,
                             "blf": seen.blf.get(p.name) or seen.liveness.blf_state(p.name, p.is_blf),
                             **breakout_view(p)}  # type: ignore[typeddict-item]
        for n in plan.disabled_peers:
            peers.setdefault(n, {**_peer(plan, n), "disabled": True, "blf": "disabled"})
        for pr in plan.problems:
            if pr.peer:
                peers.setdefault(pr.peer, _peer(plan, pr.peer))
    for name, info in peers.items():  # keyed by the raw name: problems match it; the document shows it escaped
        info["problems"] = [pr.to_json() for pr in (plan.problems if plan else ()) if pr.peer == name]
        info["problems"] += [i.to_json() for i in (last.issues if last else []) if i.peer == name]
        info["drift"] = [c.to_json() for c in (last_apply.changes if last_apply else []) if c.drift and c.peer == name]
        trunk, rtt = (seen.contacts or {}).get(str(info["provider_id"]), ("unknown", None))
        info["trunk"] = trunk if info["provider_id"] else "unknown"
        info["rtt_ms"] = None if rtt is None else round(rtt, 1)
        info["apply"] = "disabled" if info["disabled"] else ("applied" if info["planned"] and info["applied"]
                                                              else "failed")
    return {
        "format": STATUS_FORMAT,
        "running": True, "pid": os.getpid(), "started": round(seen.started, 3),
        "module_enabled": last.module_enabled if last else None,
        "station": plan.station_name if plan else None,
        "last_apply": None if last_apply is None else {
            k: v for k, v in last_apply.to_json().items() if k != "problems"},
        "last_check": round(seen.last_check, 3),
        "last_check_result": last.result if last else None,
        "held_configuration": seen.hold_digest or None,
        "trunk_source": "asterisk" if seen.contacts is not None else "unknown",
        "problems": _station_problems(last, plan) + [pr.to_json() for pr in seen.problems],
        "peers": [peers[n] for n in sorted(peers)],
        "sync": seen.sync,
        "threads": dict(seen.threads or {}),
        "lamps": seen.lamps,
    }


def _station_problems(last: ApplyReport | None, plan: Plan | None) -> list[dict[str, Any]]:
    """The plan's station-wide problems, and the last reconcile's own (a damaged or locked database ...)."""
    planned = [pr for pr in (plan.problems if plan else ()) if pr.peer is None]
    own = [pr for pr in (last.problems if last else ()) if pr.peer is None and pr not in planned]
    return [pr.to_json() for pr in (*planned, *own)]


def stopped_status(reason: str) -> dict[str, Any]:
    """What status.json says once the worker has stopped (the page shows the reason)."""
    return {"format": STATUS_FORMAT, "running": False, "stopped": round(time.time(), 3), "reason": reason,
            "peers": [], "problems": []}
