"""Two real worker processes with sync on 127.0.0.2/127.0.0.3: paired from the shell, then a new extension on one
station becomes a hint on the other; a stopped peer's lamps read Unavailable and come back after it restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_worker.core.config import Settings
from python_worker.core.planner import provider_id
from python_worker.db.moduledb import init_db, read_config, write_settings
from python_worker.demo.stationdb import Phone, StationSpec, add_phone, build_station_db
from tests.unit.applyhelpers import PYTHON, REPO, worker_env
from tests.unit.test_sync import free_port, wait_until


class Station:
    def __init__(self, root: Path, name: str, address: str, pattern: str, numbers: tuple[str, ...],
                 *extra: str) -> None:
        self.name, self.address, self.pattern, self.extra = name, address, pattern, extra
        self.folder = root / name
        self.mikopbx_db = build_station_db(self.folder / "mikopbx.db", StationSpec(
            name=name, lan_ip=address, phones=[Phone(n, f"User {n}") for n in numbers]))
        self.module_db = self.folder / "module.db"
        init_db(self.module_db)
        write_settings(self.module_db, Settings(station_name=name, own_patterns=pattern))
        self.state_dir = self.folder / "state"
        self.port = free_port(address)
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, "-m", "python_worker", *args], capture_output=True, text=True, timeout=30,
                              env=worker_env(), cwd=REPO, check=False, input=stdin)

    def locations(self) -> list[str]:
        return ["--mikopbx-db", str(self.mikopbx_db), "--module-db", str(self.module_db),
                "--state-dir", str(self.state_dir)]

    def start(self) -> None:
        argv = [PYTHON, "-m", "python_worker", "run", *self.locations(), "--no-reload",
                "--sync-bind", self.address, "--sync-port", str(self.port), "--sync-heartbeat", "0.3", *self.extra]
        self.proc = subprocess.Popen(argv, env=worker_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_until(lambda: (self.state_dir / "control.sock").exists(), 15, f"{self.name} worker")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def hints(self) -> str:
        try:
            return str(json.loads((self.state_dir / "hooks.json").read_text())["extensionGenHints"])
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            return ""

    def add_phone(self, number: str, name: str) -> None:
        add_phone(self.mikopbx_db, Phone(number, name))


@pytest.fixture
def pair(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Station, Station]]:
    extra = tuple(getattr(request, "param", ()))
    a = Station(tmp_path, "moscow", "127.0.0.2", "2XX", ("201", "202"), *extra)
    b = Station(tmp_path, "spb", "127.0.0.3", "3XX", ("301",), *extra)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def _paired(a: Station, b: Station) -> str:
    made = a.cli("invite", "create", *a.locations(), "--address", a.address, "--sync-port", str(a.port), "--json")
    assert made.returncode == 0, made.stderr
    text = json.loads(made.stdout)["invitation"]
    accepted = b.cli("invite", "accept", *b.locations(), "--address", b.address, "--sync-port", str(b.port),
                     stdin=text)
    assert accepted.returncode == 0, accepted.stderr
    assert f"paired with '{a.name}'" in accepted.stdout
    return text


def _peer(st: Station, name: str) -> dict[str, object]:
    done = st.cli("status", "--state-dir", str(st.state_dir), "--json")  # live, over the control socket
    peers: dict[str, dict[str, object]] = json.loads(done.stdout).get("sync", {}).get("peers", {}) \
        if done.returncode == 0 else {}
    return peers.get(name, {})


def test_workers_pair_from_the_shell_and_sync_directory_changes(pair: tuple[Station, Station]) -> None:
    a, b = pair
    text = _paired(a, b)
    again = b.cli("invite", "accept", *b.locations(), "--address", b.address, "--lang", "ru", stdin=text)
    assert again.returncode == 2 and "E_INVITE_USED" in again.stderr and "уже использовано" in again.stderr

    # Each worker plans the other from its directory: hints for exactly the peer's phones.
    wait_until(lambda: a.hints() == "exten => 301,hint,PJSIP/301\n", 10, "moscow's hints for spb")
    wait_until(lambda: b.hints() == "exten => 201,hint,PJSIP/201\nexten => 202,hint,PJSIP/202\n", 10,
               "spb's hints for moscow")
    assert [p.name for p in read_config(b.module_db).peers if p.paired] == ["moscow"]

    a.add_phone("203", "New Person")  # a commit in mikopbx.db: worker reconciles, sync pushes, spb re-plans
    wait_until(lambda: "exten => 203,hint,PJSIP/203" in b.hints(), 5, "203 to reach spb's hints")

    status = b.cli("status", "--state-dir", str(b.state_dir), "--json")
    sync = json.loads(status.stdout)["sync"]
    assert sync["peers"]["moscow"]["state"] == "up"

    # moscow stops: spb's lamps for it read Unavailable; it restarts: they come back.
    a.stop()
    down = f",hint,PJSIP/FED-{provider_id('moscow')[10:]}\n"  # a PJSIP device that does not exist
    wait_until(lambda: down in b.hints(), 10, "spb to show moscow's lamps Unavailable")
    a.start()
    wait_until(lambda: "exten => 203,hint,PJSIP/203" in b.hints() and down not in b.hints(), 15,
               "moscow's lamps back on spb")


@pytest.mark.parametrize("pair", [("--sync-keepalive", "30")], indirect=True)
def test_a_frozen_peer_reads_down_at_the_zmtp_heartbeat_not_at_the_keepalive(pair: tuple[Station, Station]) -> None:
    """moscow's worker stops dead (SIGSTOP: its sockets stay open, its kernel still acknowledges, nothing answers).
    The workers ping each other every 30 s; libzmq's heartbeats (every 0.3 s, 0.9 s without an answer) drop the
    connection, and spb reads moscow down in about a second; moscow back, up again."""
    a, b = pair
    _paired(a, b)
    wait_until(lambda: _peer(b, "moscow").get("state") == "up" and _peer(a, "spb").get("state") == "up", 15,
               "both links up")
    assert _peer(b, "moscow")["heartbeat_interval"] == 30.0  # our pings: every keepalive while it answers
    assert a.proc is not None
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        wait_until(lambda: _peer(b, "moscow").get("state") == "down", 10, "spb to read the frozen moscow down")
        took = time.monotonic() - t0
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    assert took < 3.0, f"moscow read down after {took:.1f} s: by our pings, not libzmq's heartbeats"
    wait_until(lambda: _peer(b, "moscow").get("state") == "up", 15, "moscow up again on spb")
