"""What saving a proposed peer or proposed settings would bring about, judged exactly as the planner will plan.

The one home of "may this be saved?": the CLI (`peers add/set`, `settings set`), the admin form (`peers validate`,
`settings validate`), pairing and a paired peer's new patterns all ask here. Only the plan is built (nothing is
rendered). A change is refused when the value itself is wrong, and also when it would take a working peer out of
the plan as a side effect (a station renamed to a peer's name, own patterns over a peer's, a second peer of the
same name): that needs an explicit confirmation, it never happens silently.
"""

from __future__ import annotations

from dataclasses import replace

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.fields import name_key
from python_worker.core.planner import build_plan
from python_worker.core.problems import Problem, problem
from python_worker.core.station import StationSnapshot


def dropped_peers(snapshot: StationSnapshot, before: ModuleConfig, after: ModuleConfig,
                  exempt: str = "") -> dict[str, list[Problem]]:
    """Peers planned with `before` that `after` would leave out (except `exempt`, the peer being changed),
    each with the errors that would leave it out."""
    planned = {name_key(p.name): p.name for p in build_plan(snapshot, before).peers}
    plan = build_plan(snapshot, after)
    still = {name_key(p.name) for p in plan.peers}
    out: dict[str, list[Problem]] = {}
    for key, name in planned.items():
        if key in still or key == name_key(exempt) or after.peer(name) is None or not after.peer(name).enabled:  # type: ignore[union-attr]
            continue
        out[name] = [p for p in plan.problems if p.is_error and p.peer is not None and name_key(p.peer) == key]
    return out


def _drop_problems(drops: dict[str, list[Problem]], peer: str | None, field: str, confirm: bool) -> list[Problem]:
    """E_CHANGE_DROPS_PEER for each dropped peer, followed by the errors that drop it (W_ when confirmed)."""
    code = "W_CHANGE_DROPS_PEER" if confirm else "E_CHANGE_DROPS_PEER"
    out: list[Problem] = []
    for name, why in sorted(drops.items()):
        out.append(problem(code, peer, field, value=name))
        if not confirm:
            out += why
    return out


def peer_problems(snapshot: StationSnapshot, config: ModuleConfig, peer: PeerConfig, *, is_new: bool = False,
                  confirm: bool = False) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) that saving `peer` (added when `is_new`, else replacing the peer of the same name)
    would bring about, for this peer, station-wide, and for working peers it would take out of the plan. The
    peer is judged enabled: a disabled peer may be enabled later."""
    proposed = config.with_peer(replace(peer, enabled=True))
    plan = build_plan(snapshot, proposed)
    key = name_key(peer.name)
    mine = [p for p in plan.problems if p.peer is None or name_key(p.peer) == key]
    existing = config.peer(peer.name)
    if is_new and existing is not None:
        mine.append(problem("E_DUPLICATE_PEER_NAME", peer.name, "name", value=existing.name))
    if not any(p.is_error for p in mine):  # else refused already, its errors naming the peers it clashes with
        mine += _drop_problems(dropped_peers(snapshot, config, config.with_peer(peer), exempt=peer.name),
                               peer.name, "patterns", confirm)
    return [p for p in mine if p.is_error], [p for p in mine if not p.is_error]


def settings_problems(snapshot: StationSnapshot, config: ModuleConfig, settings: Settings, *,
                      confirm: bool = False) -> list[Problem]:
    """Station-wide errors that saving `settings` would bring about, and the working peers it would take out of
    the plan (a peer's own problems are its own)."""
    proposed = replace(config, settings=settings)
    plan = build_plan(snapshot, proposed)
    errors = [p for p in plan.problems if p.is_error and p.peer is None]
    old = config.settings
    field = ("station_name" if settings.station_name != old.station_name
             else "own_patterns" if settings.own_patterns != old.own_patterns else "settings")
    drops = _drop_problems(dropped_peers(snapshot, config, proposed), None, field, confirm)
    return errors + [p for p in drops if p.is_error]


def settings_warnings(snapshot: StationSnapshot, config: ModuleConfig, settings: Settings) -> list[Problem]:
    """What a confirmed settings change takes out of the plan (W_CHANGE_DROPS_PEER), to be shown when saved."""
    return _drop_problems(dropped_peers(snapshot, config, replace(config, settings=settings)), None, "settings",
                          True)
