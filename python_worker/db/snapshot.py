"""Reads a station's MikoPBX config DB (read-only) into plain frozen data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection

from python_worker import OWNER_MARK


@dataclass(frozen=True, order=True)
class Extension:
    number: str
    display_name: str
    kind: str  # m_Extensions.type: SIP, QUEUE, IVR MENU, ...


@dataclass(frozen=True, order=True)
class Provider:
    uniqid: str
    host: str
    port: int
    registration_type: str
    description: str
    disabled: bool
    is_owned: bool


@dataclass(frozen=True, order=True)
class OutgoingRoute:
    id: int
    rulename: str
    providerid: str
    priority: int
    numberbeginswith: str
    restnumbers: int
    is_owned: bool


@dataclass(frozen=True)
class StationSnapshot:
    """Everything the planner needs to know about the local station."""

    name: str
    sip_port: int
    tls_port: int
    language: str
    version: str
    own_addresses: tuple[str, ...]
    extensions: tuple[Extension, ...]
    providers: tuple[Provider, ...]
    outgoing_routes: tuple[OutgoingRoute, ...]
    sip_columns: frozenset[str]

    @property
    def sip_extension_numbers(self) -> tuple[str, ...]:
        return tuple(e.number for e in self.extensions if e.kind == "SIP")


def sqlite_engine(path: Path, *, read_only: bool) -> Engine:
    """An SQLAlchemy engine on a MikoPBX SQLite file; read-only opens never create or write it."""
    if read_only:
        if not path.is_file():
            raise FileNotFoundError(f"config database not found: {path}")
        url = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
    else:
        url = f"sqlite:///{path.resolve()}"
    engine = create_engine(url, connect_args={"timeout": 5.0})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 5000")  # same as Core's PHP
        cur.close()

    return engine


@contextmanager
def _read(path: Path) -> Iterator[Connection]:
    engine = sqlite_engine(path, read_only=True)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


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
            Extension(_str(n), _str(u) or _str(cid), _str(t))
            for n, t, cid, u in ext_rows
            if n is not None and str(n) != ""
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
                "SELECT id, rulename, providerid, priority, numberbeginswith, restnumbers, note "
                "FROM m_OutgoingRoutingTable"
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
            )
            for i, r, p, pr, nb, rn, note in route_rows
        )
        addresses = {settings.get("ExternalSipIpAddr", ""), settings.get("ExternalSipHostName", "")}
        if "m_LanInterfaces" in tables:
            for ip, ext_ip, ext_host in conn.execute(
                text("SELECT ipaddr, extipaddr, exthostname FROM m_LanInterfaces")
            ).all():
                addresses.update({_str(ip), _str(ext_ip), _str(ext_host)})
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
    )
