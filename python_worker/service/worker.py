"""The long-running worker: one loop that reconciles, polls Asterisk, drives the lamps and publishes its status.

Threads only signal: the database watch and the control thread set `wake`, the sync thread reports liveness;
one loop does every reconcile. Idle, every thread is blocked (the loop on an Event with the next deadline, the
control thread in zmq poll, the AMI thread in select). The parts: service/watch.py (databases),
service/control.py (endpoint), service/reach.py and core/liveness.py (which peers are alive, and when that asks
for a re-plan), service/lamps.py (their lamp devices), service/devstate.py (device states of paired peers over
the sync channel, on one AMI connection), service/status.py (status).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from python_worker.apply.amiuser import read_ami_account
from python_worker.apply.reconciler import ApplyOptions, ApplyReport, Paths, reconcile
from python_worker.apply.system import AsteriskCli, Reloader
from python_worker.core.planner import Plan
from python_worker.core.problems import Problem, problem
from python_worker.core.views import plan_view
from python_worker.logs import describe
from python_worker.service.control import ControlServer, Requests, answer
from python_worker.service.devstate import AmiSettings, DevstateBridge
from python_worker.service.lamps import LampDriver
from python_worker.service.reach import Reachability
from python_worker.service.status import Observed, Status, build_status, stopped_status
from python_worker.service.supervisor import Supervisor
from python_worker.service.watch import DbWatch
from python_worker.statedir import (
    RECORDS_FILE,
    STATUS_FILE,
    WORKER_LOCK,
    instance_lock,
    read_json,
    write_json_if_changed,
)
from python_worker.sync.pairing import pairing_window
from python_worker.sync.service import SyncOptions, SyncService
from python_worker.sync.station import FileStation

log = logging.getLogger("pbxfed")


@dataclass(frozen=True)
class WorkerOptions:
    debounce: float = 0.2  # quiet period after the last change before reconciling
    max_delay: float = 2.0  # reconcile at the latest this long after the first change of a burst
    resync: float = 300.0  # safety net: full reconcile this often even without events
    reconcile_wait: float = 5.0  # how long a control `reconcile` waits for the result
    # Asterisk: contacts (trunk reachability, polled every `reachability_interval` s, 0 = never), hints (a peer
    # starts publishing to us; the reloaded hints are in force), devstate (the peers' lamp devices).
    asterisk: AsteriskCli = field(default_factory=AsteriskCli)
    reachability_interval: float = 2.0
    # With the AMI connection up, trunk changes arrive as ContactStatus events: the contacts are then read this
    # often only (for the round trip on the page), unless some peer still uses SIP publications (hints polls).
    quiet_interval: float = 30.0
    devstate_wait: float = 30.0  # at most this long for a queued reload to show before setting a lamp device
    sync: SyncOptions | None = None  # directory sync with paired peers (None: no sync port opened)
    ami: AmiSettings | None = None  # device states of paired peers over the sync channel (needs sync too)


class Worker:
    def __init__(self, paths: Paths, reloader: Reloader, apply_opts: ApplyOptions, opts: WorkerOptions) -> None:
        self.paths, self.reloader, self.apply_opts, self.opts = paths, reloader, apply_opts, opts
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.requests = Requests()
        self.last: ApplyReport | None = None  # the latest reconcile (plan, problems, issues)
        self.last_apply: ApplyReport | None = None  # the latest one that changed something or failed
        self.last_check = 0.0
        self.started = time.time()
        self.hold_digest = ""
        self.reach = Reachability(opts.asterisk)  # liveness, fed by the loop, the AMI and the sync threads
        self.lamps = LampDriver(opts.asterisk, opts.devstate_wait)
        self.sync: SyncService | None = None
        self.watch = DbWatch([paths.mikopbx_db, paths.module_db], self.wake)
        self._zctx = zmq.Context()
        self._next_expiry: float | None = None
        self.polls = 0  # Asterisk polls done (tests wait on it instead of sleeping)
        self.supervisor = Supervisor()  # control, watch, sync: a dead thread is restarted and shown in status
        self.control: ControlServer | None = None
        # The account exists once a worker used AMI; from then on every reconcile keeps its row.
        self.ami_account = opts.ami.account if opts.ami is not None else read_ami_account(paths.state_dir)
        self.devstate = DevstateBridge(opts.ami, on_contact=self._on_contact) if opts.ami and opts.sync else None

    @property
    def plan(self) -> Plan | None:
        return self.last.plan if self.last is not None else None

    @property
    def reconcile_wait(self) -> float:
        return self.opts.reconcile_wait

    def plan_view(self) -> dict[str, Any]:
        return plan_view(self.plan)

    # ---- control requests (control thread) ----
    def request_reconcile(self, wait: float) -> ApplyReport | None:
        report: ApplyReport | None = self.requests.wait(wait, self.wake, self.stopping, lambda: self.last)
        return report

    def status(self, peer: str | None = None) -> Status:
        applied = read_json(self.paths.state(RECORDS_FILE)) or {}
        seen = Observed(self.reach.contacts, self.reach.liveness, frozenset(p["m_Providers"]["uniqid"] for p in
                                                                 applied.get("providers", [])),
                        self.sync.status() if self.sync is not None else None, self.started, self.last_check,
                        self.hold_digest, self.supervisor.status(), *self._lamps_seen())
        st = build_status(self.last, self.last_apply, seen)
        if peer is not None:
            st["peers"] = [p for p in st["peers"] if p["name"].lower() == peer.lower()]
        return st

    def _lamps_seen(self) -> tuple[dict[str, str], tuple[Problem, ...], dict[str, Any] | None]:
        """For the status: the BLF dot of each peer whose states we carry, the AMI problem, the AMI side's view."""
        if self.devstate is None:
            return {}, (), None
        blf = {}
        for p in self.plan.peers if self.plan else ():
            if p.carries_states:
                heard = self.devstate.heard(p.name)
                blf[p.name] = "ok" if heard else "waiting"
        found = self.devstate.problem
        problems = (problem("W_AMI_UNAVAILABLE", None, "ami", detail=found),) if found else ()
        return blf, problems, self.devstate.status()

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        return answer(self, req)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.requests.release()

    # ---- what the loop does ----
    def reconcile_once(self, *, forced: bool) -> ApplyReport | None:
        if not self.watch.changed() and not forced:
            self.last_check = time.time()
            return None  # events from our own reads or unrelated files: nothing committed
        sources, self._next_expiry = pairing_window(self.paths.state_dir)
        runtime = self.reach.runtime(drives_lamps=self.lamps.enabled, pairing_sources=sources,
                                     carries_states=self.devstate is not None, ami=self.ami_account)
        try:
            report = reconcile(self.paths, self.reloader, opts=self.apply_opts,
                               hold_digest="" if forced else self.hold_digest, runtime=runtime)
        except Exception as exc:  # keep the last good state and keep going
            log.exception("reconcile failed")
            report = ApplyReport("error", message=f"{type(exc).__name__}: {exc}")
        if report.plan is None and self.last is not None:  # the last good configuration is still what runs
            report.plan = self.last.plan
        if report.result == "rolled-back":
            self.hold_digest = report.digest
        elif report.result in ("applied", "unchanged"):
            self.hold_digest = ""
        self.last = report if report.result != "held" or self.last is None else self.last
        if report.result != "unchanged" or self.last_apply is None:
            self.last_apply = report
        self.last_check = time.time()
        if report.result in ("applied", "unchanged") and report.plan is not None:
            self.lamps.after_reconcile(report.plan, runtime.down)
            if self.devstate is not None:
                self.devstate.set_plan(report.plan)
                gone = self.devstate.take_gone()
                if gone and not self.opts.asterisk.forget_devices(gone):
                    log.warning("%d lamp devices no longer used were not removed from Asterisk's database", len(gone))
        if self.sync is not None:
            self.sync.notify()  # our extensions or the peers table may have changed: push, (re)connect
        self.publish_status()
        return report

    def poll(self) -> None:
        """Read Asterisk: trunk qualify states, remote lamps that start reaching us, reloaded hints in force."""
        if self.plan is None:
            self.polls += 1
            return
        if self.reach.look_at_contacts(self.plan):
            self.reconcile_once(forced=True)
        if self.plan is not None and self.reach.look_at_hints(self.plan):
            self.reconcile_once(forced=True)
        if self.lamps.pending and self.plan is not None:
            self.lamps.drive(self.plan)  # a queued reload has reached Asterisk by now?
        self.publish_status()
        self.polls += 1

    def _on_contact(self, aor: str, status: str) -> None:
        """AMI thread: a contact changed state; if it is one of our trunks, read the contacts now."""
        if self.reach.on_contact(self.plan, aor, status):
            self.wake.set()

    def on_sync_features(self, legacy: frozenset[str]) -> None:
        """Sync thread: which paired peers' workers do not carry device states (they keep SIP publications)."""
        if self.reach.on_features(legacy):
            self.request_reconcile(0.0)

    def on_sync_liveness(self, down: frozenset[str]) -> None:
        """Sync thread: a paired peer stopped or started answering; re-plan on the loop if that changes anything."""
        if self.reach.on_sync(self.plan, down):
            self.request_reconcile(0.0)

    def poll_interval(self) -> float:
        """Often while something needs Asterisk polled (no AMI connection, peers on SIP publications, lamp
        devices due); else only as often as the page's round trip needs."""
        fast = self.opts.reachability_interval
        if self.devstate is None or not self.devstate.connected or self.lamps.pending:
            return fast
        if any(p.is_stock_blf for p in (self.plan.peers if self.plan else ())):
            return fast
        return max(fast, self.opts.quiet_interval)

    def publish_status(self) -> None:
        try:
            write_json_if_changed(self.paths.state(STATUS_FILE), self.status(), durable=False)
        except (OSError, ValueError) as exc:  # the page then shows an older status; never a reason to stop
            log.error("status.json not written: %s", exc)

    # ---- the process ----
    def run(self) -> int:
        with instance_lock(self.paths.state(WORKER_LOCK)) as ok:
            if not ok:
                log.error("another worker already runs for %s", self.paths.state_dir)
                return 3
            return self._run()

    def _thread_exited(self) -> None:
        """A supervised thread ended: wake the loop, which restarts it unless we are stopping."""
        if not self.stopping.is_set():
            self.wake.set()

    def _run(self) -> int:
        control = self.control = ControlServer(self._zctx, self.paths.state_dir, self.handle,
                                               on_exit=self._thread_exited)
        control.start()
        self.supervisor.add("control", control.is_alive, control.restart, control.health)
        self.watch.start()
        self.supervisor.add("watch", self.watch.is_alive, self.watch.restart)
        if self.devstate is not None:
            self.devstate.start()
        if self.opts.sync is not None:
            self.sync = SyncService(self.paths.state_dir, FileStation(self.paths.mikopbx_db, self.paths.module_db),
                                    self.opts.sync, on_reachability=self.on_sync_liveness, port=self.devstate,
                                    on_features=self.on_sync_features, on_exit=self._thread_exited)
            if self.devstate is not None:
                self.devstate.on_change = self.sync.notify_states
            self.sync.start()
            self.supervisor.add("sync", self.sync.is_alive, self.sync.restart, self.sync.health)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda _s, _f: self.stop())
        log.info("worker started (pid %d), watching %s and %s", os.getpid(), self.paths.mikopbx_db,
                 self.paths.module_db)
        try:
            self._loop()
        finally:
            if self.sync is not None:
                self.sync.stop()
            if self.devstate is not None:
                self.devstate.stop()
            self.watch.stop()
            control.stop()
            self._zctx.term()
            with contextlib.suppress(OSError):
                write_json_if_changed(self.paths.state(STATUS_FILE), stopped_status("stopped"), durable=False)
            log.info("worker stopped")
        return 0

    def _loop(self) -> None:
        next_resync = 0.0  # the first pass is a full reconcile (it also repairs an interrupted apply)
        polling = bool(self.opts.asterisk.contacts_cmd or self.opts.asterisk.hints_cmd)
        interval = self.opts.reachability_interval
        polling = polling and interval > 0
        next_poll = time.monotonic() + interval if polling else float("inf")
        restart_due: float | None = None
        while not self.stopping.is_set():
            deadline = min(next_resync, next_poll, restart_due if restart_due is not None else float("inf"))
            fired = self.wake.wait(max(0.0, deadline - time.monotonic()))
            if self.stopping.is_set():
                break
            restart_due = self.supervisor.check()
            now = time.monotonic()
            if polling and self.reach.soon.is_set():  # a trunk changed (AMI event): look now
                self.reach.soon.clear()
                next_poll = now + self.poll_interval()
                try:
                    self.poll()
                except Exception:  # a failed poll must never stop the worker
                    log.exception("Asterisk poll failed")
            if not fired and restart_due is not None and now < min(next_resync, next_poll):
                continue  # only a restart was due
            if not fired and next_poll <= now < next_resync:
                next_poll = now + self.poll_interval()
                try:
                    self.poll()
                except Exception:  # a failed poll must never stop the worker
                    log.exception("Asterisk poll failed")
                continue
            if fired:
                self._debounce()
                if self.stopping.is_set():
                    break
            pending = self.requests.pending()
            if not fired:
                next_resync = time.monotonic() + self.opts.resync
            try:
                self.reconcile_once(forced=not fired or pending is not None)
            except Exception as exc:  # whatever failed around the reconcile (lamps, status): the loop goes on
                log.error("worker pass failed: %s", describe(exc))
            finally:
                self.requests.served(pending)  # a waiting control request is answered either way
            if self._next_expiry is not None:  # close the sync port for an unused invitation when it expires
                next_resync = min(next_resync, time.monotonic() + max(0.0, self._next_expiry - time.time()) + 0.5)

    def _debounce(self) -> None:
        """Wait until no change arrived for `debounce` seconds (bounded by `max_delay`)."""
        end = time.monotonic() + self.opts.max_delay
        while not self.stopping.is_set():
            self.wake.clear()
            left = end - time.monotonic()
            if left <= 0 or not self.wake.wait(min(self.opts.debounce, left)):
                return
