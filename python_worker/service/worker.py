"""The long-running worker: watches both databases, debounces, reconciles, and answers the control endpoint.

Threads only signal: the watchdog callback and the control thread set `wake`; one loop does every reconcile.
Idle, every thread is blocked (the loop on an Event with the resync timeout, the control thread in zmq poll).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import zmq
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from python_worker.apply.reconciler import ApplyOptions, ApplyReport, Paths, reconcile
from python_worker.apply.system import Reloader, query_contact_details, query_reachability, run_command
from python_worker.core.planner import PeerPlan, Plan
from python_worker.db.owned import DatabaseBusy
from python_worker.db.snapshot import sqlite_engine
from python_worker.service.control import bind_private
from python_worker.statedir import CONTROL_SOCKET, HOOKS_FILE, RECORDS_FILE, WORKER_LOCK, read_json
from python_worker.sync.pairing import list_invitations
from python_worker.sync.service import FileStation, SyncOptions, SyncService

log = logging.getLogger("pbxfed")
_WATCHED_EVENTS = frozenset({"modified", "created", "deleted", "moved", "closed"})


@dataclass(frozen=True)
class WorkerOptions:
    debounce: float = 0.2  # quiet period after the last change before reconciling
    max_delay: float = 2.0  # reconcile at the latest this long after the first change of a burst
    resync: float = 300.0  # safety net: full reconcile this often even without events
    status_cmd: str | None = None  # e.g. asterisk -rx 'pjsip show contacts'
    reconcile_wait: float = 5.0  # how long a control `reconcile` waits for the result
    # With status_cmd: poll trunk reachability this often (0 = never). A peer whose trunk contact reads
    # Unavail gets its hints on a non-existent device (lamps read Unavailable) until it is back.
    reachability_interval: float = 2.0
    # e.g. asterisk -rx 'core show hints': lets the worker see when a peer starts publishing its states to us
    # (its lamps here leave Unavailable), which means it has just configured us; our own outbound publication
    # to it may have been refused before that and Asterisk never retries one, so it is renewed then.
    hints_cmd: str | None = None
    # e.g. asterisk -rx 'devstate change {device} {state}': sets each BLF peer's Custom:FED-<hex> device,
    # which is in every hint for its numbers: INVALID while the peer is up, UNAVAILABLE while it is down.
    # Asterisk keeps a watched hint's last state across a dialplan reload, even when the reload changed the
    # hint's devices, and recomputes it only when one of its devices changes state: so after the reload that
    # swaps a peer's hints (down or back), that device is changed, through the other state, once the reload
    # shows in `hints_cmd` (Core may queue it) or at the latest after `devstate_wait` seconds.
    devstate_cmd: str | None = None
    devstate_wait: float = 30.0
    sync: SyncOptions | None = None  # directory sync with paired peers (None: no sync port opened)


class _Wake(FileSystemEventHandler):
    """watchdog callback: sets the event when one of the watched file names changes; nothing else."""

    def __init__(self, names: set[str], wake: threading.Event) -> None:
        self.names = names
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _WATCHED_EVENTS:
            return
        for p in (event.src_path, getattr(event, "dest_path", "")):
            if p and os.path.basename(os.fsdecode(p)) in self.names:
                self.wake.set()
                return


class _VersionProbe:
    """Cheap "did anyone commit?" check: PRAGMA data_version on connections held open for the worker's life.

    Holding a connection also keeps SQLite from deleting the -wal file each time our own short-lived
    connections close, which would otherwise fire file events forever.
    """

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._open: dict[Path, tuple[Engine, Connection, int]] = {}

    def _conn(self, path: Path) -> tuple[Connection, int] | None:
        try:
            ino = path.stat().st_ino
        except FileNotFoundError:
            return None
        held = self._open.get(path)
        if held is not None and held[2] != ino:  # file replaced (e.g. a restored backup)
            self._close(path)
            held = None
        if held is None:
            engine = sqlite_engine(path, read_only=True)
            held = (engine, engine.connect(), ino)
            self._open[path] = held
        return held[1], ino

    def _close(self, path: Path) -> None:
        engine, conn, _ = self._open.pop(path)
        with contextlib.suppress(Exception):
            conn.close()
        engine.dispose()

    def snapshot(self) -> tuple[object, ...]:
        out: list[object] = []
        for path in self.paths:
            try:
                got = self._conn(path)
                if got is None:
                    out.append(None)
                    continue
                conn, ino = got
                version = conn.exec_driver_sql("PRAGMA data_version").scalar()
                conn.rollback()
                out.append((ino, version))
            except Exception:  # a probe failure must only cost a reconcile, never the worker
                out.append(object())
        return tuple(out)

    def close(self) -> None:
        for path in list(self._open):
            self._close(path)


_HINT_RE = re.compile(r"^\s*(?P<exten>[^@\s]+)@\S+\s*:\s*(?P<app>\S+)\s+State:(?P<state>\w+)")
# Asterisk's CLI answers a refused `devstate change` (e.g. state UNKNOWN, a non-Custom device) with its usage
# text; `asterisk -rx` still exits 0.
_DEVSTATE_REFUSED = ("Usage:", "can only be used")
_HINT_APP_SHOWN = 60  # `core show hints` cuts the device list there
UP, DOWN = "INVALID", "UNAVAILABLE"  # the Custom:FED-<hex> device's state while the peer is up / down


def query_hint_states(cmd: str, timeout: float = 5.0) -> dict[str, str] | None:
    """`core show hints` via `cmd` -> {extension: state}; None when the command fails."""
    hints = query_hints(cmd, timeout)
    return None if hints is None else {exten: state for exten, (_app, state) in hints.items()}


def query_hints(cmd: str, timeout: float = 5.0) -> dict[str, tuple[str, str]] | None:
    """`core show hints` via `cmd` -> {extension: (devices, state)}; None when the command fails.

    Asterisk shows at most 60 characters of the device list."""
    try:
        proc = subprocess.run(shlex.split(cmd), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    out: dict[str, tuple[str, str]] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        m = _HINT_RE.match(line)
        if m:
            out[m.group("exten")] = (m.group("app"), m.group("state"))
    return out


_RENDERED_HINT_RE = re.compile(r"^exten => (?P<exten>[^,]+),hint,(?P<app>.+)$", re.MULTILINE)


def rendered_hints(text: str) -> dict[str, str]:
    """Our extensionGenHints text -> {extension: devices}."""
    return {m["exten"]: m["app"] for m in _RENDERED_HINT_RE.finditer(text)}


def hints_show(peer: PeerPlan, ours: Mapping[str, str], hints: Mapping[str, tuple[str, str]]) -> bool:
    """Whether Asterisk's hints for `peer`'s numbers (`hints`, from query_hints) are the ones we rendered."""
    return all(hints.get(n, ("", ""))[0] == ours.get(n, "")[:_HINT_APP_SHOWN] for n in peer.hint_numbers)


def set_lamp(devstate_cmd: str, peer: PeerPlan, want: str) -> bool:
    """Give `peer`'s Custom:FED-<hex> lamp device the state `want` (UP or DOWN) through the other one, so the
    hints that carry it see a change (and are recomputed) even if AstDB already had that state."""
    device = f"Custom:{peer.lamp_device}"
    for state in (UP, DOWN) if want == DOWN else (DOWN, UP):
        argv = [w.replace("{device}", device).replace("{state}", state) for w in shlex.split(devstate_cmd)]
        code, out = run_command(argv, 5.0)
        if code != 0 or any(word in out for word in _DEVSTATE_REFUSED):
            log.error("devstate command failed (exit %s): %s %s", code, shlex.join(argv), out.strip())
            return False
    return True


def plan_summary(plan: Plan | None) -> dict[str, Any]:
    if plan is None:
        return {"station": None, "peers": []}
    return {
        "station": plan.station_name, "entity_id": plan.entity_id, "own_patterns": list(plan.own_patterns),
        "disabled_peers": list(plan.disabled_peers),
        "peers": [{"name": p.name, "provider_id": p.provider_id, "host": p.host, "port": p.port,
                   "transport": p.transport, "patterns": list(p.patterns), "blf": p.is_blf,
                   "transfers": p.is_transfers, "overlap_fix": p.is_overlap_fix,
                   "routes": [r.pattern for r in p.routes], "hints": len(p.hint_numbers)} for p in plan.peers],
        "problems": [pr.to_json() for pr in plan.problems],
    }


class Worker:
    def __init__(self, paths: Paths, reloader: Reloader, apply_opts: ApplyOptions, opts: WorkerOptions) -> None:
        self.paths = paths
        self.reloader = reloader
        # The lamp devices go into the hints only when this worker sets them.
        self.apply_opts = replace(apply_opts, lamps=bool(opts.devstate_cmd))
        self.opts = opts
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._done = threading.Condition()
        self._generation = 0
        self._forced_up_to = 0  # control requests waiting for a reconcile number > this
        self._requested = 0
        self.last: ApplyReport | None = None  # the latest reconcile (plan, problems, issues)
        self.last_apply: ApplyReport | None = None  # the latest one that changed something or failed
        self.last_check = 0.0
        self.started = time.time()
        self.hold_digest = ""
        self.unreachable: frozenset[str] = frozenset()  # peers whose trunk Asterisk reports Unavail
        self.publishing: set[str] | None = None  # peers seen publishing to us (None: not looked yet)
        self.publish_epochs: dict[str, int] = {}  # peer -> generation of our outbound-publish to it
        self.sync: SyncService | None = None
        self.sync_down: frozenset[str] = frozenset()  # paired peers that stopped answering sync heartbeats
        self._sync_back: set[str] = set()  # paired peers answering again: renew our publication to them
        self._sync_lock = threading.Lock()
        self._flags: dict[str, str] = {}  # BLF peer -> state we gave its Custom:FED-<hex> device (UP/DOWN)
        self._flags_due: dict[str, tuple[str, float]] = {}  # peer -> (state to give it, monotonic deadline)
        self._probe = _VersionProbe([paths.mikopbx_db, paths.module_db])
        self._seen: tuple[object, ...] = ()
        self._zctx = zmq.Context()
        self._stop_addr = f"inproc://pbxfed-stop-{id(self)}"

    # ---- control requests (control thread) ----
    def request_reconcile(self, wait: float) -> ApplyReport | None:
        with self._done:
            self._requested += 1
            ticket = self._requested
        self.wake.set()
        deadline = time.monotonic() + wait
        with self._done:
            while self._generation < ticket and not self.stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._done.wait(left)
            return self.last

    def status(self, peer: str | None = None) -> dict[str, Any]:
        last, applied_report = self.last, self.last_apply
        plan = last.plan if last else None
        applied = read_json(self.paths.state(RECORDS_FILE)) or {}
        applied_ids = {p["m_Providers"]["uniqid"] for p in applied.get("providers", [])}
        details = query_contact_details(self.opts.status_cmd)
        reach = None if details is None else {aor: state for aor, (state, _rtt) in details.items()}
        names: dict[str, dict[str, Any]] = {}
        if plan is not None:
            for p in plan.peers:
                names[p.name] = {"name": p.name, "provider_id": p.provider_id, "host": p.host, "port": p.port,
                                 "transport": p.transport, "patterns": list(p.patterns), "planned": True,
                                 "applied": p.provider_id in applied_ids, "blf": self._blf_state(p)}
            for n in plan.disabled_peers:
                names.setdefault(n, {"name": n, "planned": False, "applied": False, "disabled": True})
            for pr in plan.problems:
                if pr.peer:
                    names.setdefault(pr.peer, {"name": pr.peer, "planned": False, "applied": False})
        peers = []
        for name, info in sorted(names.items()):
            info["problems"] = [pr.to_json() for pr in (plan.problems if plan else ()) if pr.peer == name]
            info["problems"] += [i.to_json() for i in (last.issues if last else []) if i.peer == name]
            info["drift"] = [c.to_json() for c in (applied_report.changes if applied_report else [])
                             if c.drift and c.peer == name]
            pid = info.get("provider_id")
            info["reachability"] = (reach or {}).get(str(pid), "unknown") if pid else "unknown"
            info["trunk"] = info["reachability"]  # the admin page's status dot
            rtt = (details or {}).get(str(pid), ("", None))[1] if pid else None
            info["rtt_ms"] = None if rtt is None else round(rtt, 1)
            peers.append(info)
        if peer is not None:
            peers = [p for p in peers if p["name"].lower() == peer.lower()]
        return {
            "running": True, "pid": os.getpid(), "started": round(self.started, 3),
            "module_enabled": last.module_enabled if last else None,
            "station": plan_summary(plan).get("station"),
            "last_apply": None if applied_report is None else {
                k: v for k, v in applied_report.to_json().items() if k not in ("problems",)},
            "last_check": round(self.last_check, 3),
            "last_check_result": last.result if last else None,
            "held_configuration": self.hold_digest or None,
            "reachability_source": "asterisk" if reach is not None else "unknown",
            "problems": [pr.to_json() for pr in (plan.problems if plan else ()) if pr.peer is None],
            "peers": peers,
            "sync": self.sync.status() if self.sync is not None else None,
        }

    def _blf_state(self, peer: PeerPlan) -> str:
        """The admin page's BLF dot: ok once the peer's device states reach us (seen with --hints-cmd)."""
        if not peer.is_blf:
            return "disabled"
        if self.publishing is None:
            return "unknown"
        return "ok" if peer.name in self.publishing else "waiting"

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "status":
            return {"ok": True, **self.status()}
        if cmd == "plan":
            last = self.last
            return {"ok": True, "plan": plan_summary(last.plan if last else None)}
        if cmd == "reconcile":
            report = self.request_reconcile(self.opts.reconcile_wait)
            if report is None:
                return {"ok": True, "result": "pending", "message": "reconcile queued; still running"}
            return {"ok": report.ok, **report.to_json()}
        if cmd == "check-peer":
            name = str(req.get("name") or "")
            st = self.status(peer=name)
            if not st["peers"]:
                return {"ok": False, "error": f"no peer named '{name}'"}
            return {"ok": True, "peer": st["peers"][0], "reachability_source": st["reachability_source"]}
        if cmd == "stop":
            self.stop()
            return {"ok": True, "stopping": True}
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    def _serve(self, sock: Any) -> None:
        stop = self._zctx.socket(zmq.PAIR)
        stop.connect(self._stop_addr)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(stop, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())  # blocks: no timeout, no busy polling
                if stop in ready:
                    break
                if sock not in ready:
                    continue
                raw = sock.recv()
                try:
                    req = json.loads(raw.decode())
                    answer = self.handle(req if isinstance(req, dict) else {})
                except Exception as exc:  # a bad request must not kill the endpoint
                    log.exception("control request failed")
                    answer = {"ok": False, "error": str(exc)}
                sock.send(json.dumps(answer, ensure_ascii=False).encode())
        finally:
            stop.close(linger=0)
            sock.close(linger=0)

    # ---- the loop (main thread) ----
    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        with self._done:
            self._done.notify_all()

    def _debounce(self) -> None:
        """Wait until no change arrived for `debounce` seconds (bounded by `max_delay`)."""
        end = time.monotonic() + self.opts.max_delay
        while not self.stopping.is_set():
            self.wake.clear()
            left = end - time.monotonic()
            if left <= 0 or not self.wake.wait(min(self.opts.debounce, left)):
                return

    def reconcile_once(self, *, forced: bool) -> ApplyReport | None:
        seen = self._probe.snapshot()
        if not forced and seen == self._seen:
            self.last_check = time.time()
            return None  # events from our own reads or unrelated files: nothing committed
        self._seen = seen
        with self._sync_lock:
            back, self._sync_back = self._sync_back, set()
        for name in back:
            self.publish_epochs[name] = self.publish_epochs.get(name, 0) % 9 + 1
        try:
            report = reconcile(self.paths, self.reloader, opts=self.apply_opts,
                               hold_digest="" if forced else self.hold_digest,
                               unreachable=self.unreachable | self.sync_down,
                               publish_epochs=self.publish_epochs)
        except Exception as exc:  # keep the last good state and keep going
            log.exception("reconcile failed")
            report = ApplyReport("error", message=f"{type(exc).__name__}: {exc}")
        if report.result == "rolled-back":
            self.hold_digest = report.digest
        elif report.result in ("applied", "unchanged"):
            self.hold_digest = ""
        self.last = report if report.result != "held" or self.last is None else self.last
        if report.result != "unchanged" or self.last_apply is None:
            self.last_apply = report
        self.last_check = time.time()
        self._update_flags(report)
        if self.sync is not None:
            self.sync.notify()  # our extensions or the peers table may have changed: push, (re)connect
        return report

    def _update_flags(self, report: ApplyReport) -> None:
        """After a reconcile whose hints are in force, give each BLF peer's Custom:FED-<hex> device the state
        for the peer being up or down (found by trunk qualify or sync heartbeats)."""
        if report.result not in ("applied", "unchanged") or report.plan is None:
            return
        down = self.unreachable | self.sync_down
        blf = {p.name: p for p in report.plan.peers if p.is_blf}
        self._flags = {name: state for name, state in self._flags.items() if name in blf}
        now = time.monotonic()
        due: dict[str, tuple[str, float]] = {}
        for name in blf:
            want = DOWN if name in down else UP
            if self._flags.get(name) == want:
                continue
            was = self._flags_due.get(name)
            due[name] = was if was is not None and was[0] == want else (want, now + self.opts.devstate_wait)
        self._flags_due = due
        self.set_flags(report.plan)

    def set_flags(self, plan: Plan) -> None:
        """Change the flag devices that are due, each once Asterisk shows the peer's new hints (or its deadline
        passed); the rest wait for the next poll. The device goes through the other state first, so the
        hints see a change even if Asterisk (its AstDB) already had the state."""
        if not self._flags_due or not self.opts.devstate_cmd:
            self._flags_due.clear()
            return
        hints = query_hints(self.opts.hints_cmd) if self.opts.hints_cmd else None
        if self.opts.hints_cmd and hints is None:
            return  # Asterisk does not answer (yet, e.g. while the box boots): look again at the next poll
        ours = rendered_hints(str((read_json(self.paths.state(HOOKS_FILE)) or {}).get("extensionGenHints", "")))
        now = time.monotonic()
        for p in plan.peers:
            if p.name not in self._flags_due:
                continue
            want, deadline = self._flags_due[p.name]
            shown = hints is None or hints_show(p, ours, hints)
            if not shown and now < deadline:
                continue
            if not shown:
                log.warning("the reloaded hints for %s did not show in %.0f s; setting its lamps' device anyway",
                            p.name, self.opts.devstate_wait)
            ok = set_lamp(self.opts.devstate_cmd, p, want)
            del self._flags_due[p.name]
            if ok:
                self._flags[p.name] = want
                log.info("lamps of %s: Custom:%s set %s (%.1f s after the reconcile)", p.name, p.lamp_device, want,
                         self.opts.devstate_wait - (deadline - now))

    def _sync_reachability(self, down: frozenset[str]) -> None:
        """Sync thread: a paired peer stopped or started answering; re-plan (its lamps) on the loop."""
        with self._sync_lock:
            self._sync_back |= self.sync_down - down
            self.sync_down = down
        self.request_reconcile(0.0)

    def check_reachability(self) -> bool:
        """Poll Asterisk for the trunks' qualify state; on a change re-plan (only hints differ) and reload.

        Unknown or unanswered states keep what is known; when a peer comes back, our publication to it is
        renewed (a new outbound-publish), so it re-sends every state the peer missed while it was away.
        """
        plan = self.last.plan if self.last is not None else None
        if plan is None or not self.opts.status_cmd:
            return False
        reach = query_reachability(self.opts.status_cmd)
        if reach is None:
            return False
        # Only an explicit Avail/Unavail changes what we know (Unknown right after a reload keeps it).
        down = frozenset(p.name for p in plan.peers if reach.get(p.provider_id) == "unreachable"
                         or (p.name in self.unreachable and reach.get(p.provider_id) != "reachable"))
        if down == self.unreachable:
            return False
        back = self.unreachable - down
        log.warning("trunk reachability changed: down %s, back %s", sorted(down - self.unreachable), sorted(back))
        self.unreachable = down
        self.renew_publications(back)  # its reconcile marks the newly dead peers' lamps Unavailable
        return True

    def renew_publications(self, peers: set[str] | frozenset[str]) -> None:
        """Re-plan with a new outbound-publish generation for `peers` (none: just re-plan) and apply it.

        Asterisk gives up on an outbound publication the peer refused and a reload keeps the dead one; a
        renamed object is a new publication that starts by sending every current state."""
        for name in peers:
            self.publish_epochs[name] = self.publish_epochs.get(name, 0) % 9 + 1
        self.reconcile_once(forced=True)

    def check_publications(self) -> bool:
        """Renew our publication to a peer when it starts publishing to us (see WorkerOptions.hints_cmd)."""
        plan = self.last.plan if self.last is not None else None
        if plan is None or not self.opts.hints_cmd:
            return False
        peers = [p for p in plan.peers if p.is_blf and p.is_reachable]
        if self.publishing is not None and all(p.name in self.publishing for p in peers):
            self.publishing &= {p.name for p in plan.peers}
            return False
        states = query_hint_states(self.opts.hints_cmd)
        if states is None:
            return False
        seen = {p.name for p in peers if any(states.get(n, "Unavailable") != "Unavailable" for n in p.hint_numbers)}
        # Also at the first look: a peer already publishing to us may have been refused by our publication
        # before it knew us (one renewal per peer per worker start costs one pjsip reload).
        new = seen - (self.publishing or set())
        self.publishing = (self.publishing or set()) & {p.name for p in plan.peers} | seen
        if not new:
            return False
        log.warning("peers started publishing their states to us: %s; renewing our publications to them",
                    sorted(new))
        self.renew_publications(new)
        return True

    def run(self) -> int:
        with self._instance_lock() as ok:
            if not ok:
                log.error("another worker already runs for %s", self.paths.state_dir)
                return 3
            return self._run()

    @contextlib.contextmanager
    def _instance_lock(self) -> Iterator[bool]:
        path = self.paths.state(WORKER_LOCK)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + 2.0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        yield False
                        return
                    time.sleep(0.05)
            yield True
        finally:
            os.close(fd)

    def _run(self) -> int:
        stop_sock = self._zctx.socket(zmq.PAIR)
        stop_sock.bind(self._stop_addr)
        sock = self._zctx.socket(zmq.REP)
        bind_private(sock, self.paths.state_dir)
        server = threading.Thread(target=self._serve, args=(sock,), name="control", daemon=True)
        server.start()
        observer = Observer()
        names: set[str] = set()
        for db in (self.paths.mikopbx_db, self.paths.module_db):
            names.update({db.name, f"{db.name}-wal", f"{db.name}-journal"})
        handler = _Wake(names, self.wake)
        for directory in sorted({str(self.paths.mikopbx_db.resolve().parent),
                                 str(self.paths.module_db.resolve().parent)}):
            observer.schedule(handler, directory, recursive=False)
        observer.start()
        if self.opts.sync is not None:
            self.sync = SyncService(self.paths.state_dir, FileStation(self.paths.mikopbx_db, self.paths.module_db),
                                    self.opts.sync, on_reachability=self._sync_reachability)
            self.sync.start()
        self._install_signals()
        log.info("worker started (pid %d), watching %s and %s", os.getpid(), self.paths.mikopbx_db,
                 self.paths.module_db)
        try:
            self._loop()
        finally:
            if self.sync is not None:
                self.sync.stop()
            observer.stop()
            stop_sock.send(b"stop")
            server.join(timeout=5)
            observer.join(timeout=5)
            stop_sock.close(linger=0)
            self._probe.close()
            with contextlib.suppress(FileNotFoundError):
                self.paths.state(CONTROL_SOCKET).unlink()
            self._zctx.term()
            log.info("worker stopped")
        return 0

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _s, _f: self.stop())

    def _next_pairing_expiry(self) -> float | None:
        """Wall-clock expiry of the earliest pending invitation that opened the sync port for an address."""
        pending = [float(rec["expires"]) for rec in list_invitations(self.paths.state_dir).values()
                   if rec.get("allow_from") and not rec.get("used") and float(rec.get("expires", 0)) > time.time()]
        return min(pending) if pending else None

    def _loop(self) -> None:
        next_resync = 0.0  # the first pass is a full reconcile (it also repairs an interrupted apply)
        polling = bool(self.opts.status_cmd or self.opts.hints_cmd) and self.opts.reachability_interval > 0
        next_poll = time.monotonic() + self.opts.reachability_interval if polling else float("inf")
        while not self.stopping.is_set():
            timeout = max(0.0, min(next_resync, next_poll) - time.monotonic())
            fired = self.wake.wait(timeout)
            if self.stopping.is_set():
                break
            now = time.monotonic()
            if not fired and now >= next_poll and now < next_resync:
                next_poll = now + self.opts.reachability_interval
                try:
                    self.check_reachability()
                    self.check_publications()
                    if self._flags_due and self.last is not None and self.last.plan is not None:
                        self.set_flags(self.last.plan)  # a queued reload has reached Asterisk by now?
                except Exception:  # a failed poll must never stop the worker
                    log.exception("reachability check failed")
                continue
            if fired:
                self._debounce()
                if self.stopping.is_set():
                    break
            with self._done:
                pending = self._requested
            forced = not fired or pending > self._generation
            if not fired:
                next_resync = time.monotonic() + self.opts.resync
            try:
                self.reconcile_once(forced=forced)
            except DatabaseBusy:  # reconcile() already reports busy; belt and braces
                log.error("database busy")
            expiry = self._next_pairing_expiry()
            if expiry is not None:  # close the sync port for an unused invitation right when it expires
                next_resync = min(next_resync, time.monotonic() + max(0.0, expiry - time.time()) + 0.5)
            with self._done:
                self._generation = max(self._generation, pending)
                self._done.notify_all()
