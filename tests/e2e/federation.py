"""Stations federated BY THE MODULE'S WORKER, as on a real MikoPBX box.

Each station has its own mikopbx.db (MikoPBX schema, a few phones), its own module.db filled with the
worker's CLI (`init`, `settings set`, `peers add/remove`), and a state dir.  The worker
(`python -m python_worker apply` once, or `run` as the long-running watcher) writes the module's
records into mikopbx.db and the hook texts into hooks.json, then runs its reload command:
tests/e2e/station_reload.py, which regenerates the station's Asterisk config from both (like Core)
and reloads Asterisk.  Nothing here writes a federation record or hook text itself.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import csv
import hashlib
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tests.e2e import harness as hs
from tests.e2e import mikopbx_station as ms
from tests.e2e import sipp_scenarios as sc

REPO = Path(__file__).resolve().parents[2]
RELOAD_SCRIPT = REPO / "tests" / "e2e" / "station_reload.py"
PHONE_SECRET = "phone-secret-"
PSTN_PROVIDER = "SIP-PROVIDER-PSTN1"
PSTN_ADDRESS = "127.0.0.50"

# Test phones are SIPp instances that cannot answer qualify OPTIONS between scenarios; a per-phone
# manual attribute (an ordinary MikoPBX setting) turns the phone AOR's qualify off.
PHONE_MANUAL = base64.b64encode(b"[aor]\nqualify_frequency = 0\n").decode()


@dataclass(frozen=True)
class Spec:
    name: str
    address: str
    phones: tuple[str, ...]
    patterns: str  # own_patterns in module.db
    rtp_start: int
    phone_base: int  # phone N gets 127.0.0.<phone_base + index>

    def phone_ip(self, number: str) -> str:
        return f"127.0.0.{self.phone_base + self.phones.index(number)}"


MOSCOW = Spec("moscow", "127.0.0.2", ("201", "202"), "2XX", 20000, 21)
SPB = Spec("spb", "127.0.0.3", ("301", "302"), "3XX", 21000, 31)
NSK = Spec("novosibirsk", "127.0.0.4", ("401", "402"), "4XX", 22000, 41)


def pair_secret(a: str, b: str) -> str:
    """The shared trunk secret of a pair of stations (both ends must hold the same one)."""
    lo, hi = sorted((a.lower(), b.lower()))
    return hashlib.sha256(f"pbxfed-e2e:{lo}:{hi}".encode()).hexdigest()[:32]


def phone_secret(number: str) -> str:
    return f"{PHONE_SECRET}{number}"


def phone_name(number: str) -> str:
    """The employee name of an e2e phone (Cyrillic: it must reach the other station's phone intact)."""
    return f"Сотрудник {number}"


def provider_id(peer_name: str) -> str:
    from python_worker.core.planner import provider_id as pid

    return pid(peer_name)


def entity_id(station_name: str) -> str:
    from python_worker.core.planner import entity_id as eid

    return eid(station_name)


def worker_cli(*args: str, timeout: float = 60.0, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m python_worker <args>` with the venv's interpreter (secrets and invitations go on `stdin`,
    never in argv); raises with its output on failure."""
    proc = subprocess.run([sys.executable, "-m", "python_worker", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False, input=stdin)
    if proc.returncode != 0:
        raise AssertionError(f"python_worker {shlex.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class ModuleStation:
    """One MikoPBX station with the module installed: its DBs, state dir, Asterisk and (maybe) worker."""

    spec: Spec
    h: hs.Harness
    st: hs.Station
    mikopbx_db: Path
    module_db: Path
    state_dir: Path
    station_json: Path
    extra_ips: dict[str, str] = field(default_factory=dict)
    worker: subprocess.Popen[bytes] | None = None
    worker_log: Path | None = None
    peers: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def address(self) -> str:
        return self.spec.address

    # ------------------------------------------------------------------ module.db through the CLI
    def _db_args(self) -> list[str]:
        return ["--mikopbx-db", str(self.mikopbx_db), "--module-db", str(self.module_db)]

    def add_peer(self, other: Spec, *, overlap_fix: bool = False, blf: bool = True,
                 patterns: str | None = None) -> None:
        args = ["peers", "add", *self._db_args(), "--name", other.name, "--host", other.address,
                "--patterns", patterns or other.patterns, "--secret", "-"]
        args += ["--overlap-fix"] if overlap_fix else []
        args += [] if blf else ["--no-blf"]
        worker_cli(*args, stdin=pair_secret(self.name, other.name))
        self.peers.add(other.name)

    def set_peer(self, other: Spec, *extra: str) -> None:
        worker_cli("peers", "set", *self._db_args(), "--name", other.name, *extra)

    def remove_peer(self, name: str) -> None:
        worker_cli("peers", "remove", "--module-db", str(self.module_db), name)
        self.peers.discard(name)

    # ------------------------------------------------------------------ the worker
    def reload_cmd(self) -> str:
        return shlex.join([sys.executable, str(RELOAD_SCRIPT), str(self.station_json)])

    def status_cmd(self, cli: str = "pjsip show contacts") -> str:
        return shlex.join([*self.h.prefix(), "/usr/sbin/asterisk", "-C", self.st.conf, "-rx", cli])

    def worker_args(self) -> list[str]:
        return [*self._db_args(), "--state-dir", str(self.state_dir), "--reload-cmd", self.reload_cmd()]

    def apply(self) -> str:
        """One-shot `python -m python_worker apply` (writes records + hooks.json, then reloads)."""
        return worker_cli("apply", *self.worker_args()).stdout

    def start_worker(self, *extra: str, netns: bool = False) -> None:
        """`python -m python_worker run` for this station (the long-running watcher); with `netns`, inside the
        harness's network namespace (its sync channel then stays there too)."""
        if self.worker is not None and self.worker.poll() is None:
            return
        self.worker_log = self.state_dir.parent / "worker.out"
        out = open(self.worker_log, "ab")  # noqa: SIM115 - handed to the child process
        try:
            pre = ["ip", "netns", "exec", self.h.netns] if netns and self.h.netns else []
            self.worker = subprocess.Popen(
                [*pre, sys.executable, "-m", "python_worker", "run", *self.worker_args(), "--status-cmd",
                 self.status_cmd(), "--hints-cmd", self.status_cmd("core show hints"),
                 "--devstate-cmd", self.status_cmd("devstate change {device} {state}"), "--debounce", "0.1",
                 *extra],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        finally:
            out.close()
        ok = hs.wait_until(lambda: (self.state_dir / "control.sock").exists() or self.worker is None
                           or self.worker.poll() is not None, 15.0, 0.05)
        if not ok or self.worker.poll() is not None:
            raise hs.HarnessError(f"worker for {self.name} did not start: {self.worker_output()[-2000:]}")

    def worker_output(self) -> str:
        if self.worker_log is None or not self.worker_log.exists():
            return ""
        return self.worker_log.read_text(errors="replace")

    def stop_worker(self) -> None:
        """Stop this station's worker by its own PID (SIGTERM, then SIGKILL if it lingers)."""
        proc, self.worker = self.worker, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def federation_log(self) -> str:
        p = self.state_dir / "federation.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def hooks(self) -> dict[str, str]:
        p = self.state_dir / "hooks.json"
        return ms.load_hooks(p) if p.exists() else {}

    # ------------------------------------------------------------------ mikopbx.db
    def query(self, sql: str, args: Iterable[object] = ()) -> list[tuple[object, ...]]:
        db = sqlite3.connect(f"file:{self.mikopbx_db}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, tuple(args)).fetchall()
        finally:
            db.close()

    def module_rows(self) -> dict[str, int]:
        """How many module-owned rows each table holds (the ownership mark: 'ModulePbxFederation:')."""
        out = {}
        mark = "ModulePbxFederation:%"
        for table, col in (("m_Providers", "note"), ("m_OutgoingRoutingTable", "note"),
                           ("m_IncomingRoutingTable", "note"), ("m_NetworkFilters", "description")):
            out[table] = int(str(self.query(f"SELECT count(*) FROM {table} WHERE {col} LIKE ?", (mark,))[0][0]))
        for table, col in (("m_Sip", "uniqid"), ("m_SipHosts", "provider_id")):
            out[table] = int(str(self.query(f"SELECT count(*) FROM {table} WHERE {col} LIKE 'SIP-TRUNK-%'")[0][0]))
        return out

    def provider_rows(self, peer: str) -> int:
        return int(str(self.query("SELECT count(*) FROM m_Providers WHERE uniqid = ?", (provider_id(peer),))[0][0]))

    # ------------------------------------------------------------------ Asterisk
    def rx(self, command: str) -> str:
        return self.h.rx(self.st, command)

    def contacts(self) -> str:
        return self.rx("pjsip show contacts")

    def trunk_state(self, peer: str) -> str:
        """Avail / Unavail / Unknown / '' for the trunk to `peer`, from `pjsip show contacts`."""
        m = re.search(r"Contact:\s+" + re.escape(provider_id(peer)) + r"/\S+\s+\S+\s+(\w+)", self.contacts())
        return m.group(1) if m else ""

    def hint_state(self, number: str) -> str:
        m = re.search(r"State:(\w+)", self.rx(f"core show hint {number}"))
        return m.group(1) if m else ""

    def cdr_rows(self) -> list[list[str]]:
        p = self.st.host_dir / "log" / "cdr-csv" / "Master.csv"
        if not p.exists():
            return []
        with open(p, newline="") as f:
            return [row for row in csv.reader(f) if row]


def add_pstn_provider(db_path: Path) -> None:
    """A hand-made catch-all PSTN provider (SIPp UAS on 127.0.0.50) and route for 11-digit numbers,
    exactly as an admin would create them in MikoPBX (not module-owned)."""
    from python_worker.demo.stationdb import PublicProvider, add_provider

    add_provider(db_path, PublicProvider(PSTN_PROVIDER, PSTN_ADDRESS, "PSTN operator"))


class Federation:
    """A harness plus module-driven stations; `close()` stops workers, SIPp and Asterisk (own PIDs only)."""

    def __init__(self, name: str = "fed") -> None:
        self.h = hs.Harness()
        self.stations: dict[str, ModuleStation] = {}
        self.name = name

    def add(self, spec: Spec, *, extra_phones: tuple[str, ...] = (), pstn: bool = False,
            settings: Iterable[str] = ()) -> ModuleStation:
        host_dir = self.h.host_run / spec.name
        (host_dir / "cf").mkdir(parents=True, exist_ok=True)
        mikopbx_db = host_dir / "cf" / "mikopbx.db"
        module_db = host_dir / "module" / "db" / "module.db"
        module_db.parent.mkdir(parents=True, exist_ok=True)
        state_dir = module_db.parent / "state"
        db = ms.create_db(mikopbx_db)
        db.execute("UPDATE m_PbxSettings SET value=? WHERE key='Name'", (f"MikoPBX {spec.name}",))
        db.commit()
        for number in (*spec.phones, *extra_phones):
            ms.add_phone(db, number, phone_secret(number), name=phone_name(number))
        db.execute("UPDATE m_Sip SET manualattributes=? WHERE type='peer'", (PHONE_MANUAL,))
        db.commit()
        db.execute("PRAGMA journal_mode=WAL")  # like /cf/conf/mikopbx.db
        db.close()
        if pstn:
            add_pstn_provider(mikopbx_db)
        worker_cli("init", "--module-db", str(module_db))
        worker_cli("settings", "set", "--mikopbx-db", str(mikopbx_db), "--module-db", str(module_db),
                   "--station-name", spec.name, "--own-patterns", spec.patterns, *settings)
        net = ms.StationNet(spec.name, spec.address, entity_id(spec.name), 5060, spec.rtp_start,
                            spec.rtp_start + 999)
        conn = sqlite3.connect(f"file:{mikopbx_db}?mode=ro", uri=True)
        st = self.h.add_station(net, conn, {}, out_of_hours=True)
        conn.close()
        station_json = host_dir / "station.json"
        station_json.write_text(json.dumps({
            "name": spec.name, "address": spec.address, "entity_id": net.entity_id, "sip_port": 5060,
            "rtp_start": net.rtp_start, "rtp_end": net.rtp_end, "host_dir": str(host_dir),
            "chroot_path": st.chroot_path, "chroot_root": str(self.h.root), "netns": self.h.netns or "",
            "db": str(mikopbx_db), "hooks": str(state_dir / "hooks.json"), "out_of_hours": True,
        }, indent=1))
        mst = ModuleStation(spec, self.h, st, mikopbx_db, module_db, state_dir, station_json,
                            extra_phone_ips(spec, extra_phones))
        self.stations[spec.name] = mst
        return mst

    def __getitem__(self, name: str) -> ModuleStation:
        return self.stations[name]

    def start(self, *names: str) -> None:
        for name in names or tuple(self.stations):
            s = self.stations[name]
            self.h.start(s.st)
            s.rx("pjsip set logger on")

    def qualify_all(self, timeout: float = 15.0) -> None:
        """Ask every trunk for a qualify now and wait (bounded) until each reads Avail."""
        for s in self.stations.values():
            if s.st.proc is None:
                continue
            for peer in s.peers:
                if peer in self.stations and self.stations[peer].st.proc is not None:
                    s.rx(f"pjsip qualify {provider_id(peer)}")
        for s in self.stations.values():
            if s.st.proc is None:
                continue
            for peer in s.peers:
                if peer in self.stations and self.stations[peer].st.proc is not None:
                    ok = hs.wait_until(partial(_trunk_is, s, peer, "Avail"), timeout, 0.2)
                    assert ok, f"{s.name} -> {peer}: {s.contacts()}"

    def close(self) -> None:
        for s in self.stations.values():
            with contextlib.suppress(Exception):
                s.stop_worker()
        self.h.close()

    # ------------------------------------------------------------------ phones
    def station_of(self, number: str, where: str | None = None) -> ModuleStation:
        if where is not None:
            return self.stations[where]
        for s in self.stations.values():
            if number in s.spec.phones:
                return s
        raise KeyError(number)

    def phone_ip(self, number: str, where: str | None = None) -> str:
        s = self.station_of(number, where)
        return s.extra_ips.get(number) or s.spec.phone_ip(number)

    def register(self, number: str, where: str | None = None) -> None:
        s = self.station_of(number, where)
        res = self.h.sipp(f"reg{number}", sc.register(number), local_ip=self.phone_ip(number, where),
                          remote=s.address, auth=(number, phone_secret(number)), timeout=10)
        assert res.ok, res.errors + res.messages[-2000:]

    def start_call(self, caller: str, callee: str, *, hold_ms: int = 1500, ring_ms: int = 300,
                   caller_at: str | None = None, callee_at: str | None = None, timeout: float = 20.0,
                   expect: str = "200") -> tuple[hs.SippRun, hs.SippRun]:
        """Register `callee`, start its answering phone, then let `caller` dial it; both run in the background."""
        self.register(callee, callee_at)
        uas = self.h.start_sipp(f"uas{callee}", sc.answer(callee, ring_ms=ring_ms),
                                local_ip=self.phone_ip(callee, callee_at),
                                remote=self.station_of(callee, callee_at).address, timeout=timeout + 5)
        src = self.station_of(caller, caller_at)
        uac = self.h.start_sipp(f"call{caller}", sc.call(caller, hold_ms=hold_ms, expect=expect),
                                local_ip=self.phone_ip(caller, caller_at), remote=src.address, service=callee,
                                auth=(caller, phone_secret(caller)), timeout=timeout)
        return uac, uas

    def call(self, caller: str, callee: str, **kw: object) -> tuple[hs.SippResult, hs.SippResult]:
        uac, uas = self.start_call(caller, callee, **kw)  # type: ignore[arg-type]
        res = uac.wait()
        if not res.ok:
            return res, uas.stop()
        return res, uas.wait()


def _trunk_is(s: ModuleStation, peer: str, state: str) -> bool:
    return s.trunk_state(peer) == state


def extra_phone_ips(spec: Spec, extra: tuple[str, ...]) -> dict[str, str]:
    return {n: f"127.0.0.{spec.phone_base + 5 + i}" for i, n in enumerate(extra)}


@dataclass(frozen=True)
class Traced:
    """One message of a SIPp -trace_msg log: when (epoch s, None without a timestamp), sent or received, its text."""

    time: float | None
    kind: str  # "sent" | "received"
    text: str


_TRACE_SPLIT = re.compile(r"^-{20,}([^\n]*)\n", re.M)


def sipp_trace(messages: str) -> list[Traced]:
    """The one parser of SIPp's -trace_msg log: every message sent or received, in order."""
    parts = _TRACE_SPLIT.split(messages.replace("\r\n", "\n"))
    out = []
    for stamp, block in zip(parts[1::2], parts[2::2], strict=True):
        head, _, text = block.partition("\n")
        kind = "sent" if "message sent" in head else "received" if "message received" in head else ""
        if kind:
            when = sipp_time(stamp) if re.search(r"\d{4}-\d\d-\d\d", stamp) else None
            out.append(Traced(when, kind, text.lstrip("\n")))
    return out


def received_messages(messages: str) -> list[str]:
    """The SIP messages a SIPp instance received, in order."""
    return [m.text for m in sipp_trace(messages) if m.kind == "received"]


def display_name(message: str, header: str = "From") -> str:
    """The quoted display name of a header (`From: "Сотрудник 201" <sip:201@...>`), or ''."""
    m = re.search(r"^" + header + r':\s*"((?:[^"\\]|\\.)*)"', message, re.M | re.I)
    return m.group(1) if m else ""


def invite_received(messages: str) -> str:
    """The first INVITE a SIPp UAS received, or ''."""
    return next((m for m in received_messages(messages) if m.startswith("INVITE sip:")), "")


def sipfrags(messages: str) -> list[str]:
    """Status codes in the message/sipfrag bodies of the NOTIFYs a SIPp phone received (REFER progress)."""
    codes = []
    for msg in received_messages(messages):
        if msg.startswith("NOTIFY ") and "message/sipfrag" in msg:
            m = re.search(r"^SIP/2\.0 (\d{3})", msg.partition("\n\n")[2], re.M)
            if m:
                codes.append(m.group(1))
    return codes


def header_user(message: str, header: str) -> str:
    m = re.search(r"^" + header + r":[^\n]*?<?sips?:([^@>;\s]+)@", message, re.M | re.I)
    return m.group(1) if m else ""


def sipp_time(line: str) -> float:
    """SIPp's trace timestamp ('2026-11-26T10:40:00.123456Z', UTC) as epoch seconds."""
    m = re.search(r"(\d{4}-\d\d-\d\d)[T\s]+(\d\d:\d\d:\d\d)\.(\d+)(Z?)", line)
    if not m:
        raise ValueError(line)
    parsed = time.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M:%S")
    base = calendar.timegm(parsed) if m.group(4) == "Z" else time.mktime(parsed)
    return base + float("0." + m.group(3))


def first_time(messages: str, pattern: str) -> float | None:
    """Epoch time of the first traced message whose text matches `pattern` (a line of it, `re.M`)."""
    return next((m.time for m in sipp_trace(messages) if re.search(pattern, m.text, re.M)), None)


def _notify_states(messages: str) -> list[str]:
    """The dialog states of the NOTIFYs a BLF key received ('idle' when the body names none)."""
    states = []
    for msg in received_messages(messages):
        if msg.startswith("NOTIFY sip:"):
            found = re.findall(r"<state[^>]*>([a-z]+)</state>", msg.partition("\n\n")[2])
            states.append(found[0] if found else "idle")
    return states


def blf_follows(fed: Federation, watcher: str, watched: str, caller: str,
                watcher_at: str | None = None, watched_at: str | None = None) -> dict[str, object]:
    """`watcher`'s BLF key (SUBSCRIBE Event: dialog on its own station) for `watched` on the other
    station, while `caller` calls `watched`: the lamp must go idle -> busy (ringing) -> busy (talking) -> idle."""
    h = fed.h
    home = fed.station_of(watcher, watcher_at)
    fed.register(watched, watched_at)
    assert hs.wait_until(lambda: home.hint_state(watched) == "Idle", 8.0, 0.1), home.rx(f"core show hint {watched}")
    blf = h.start_sipp(f"blf{watcher}", sc.blf_subscribe(watcher, idle_ms=20000),
                       local_ip=fed.phone_ip(watcher, watcher_at), remote=home.address, service=watched,
                       auth=(watcher, phone_secret(watcher)), timeout=40)
    seen: dict[str, object] = {}
    try:
        assert hs.wait_until(lambda: len(_notify_states(blf.messages())) >= 1, 10.0, 0.1), blf.messages()
        seen["initial"] = _notify_states(blf.messages())[0]
        uac_run, uas_run = fed.start_call(caller, watched, hold_ms=2000, ring_ms=1500, callee_at=watched_at)
        assert hs.wait_until(lambda: bool(invite_received(uas_run.messages())), 8.0, 0.05)
        assert hs.wait_until(lambda: home.hint_state(watched) in ("Busy", "InUse", "Ringing"), 5.0, 0.05)
        seen["ringing"] = home.hint_state(watched)
        assert hs.wait_until(lambda: "SIP/2.0 200 OK" in uas_run.messages(), 5.0, 0.05)
        time.sleep(0.5)
        seen["talking"] = home.hint_state(watched)
        uac, uas = uac_run.wait(), uas_run.wait()
        assert uac.ok and uas.ok, uac.errors + uas.errors
        assert hs.wait_until(lambda: home.hint_state(watched) == "Idle", 5.0, 0.05)
        seen["after"] = home.hint_state(watched)

        def back_to_idle() -> bool:
            st = _notify_states(blf.messages())
            return "confirmed" in st and st[-1] in ("terminated", "idle")

        assert hs.wait_until(back_to_idle, 10.0, 0.1), _notify_states(blf.messages())
    finally:
        res = blf.stop()
    seen["notify"] = _notify_states(res.messages)
    print(f"BLF {watcher}@{home.name} -> {watched}:", seen)
    assert seen["initial"] in ("terminated", "idle"), seen
    assert seen["ringing"] in ("Busy", "InUse"), seen  # device_state_busy_at=1: ringing reads Busy
    assert seen["talking"] in ("Busy", "InUse"), seen
    assert "confirmed" in seen["notify"], seen  # type: ignore[operator]
    return seen


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
