"""Reads a station's MikoPBX config DB (read-only) into plain frozen data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from python_worker import OWNER_MARK
from python_worker.core.station import Extension, OutgoingRoute, Provider, StationSnapshot
from python_worker.db.engine import connect


@contextmanager
def _read(path: Path) -> Iterator[Connection]:
    """A read-only connection; a damaged file or a missing table raises DatabaseDamaged, a lock DatabaseBusy."""
    with connect(path, read_only=True) as conn:
        yield conn


def _int(value: object, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _str(value: object) -> str:
    return "" if value is None else str(value)


def read_snapshot(path: Path) -> StationSnapshot:
    """One consistent read of the station config (a single read transaction)."""
    with _read(path) as conn:
        tables = set(inspect(conn).get_table_names())
        rows = conn.execute(text("SELECT key, value FROM m_PbxSettings")).all()
        settings: dict[str, str] = {str(k): _str(v) for k, v in rows}
        sip_columns = frozenset(c["name"] for c in inspect(conn).get_columns("m_Sip"))
        ext_rows = conn.execute(
            text(
                "SELECT e.number, e.type, e.callerid, u.username FROM m_Extensions e "
                "LEFT JOIN m_Users u ON u.id = e.userid"
            )
        ).all()
        extensions = sorted(
            Extension(_str(n), (_str(u) or _str(cid))[:512], _str(t))
            for n, t, cid, u in ext_rows
            if n is not None and str(n) != "" and len(str(n)) <= 64
        )
        prov_rows = conn.execute(
            text(
                "SELECT s.uniqid, s.host, s.port, s.registration_type, s.description, s.disabled, p.note "
                "FROM m_Sip s LEFT JOIN m_Providers p ON p.sipuid = s.uniqid WHERE s.type = 'friend'"
            )
        ).all()
        providers = sorted(
            Provider(
                uniqid=_str(u),
                host=_str(h).strip(),
                port=_int(port, 5060),
                registration_type=_str(rt) or "outbound",
                description=_str(d),
                disabled=_str(dis) == "1",
                is_owned=_str(note).startswith(OWNER_MARK),
            )
            for u, h, port, rt, d, dis, note in prov_rows
        )
        route_rows = conn.execute(
            text(
                "SELECT id, rulename, providerid, priority, numberbeginswith, restnumbers, note, trimfrombegin, "
                "prepend FROM m_OutgoingRoutingTable"
            )
        ).all()
        routes = sorted(
            OutgoingRoute(
                id=int(i),
                rulename=_str(r),
                providerid=_str(p),
                priority=_int(pr, 0),
                numberbeginswith=_str(nb),
                restnumbers=_int(rn, 0),
                is_owned=_str(note).startswith(OWNER_MARK),
                note=_str(note),
                trimfrombegin=_int(trim, 0),
                prepend=_str(prep),
            )
            for i, r, p, pr, nb, rn, note, trim, prep in route_rows
        )
        external = [settings.get("ExternalSipIpAddr", ""), settings.get("ExternalSipHostName", "")]
        lan: list[str] = []
        if "m_LanInterfaces" in tables:
            lans = conn.execute(text("SELECT * FROM m_LanInterfaces ORDER BY id")).mappings().all()
            # enabled interfaces first, the internet one (Core's `internet` flag) first among them
            for row in sorted(lans, key=lambda r: (_str(r.get("disabled")) == "1", _str(r.get("internet")) != "1")):
                external += [_str(row.get("extipaddr")), _str(row.get("exthostname"))]
                lan.append(_str(row.get("ipaddr")))
        addresses = {a for a in (*external, *lan) if a}
        reachable = next((a.strip() for a in (*external, *lan) if a and a.strip()), "")
    return StationSnapshot(
        name=_str(settings.get("Name")),
        sip_port=_int(settings.get("SIPPort"), 5060),
        tls_port=_int(settings.get("TLS_PORT"), 5061),
        language=_str(settings.get("PBXLanguage")) or "en-en",
        version=_str(settings.get("PBXVersion")),
        own_addresses=tuple(sorted(a.strip().lower() for a in addresses if a and a.strip())),
        extensions=tuple(extensions),
        providers=tuple(providers),
        outgoing_routes=tuple(routes),
        sip_columns=sip_columns,
        reachable_address=reachable,
        ami_port=_int(settings.get("AMIPort"), 5038),
    )
