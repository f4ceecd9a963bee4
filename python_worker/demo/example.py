"""The manual's example as real station DBs: Moscow (2XX) and St Petersburg (3XX), optionally Novosibirsk (4XX)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from python_worker.core.config import PeerConfig, Settings
from python_worker.core.runtime import Runtime
from python_worker.core.views import describe_plan
from python_worker.db.moduledb import init_db, upsert_peer, write_settings
from python_worker.demo.stationdb import Phone, StationSpec, build_station_db
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


def build_demo(out: Path, *, three: bool = False) -> list[tuple[DemoStation, Path, Path]]:
    """Create each station's mikopbx.db and module.db under `out/<name>/`; returns (station, dbs)."""
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
        write_settings(module, Settings(station_name=st.name, display_name=st.display, own_patterns=st.pattern))
        for other in stations:
            if other is st:
                continue
            upsert_peer(module, PeerConfig(
                name=other.name, host=other.address, port=5060, transport="udp", patterns=other.pattern,
                secret=pair_secret(st.name, other.name), note=other.display))
        built.append((st, mikopbx, module))
    return built


def run_demo(out: Path, *, three: bool = False, lang: str = "en") -> str:
    """Build, render into `out/<name>/state/`, and return a readable summary."""
    text = []
    for st, mikopbx, module in build_demo(out, three=three):
        result = compute_from_files(mikopbx, module, Runtime(drives_lamps=True))  # as on a box: the worker drives lamps
        write_outputs(result, out / st.name / "state")
        text.append(describe_plan(result.plan, lang))
        text.append(f"  files: {out / st.name / 'state' / 'hooks.json'}, {out / st.name / 'state' / 'records.json'}\n")
    return "\n".join(text)
