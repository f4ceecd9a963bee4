"""Benchmark of directory sync between two paired stations on loopback (127.0.0.2 and 127.0.0.3).

Run from the repository root:
    .venv/bin/python bench/bench_sync.py [--rounds 20] [--extensions 5000] [--write docs/performance.md]
1. Propagation: one extension added in moscow's mikopbx.db, then the sync service notified (what the worker does
   after the reconcile that commit causes); timed until spb has stored the new directory in its module.db.
   Median of N. The worker adds its debounce (200 ms quiet period) before the notify.
2. A full directory of N extensions: bytes on the wire (compressed frame; JSON size for comparison), time to
   build it from mikopbx.db, time until the peer stored it, and the peer's plan + render with it.
"""

from __future__ import annotations

import argparse
import platform
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from python_worker.core.config import Settings  # noqa: E402
from python_worker.core.directory import build_local_directory  # noqa: E402
from python_worker.db.moduledb import init_db, read_config, write_settings  # noqa: E402
from python_worker.db.snapshot import read_snapshot  # noqa: E402
from python_worker.demo.stationdb import Phone, StationSpec, build_station_db  # noqa: E402
from python_worker.pipeline import compute_from_files  # noqa: E402
from python_worker.sync.accept import accept_invitation  # noqa: E402
from python_worker.sync.pairing import create_invitation, parse_invitation  # noqa: E402
from python_worker.sync.service import SyncOptions, SyncService  # noqa: E402
from python_worker.sync.station import FileStation  # noqa: E402
from python_worker.sync.wire import encode  # noqa: E402

START, END = "<!-- sync-bench:start -->", "<!-- sync-bench:end -->"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _station(root: Path, name: str, address: str, pattern: str, numbers: list[str]) -> tuple[Path, Path, Path]:
    folder = root / name
    mk = build_station_db(folder / "mikopbx.db", StationSpec(name=name, lan_ip=address,
                                                             phones=[Phone(n, f"User {n}") for n in numbers]))
    mod = folder / "module.db"
    init_db(mod)
    write_settings(mod, Settings(station_name=name, own_patterns=pattern))
    return mk, mod, folder / "state"


def _add(mk: Path, numbers: list[str]) -> None:
    conn = sqlite3.connect(mk)
    for n in numbers:
        cur = conn.execute("INSERT INTO m_Users(email, username, language) VALUES ('', ?, 'ru-ru')",
                           (f"Сотрудник {n}",))
        conn.execute("INSERT INTO m_Extensions(number, type, callerid, userid) VALUES (?, 'SIP', ?, ?)",
                     (n, f"Сотрудник {n}", cur.lastrowid))
    conn.commit()
    conn.close()


def _wait(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout}s")
        time.sleep(0.001)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--extensions", type=int, default=5000)
    ap.add_argument("--write", type=Path, help="replace the Sync section of this Markdown file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        a_mk, a_mod, a_state = _station(root, "moscow", "127.0.0.2", "2XXXX", ["20001", "20002"])
        b_mk, b_mod, b_state = _station(root, "spb", "127.0.0.3", "3XX", ["301"])
        a_port, b_port = _free_port("127.0.0.2"), _free_port("127.0.0.3")
        a = SyncService(a_state, FileStation(a_mk, a_mod), SyncOptions(bind="127.0.0.2", port=a_port))
        b = SyncService(b_state, FileStation(b_mk, b_mod), SyncOptions(bind="127.0.0.3", port=b_port))
        a.start()
        b.start()
        try:
            inv = create_invitation(a_state, "moscow", "127.0.0.2", sip_port=5060, patterns="2XXXX", sync_port=a_port)
            t = time.perf_counter()
            accept_invitation(parse_invitation(inv.text()), b_state, FileStation(b_mk, b_mod), host="127.0.0.3",
                              sync_port=b_port)
            pairing_ms = (time.perf_counter() - t) * 1000
            a.notify()
            b.notify()
            _wait(lambda: a.status()["peers"].get("spb", {}).get("in_sync"), 10)

            lat = []
            for i in range(args.rounds):
                before = b.counters["dir_received"]
                _add(a_mk, [str(21000 + i)])
                t = time.perf_counter()
                a.notify()
                _wait(lambda before=before: b.counters["dir_received"] > before, 5)
                lat.append((time.perf_counter() - t) * 1000)
                _wait(lambda: a.status()["peers"]["spb"]["in_sync"], 5)

            numbers = [str(22000 + i) for i in range(args.extensions - args.rounds - 2)]
            _add(a_mk, numbers)
            t = time.perf_counter()
            local = build_local_directory(read_snapshot(a_mk), read_config(a_mod))
            build_ms = (time.perf_counter() - t) * 1000
            wire = {"v": 1, "type": "dir", "from": "moscow", "directory": local.to_wire()}
            frame = encode(wire)
            import json

            json_bytes = len(json.dumps(wire, ensure_ascii=False, separators=(",", ":")).encode())
            before, sent_before = b.counters["dir_received"], a.counters["bytes_sent"]
            t = time.perf_counter()
            a.notify()
            _wait(lambda: b.counters["dir_received"] > before, 30)
            full_ms = (time.perf_counter() - t) * 1000
            _wait(lambda: a.status()["peers"]["spb"]["in_sync"], 10)
            wire_bytes = a.counters["bytes_sent"] - sent_before
            stored = read_config(b_mod).directory("moscow")
            assert stored is not None and len(stored.entries) == len(local.entries)
            t = time.perf_counter()
            out = compute_from_files(b_mk, b_mod)
            plan_ms = (time.perf_counter() - t) * 1000
            hints = len(out.plan.peers[0].hint_numbers)
        finally:
            a.stop()
            b.stop()
    med = statistics.median(lat)
    lines = [
        START,
        "## Sync",
        "",
        f"Command: `.venv/bin/python bench/bench_sync.py --rounds {args.rounds} --extensions {args.extensions}`",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; date {time.strftime('%Y-%m-%d')}. "
        "Two sync services (one process) on 127.0.0.2 and 127.0.0.3, CurveZMQ, default heartbeat 2 s.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| pairing (invite accept: handshake, proof, exchange, both module.db written) | {pairing_ms:.0f} ms |",
        f"| change propagation, notify -> stored in the peer's module.db, median of {args.rounds} | "
        f"{med:.1f} ms (min {min(lat):.1f}, max {max(lat):.1f}) |",
        "| in the worker add: debounce (200 ms quiet period) + the reconcile before the notify, and the peer "
        "worker's own debounce + reconcile after the store (bench_worker: 230 ms commit -> reload) | |",
        f"| full directory of {len(local.entries)} extensions: bytes on the wire (zlib JSON) | "
        f"{len(frame):,} B frame ({json_bytes:,} B as JSON); {wire_bytes:,} B sent by moscow meanwhile |",
        f"| ... build from mikopbx.db | {build_ms:.0f} ms |",
        f"| ... notify -> stored at the peer | {full_ms:.0f} ms |",
        f"| ... peer's plan + render with it ({hints} hints) | {plan_ms:.0f} ms |",
        END,
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        doc = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
        if START in doc and END in doc:
            head, rest = doc.split(START, 1)
            doc = head + text.rstrip("\n") + rest.split(END, 1)[1]
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        args.write.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
