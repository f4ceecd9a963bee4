"""A plan shown to people: as JSON (the one plan view of the CLI and the control endpoint) and in words."""

from __future__ import annotations

from typing import Any

from python_worker.core.breakout import rewritten_pattern
from python_worker.core.planner import PeerPlan, Plan
from python_worker.core.problems import admin_language

_T = {
    "en": {
        "station": "Station {name} (entity ID {eid}), own numbers {own}",
        "peer": "  peer {name} at {host}:{port}/{transport}: provider {pid}",
        "routes": "    outgoing routes: {routes}",
        "incoming": "    incoming: only {own} via did2user; digest auth both ways, identified by IP",
        "transfer": "    transfers to {patterns}: {state}",
        "blf": "    BLF: {state}{detail}",
        "overlap": "    overlapping-numbers fix: {state}",
        "fallback": "    PSTN fallback when {name} answers nothing: {routes} through {provider}",
        "transit": "    transit for {name}: {patterns} through {provider}{limit}, caller number {callerid}",
        "transit_limit": ", at most {limit} at a time",
        "via": "    through {name} to the public network: {patterns}",
        "disabled": "  disabled peers: {names}",
        "none": "  no peer planned",
        "problems": "  problems:",
        "on": "on", "off": "off",
        "blf_detail": " ({hints} hints, publishing {own} to {name}, accepting {patterns})",
    },
    "ru": {
        "station": "Станция {name} (Entity ID {eid}), свои номера {own}",
        "peer": "  сосед {name} по адресу {host}:{port}/{transport}: провайдер {pid}",
        "routes": "    исходящие маршруты: {routes}",
        "incoming": "    входящие: только {own} через did2user; digest-аутентификация в обе стороны, по IP",
        "transfer": "    переводы на {patterns}: {state}",
        "blf": "    BLF: {state}{detail}",
        "overlap": "    исправление пересекающихся номеров: {state}",
        "fallback": "    резервный выход в город, когда {name} не отвечает: {routes} через {provider}",
        "transit": "    транзит для {name}: {patterns} через {provider}{limit}, номер звонящего {callerid}",
        "transit_limit": ", не более {limit} одновременно",
        "via": "    через {name} в городскую сеть: {patterns}",
        "disabled": "  отключённые соседи: {names}",
        "none": "  ни один сосед не настроен",
        "problems": "  проблемы:",
        "on": "вкл", "off": "выкл",
        "blf_detail": " ({hints} подсказок, публикуем {own} для {name}, принимаем {patterns})",
    },
}


def plan_view(plan: Plan | None) -> dict[str, Any]:
    """The plan as JSON: what each peer gets (no secret), and every problem with its texts."""
    if plan is None:
        return {"station": None, "peers": [], "problems": []}
    return {
        "station": plan.station_name, "entity_id": plan.entity_id, "own_patterns": list(plan.own_patterns),
        "disabled_peers": list(plan.disabled_peers),
        "peers": [{"name": p.name, "provider_id": p.provider_id, "host": p.host, "port": p.port,
                   "transport": p.transport, "patterns": list(p.patterns), "blf": p.is_blf,
                   "transfers": p.is_transfers, "overlap_fix": p.is_overlap_fix,
                   "routes": [r.pattern for r in p.routes], "hints": len(p.hint_numbers),
                   **breakout_view(p)} for p in plan.peers],
        "problems": [pr.to_json() for pr in plan.problems],
    }


def describe_plan(plan: Plan, lang: str = "en") -> str:
    t = _T[admin_language(lang)]
    own = ",".join(plan.own_patterns) or "-"
    lines = [t["station"].format(name=plan.station_name, eid=plan.entity_id, own=own)]
    for p in plan.peers:
        lines.append(t["peer"].format(name=p.name, host=p.host, port=p.port, transport=p.transport,
                                      pid=p.provider_id))
        routes = ", ".join(f"{r.pattern} (^{r.numberbeginswith}[0-9]{{{r.restnumbers}}}$)" for r in p.routes)
        lines.append(t["routes"].format(routes=routes))
        lines.append(t["incoming"].format(own=own))
        lines.append(t["transfer"].format(patterns=",".join(p.patterns), state=t["on" if p.is_transfers else "off"]))
        detail = t["blf_detail"].format(hints=len(p.hint_numbers), own=own, name=p.name,
                                        patterns=",".join(p.patterns)) if p.is_blf else ""
        lines.append(t["blf"].format(state=t["on" if p.is_blf else "off"], detail=detail))
        lines.append(t["overlap"].format(state=t["on" if p.is_overlap_fix else "off"]))
        lines += _breakout_lines(p, t)
    if not plan.peers:
        lines.append(t["none"])
    if plan.disabled_peers:
        lines.append(t["disabled"].format(names=", ".join(plan.disabled_peers)))
    if plan.problems:
        lines.append(t["problems"])
        for pr in plan.problems:
            lines.append(f"    {pr.severity.value.upper()} {pr.code} [{pr.peer or 'station'}.{pr.field}]: "
                         f"{pr.message(lang)}")
    return "\n".join(lines) + "\n"


def breakout_view(p: PeerPlan) -> dict[str, Any]:
    """A peer's PSTN fallback, transit and via numbers as JSON (the plan view and the status share it)."""
    fallback = None if p.fallback is None else {
        "provider": p.fallback.provider_id, "provider_name": p.fallback.provider_name,
        "routes": [{"pattern": r.pattern, "sent_as": rewritten_pattern(r.pattern, r.trimfrombegin, r.prepend),
                    "trimfrombegin": r.trimfrombegin, "prepend": r.prepend, "follows": r.follows,
                    "example": list(r.example)} for r in p.fallback.routes]}
    transit = None if p.transit is None else {
        "patterns": list(p.transit.patterns), "provider": p.transit.provider_id,
        "provider_name": p.transit.provider_name, "limit": p.transit.limit, "callerid": p.transit.callerid}
    return {"fallback": fallback, "transit": transit, "via": [r.pattern for r in p.via_routes]}


def _breakout_lines(p: PeerPlan, t: dict[str, str]) -> list[str]:
    lines = []
    if p.fallback is not None:
        routes = ", ".join(f"{r.pattern} -> {rewritten_pattern(r.pattern, r.trimfrombegin, r.prepend)}"
                           for r in p.fallback.routes)
        lines.append(t["fallback"].format(name=p.name, routes=routes, provider=p.fallback.provider_name))
    if p.transit is not None:
        limit = t["transit_limit"].format(limit=p.transit.limit) if p.transit.limit else ""
        lines.append(t["transit"].format(name=p.name, patterns=",".join(p.transit.patterns), limit=limit,
                                         provider=p.transit.provider_name, callerid=p.transit.callerid))
    if p.via_routes:
        lines.append(t["via"].format(name=p.name, patterns=",".join(r.pattern for r in p.via_routes)))
    return lines
