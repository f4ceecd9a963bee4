"""What saving a proposed peer or proposed settings would bring about, judged exactly as the planner will plan.

The one home of "may this be saved?": the CLI (`peers add/set`, `settings set`), the admin form (`peers validate`,
`settings validate`) and pairing all ask here. Only the plan is built (nothing is rendered).
"""

from __future__ import annotations

from dataclasses import replace

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.planner import build_plan
from python_worker.core.problems import Problem
from python_worker.core.station import StationSnapshot


def peer_problems(snapshot: StationSnapshot, config: ModuleConfig,
                  peer: PeerConfig) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) that saving `peer` (added, or replacing the peer of the same name) would bring about,
    for this peer and station-wide. The peer is judged enabled: a disabled peer may be enabled later."""
    plan = build_plan(snapshot, config.with_peer(replace(peer, enabled=True)))
    mine = [p for p in plan.problems if p.peer is None or p.peer.lower() == peer.name.lower()]
    return [p for p in mine if p.is_error], [p for p in mine if not p.is_error]


def settings_problems(snapshot: StationSnapshot, config: ModuleConfig, settings: Settings) -> list[Problem]:
    """Station-wide errors that saving `settings` would bring about (peer problems are the peers' own)."""
    plan = build_plan(snapshot, replace(config, settings=settings))
    return [p for p in plan.problems if p.is_error and p.peer is None]
