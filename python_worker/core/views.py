"""A plan told in words, for the admin's terminal."""

from __future__ import annotations

from python_worker.pipeline import Outputs

_T = {
    "en": {
        "station": "Station {name} (entity ID {eid}), own numbers {own}",
        "peer": "  peer {name} at {host}:{port}/{transport}: provider {pid}",
        "routes": "    outgoing routes: {routes}",
        "incoming": "    incoming: only {own} via did2user; digest auth both ways, identified by IP",
        "transfer": "    transfers to {patterns}: {state}",
        "blf": "    BLF: {state}{detail}",
        "overlap": "    overlapping-numbers fix: {state}",
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
        "disabled": "  отключённые соседи: {names}",
        "none": "  ни один сосед не настроен",
        "problems": "  проблемы:",
        "on": "вкл", "off": "выкл",
        "blf_detail": " ({hints} подсказок, публикуем {own} для {name}, принимаем {patterns})",
    },
}


def describe_plan(out: Outputs, lang: str = "en") -> str:
    t = _T["ru" if lang.startswith("ru") else "en"]
    plan = out.plan
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
