"""The manual's example as real station DBs: Moscow (2XX) and St Petersburg (3XX), optionally Novosibirsk (4XX)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from python_worker.core.config import PeerConfig, Settings
from python_worker.core.runtime import Runtime
from python_worker.core.views import describe_plan
from python_worker.db.moduledb import init_db, upsert_peer, write_settings
from python_worker.demo.stationdb import Phone, PublicProvider, StationSpec, add_provider, build_station_db
from python_worker.pipeline import compute_from_files, write_outputs


@dataclass(frozen=True)
class DemoStation:
    name: str
    display: str
    address: str
    pattern: str
    phones: tuple[Phone, ...]


STATIONS = (
    DemoStation("moscow", "АТС Москва", "127.0.0.2", "2XX", (
        Phone("201", "Иван Петров"), Phone("202", "Мария Смирнова"), Phone("203", "Олег Кузнецов"))),
    DemoStation("spb", "АТС Санкт-Петербург", "127.0.0.3", "3XX", (
        Phone("301", "Анна Соколова"), Phone("302", "Павел Иванов"), Phone("303", "Елена Попова"))),
    DemoStation("novosibirsk", "АТС Новосибирск", "127.0.0.4", "4XX", (
        Phone("401", "Сергей Волков"), Phone("402", "Ольга Морозова"))),
)


def pair_secret(a: str, b: str) -> str:
    """A deterministic demo secret shared by one pair of stations (real installs generate one)."""
    first, second = sorted((a, b))
    return "demo-" + hashlib.sha256(f"{first}+{second}".encode()).hexdigest()[:24]


# The breakout demo (issue #15): moscow's PSTN operator, reached at a documentation address (never contacted).
DEMO_PSTN = PublicProvider("SIP-PROVIDER-PSTN1", "203.0.113.50", "PSTN operator")


def build_demo(out: Path, *, three: bool = False, breakout: bool = False) -> list[tuple[DemoStation, Path, Path]]:
    """Create each station's mikopbx.db and module.db under `out/<name>/`; returns (station, dbs).

    `breakout`: moscow also has a PSTN provider, falls back to it for spb and grants spb transit to Moscow city
    numbers through it; spb routes those numbers to moscow (what pairing would carry)."""
    stations = STATIONS if three else STATIONS[:2]
    built = []
    for st in stations:
        folder = out / st.name
        mikopbx = build_station_db(folder / "mikopbx.db", StationSpec(
            name=st.display, lan_ip=st.address, phones=list(st.phones)))
        module = folder / "module.db"
        if module.exists():
            module.unlink()
        init_db(module)
        public = {"public_number": "74951234000", "public_prepend": "74951234"} if breakout and st.name == "moscow" \
            else {}
        write_settings(module, Settings(station_name=st.name, display_name=st.display, own_patterns=st.pattern,
                                        **public))  # type: ignore[arg-type]
        if breakout and st.name == "moscow":
            add_provider(mikopbx, DEMO_PSTN)
        for other in stations:
            if other is st:
                continue
            upsert_peer(module, PeerConfig(
                name=other.name, host=other.address, port=5060, transport="udp", patterns=other.pattern,
                secret=pair_secret(st.name, other.name), note=other.display,
                **(_breakout(st.name, other.name) if breakout else {})))  # type: ignore[arg-type]
        built.append((st, mikopbx, module))
    return built


def _breakout(me: str, other: str) -> dict[str, object]:
    if (me, other) == ("moscow", "spb"):
        return {"fallback_provider": DEMO_PSTN.uniqid, "fallback_prepend": "78125550",
                "transit_patterns": "8495XXXXXXX", "transit_provider": DEMO_PSTN.uniqid, "transit_limit": 2}
    if (me, other) == ("spb", "moscow"):
        return {"via_patterns": "8495XXXXXXX"}
    return {}


def run_demo(out: Path, *, three: bool = False, lang: str = "en", breakout: bool = False) -> str:
    """Build, render into `out/<name>/state/`, and return a readable summary."""
    text = []
    for st, mikopbx, module in build_demo(out, three=three, breakout=breakout):
        result = compute_from_files(mikopbx, module, Runtime(drives_lamps=True))  # as on a box: the worker drives lamps
        write_outputs(result, out / st.name / "state")
        text.append(describe_plan(result.plan, lang))
        text.append(f"  files: {out / st.name / 'state' / 'hooks.json'}, {out / st.name / 'state' / 'records.json'}\n")
    return "\n".join(text)
