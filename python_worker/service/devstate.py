"""The AMI side of device states over the sync channel: one persistent AMI connection, on its own thread.

It learns this station's own states from its hints (AMI `ExtensionStatus` events of `internal-hints`, read all at
once with `ExtensionStateList` after every login: no entity ID needed, so Asterisk 22.8-22.12 serve as well), and
hands the changes to the sync thread (sync/states.py `StatePort`); it sets the peers' states with pipelined
`Setvar DEVICE_STATE(Custom:FED-<hex>-<n>)` (core/devstates.py decides which), all of a peer's UNAVAILABLE when its
link goes down; then it also sets the peer's down flag (PeerPlan.down_flag, a global variable: the peer's route
dials a device that does not exist, so a call to it fails at once instead of waiting 32 s for an answer, and a
fallback route is tried) and asks Asterisk to qualify that trunk now, and again on its return (once more if the
trunk then reads Unreachable: REQUALIFY_S). It also tells the sync thread which of each peer's numbers a phone here
watches (`watching`): the hints Asterisk made from that peer's pattern hint when a phone subscribed, read with an
`ExtensionStateList` every WATCH_POLL_S seconds and from the ExtensionStatus events of such hints; the peer sends
changes of those numbers at once and the rest coalesced (sync/states.py). `ContactStatus` events tell the worker
to look at the trunks now instead of polling often. It reconnects with a bounded back-off; after a reconnect
everything it set is set again (Asterisk may have restarted). Nothing here blocks the sync thread: the methods it
calls only take a lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from python_worker.core.devstates import OwnStates, RemoteStates, Setting, Watches, from_hint_state, is_number
from python_worker.core.planner import Plan
from python_worker.core.runtime import AmiAccount
from python_worker.service.ami import AmiConnection, AmiError, AmiRefused

log = logging.getLogger("pbxfed")

HINTS_CONTEXT = "internal-hints"  # where Core writes one hint per phone (docs/platform.md#dialplan)
WINDOW = 100  # Setvars in flight (phase 1: pipelined Setvar 7,600/s, one at a time 4,000/s)
BACKOFF = (0.5, 1.0, 2.0, 5.0)  # seconds between connect attempts
# A trunk read Unreachable this soon after its peer's sync link came back is qualified again: the OPTIONS Asterisk
# sent during the outage time out (qualify_timeout, 3 s) after the link is back and overwrite the fresh Reachable,
# and Asterisk would refuse to dial the trunk until its next qualify, up to qualify_frequency (10 s) later.
REQUALIFY_S = 15.0
# How often the hints are listed to see which peer numbers a phone here has started to watch (Asterisk tells nobody
# when it makes a hint from a pattern for a new subscription). One action; its answer lists every hint (~250 at 200
# phones and 9 peers watched a little, ~50 events a second at this period). Until the watch is seen, that lamp
# follows the trickle (sync/states.TRICKLE_S: at most 2 s behind), then at once.
WATCH_POLL_S = 5.0


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int
    account: AmiAccount
    timeout: float = 3.0


@dataclass
class _Counters:
    events: int = 0
    own_changes: int = 0
    sets_sent: int = 0
    sets_failed: int = 0
    logins: int = 0
    remote_received: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class DevstateBridge:
    """Implements sync.states.StatePort; the worker gives it each new plan (`set_plan`)."""

    def __init__(self, settings: AmiSettings, *, on_contact: Callable[[str, str], None] | None = None) -> None:
        self.settings = settings
        self.on_change: Callable[[], None] | None = None  # the sync service's notify_states
        self.on_contact = on_contact  # (aor, ContactStatus) from the AMI thread
        self._lock = threading.Lock()
        self._own = OwnStates()
        self._remote = RemoteStates()
        self._own_rx: re.Pattern[str] | None = None  # our numbers (plan.own_regex); None: no plan yet
        self._trunks: dict[str, str] = {}  # peer -> provider id (its trunk endpoint)
        self._flags: dict[str, str] = {}  # peer -> its down flag (a global variable the dialplan reads)
        self._flagged: dict[str, str] = {}  # flag -> value set ("1": down): set again after a reconnect
        self._queue: OrderedDict[str, str] = OrderedDict()  # Setvar variable -> value, coalesced, oldest first
        self._qualify: list[str] = []
        self._back: dict[str, float] = {}  # peer -> when its sync link came back (monotonic)
        self._reread = False  # our numbers changed: read the hints again
        self._esl_id = ""  # the list that (re)loads our own states (after a login, or when our numbers changed)
        self._esl: dict[str, str] = {}
        self._watch_id = ""  # the periodic list that only looks for watched peer numbers
        self._watches = Watches()
        self._next_poll = 0.0
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self.connected = False
        self.problem: str | None = None  # why the last login failed (None: logged in, or not tried yet)
        self.counters = _Counters()
        self.gone: list[str] = []  # devices no longer used (peer or number removed): the worker forgets them

    # ---- StatePort (sync thread) ----
    def own_snapshot(self) -> Mapping[str, str] | None:
        with self._lock:
            return dict(self._own.states) if self._own.known else None

    def take_own_changes(self) -> dict[str, str]:
        with self._lock:
            return self._own.take_changes()

    def on_remote(self, peer: str, full: bool, states: Mapping[str, str]) -> None:
        with self._lock:
            self.counters.remote_received += len(states)
            self._enqueue(self._remote.receive(peer, full, states))
            if self._flag(peer, ""):  # it talks to us again: calls to it go out again ...
                self._came_back(peer)  # ... which needs its trunk contact Reachable again now, not in 10 s
        self._wake()

    def on_peer_up(self, peer: str) -> None:
        with self._lock:
            self._enqueue(self._remote.peer_up(peer))
            if self._flag(peer, ""):
                self._came_back(peer)
        self._wake()

    def watching(self) -> Mapping[str, frozenset[str]] | None:
        with self._lock:
            return self._watches.by_peer  # replaced, never changed in place

    def on_peer_down(self, peer: str) -> None:
        with self._lock:
            sets = self._remote.peer_down(peer)
            self._enqueue(sets)
            self._flag(peer, "1")  # calls to it fail at once instead of waiting 32 s for an answer
            self._back.pop(peer, None)
            self._qualify_trunk(peer)
        if sets:
            log.warning("lamps of %s: %d set Unavailable (its sync link stopped answering)", peer, len(sets))
        self._wake()

    # ---- the worker (loop thread) ----
    def set_plan(self, plan: Plan) -> None:
        """Which numbers are ours, and per paired peer whose states we carry: its device prefix and the numbers it
        may set (its hint numbers: announced SIP extensions in its patterns, none of ours)."""
        filters = {p.name: (p.state_device(""), frozenset(p.hint_numbers)) for p in plan.peers if p.carries_states}
        rx = re.compile(f"^({plan.own_regex})$") if plan.own_regex else None
        with self._lock:
            sets, gone = self._remote.set_filters(filters)
            self._enqueue(sets)
            self.gone += gone
            self._trunks = {p.name: p.provider_id for p in plan.peers}
            self._flags = {p.name: p.down_flag for p in plan.peers if p.carries_states}
            changed_rx = (rx.pattern if rx else None) != (self._own_rx.pattern if self._own_rx else None)
            self._own_rx = rx
            self._watches.update(self._remote.peers)
        if changed_rx and self.connected:
            self._reread = True
        self._wake()

    def take_gone(self) -> list[str]:
        with self._lock:
            out, self.gone = self.gone, []
        return out

    def heard(self, peer: str) -> bool | None:
        """Whether `peer`'s states have reached us since we started (None: not carried for it)."""
        with self._lock:
            ps = self._remote.peers.get(peer)
            return None if ps is None else ps.heard

    def status(self) -> dict[str, Any]:
        with self._lock:
            c = self.counters
            return {"connected": self.connected, "problem": self.problem, "own_numbers": len(self._own.states),
                    "events": c.events, "own_changes": c.own_changes, "sets": c.sets_sent,
                    "sets_failed": c.sets_failed, "logins": c.logins, "received": c.remote_received,
                    "queued": len(self._queue),
                    "watched": (None if self._watches.by_peer is None
                                else {n: len(w) for n, w in sorted(self._watches.by_peer.items())}),
                    "peers": {n: {"heard": ps.heard, "down": ps.down, "numbers": len(ps.allowed)}
                              for n, ps in sorted(self._remote.peers.items())}}

    # ---- the thread ----
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="devstate", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: a wake-up is already pending
            os.write(self._wake_w, b"x")

    def _enqueue(self, sets: list[Setting]) -> None:
        for device, state in sets:
            self._set(f"DEVICE_STATE({device})", state)

    def _set(self, variable: str, value: str) -> None:
        self._queue.pop(variable, None)
        self._queue[variable] = value

    def _flag(self, peer: str, value: str) -> bool:
        """The peer's down flag: a global variable (lost when Asterisk restarts, so never stuck on). Returns
        whether it changed."""
        flag = self._flags.get(peer)
        if flag is None or self._flagged.get(flag, "") == value:
            return False
        self._flagged[flag] = value
        self._set(flag, value)
        return True

    def _came_back(self, peer: str) -> None:
        self._back[peer] = time.monotonic()
        self._qualify_trunk(peer)

    def _requalify(self, aor: str, status: str) -> None:
        """AMI thread: a trunk read Unreachable right after its peer's sync link came back is qualified again
        (REQUALIFY_S). Bounded by itself: Asterisk sends ContactStatus only on a change, so a trunk that stays
        Unreachable gets no second one."""
        if status != "Unreachable":
            return
        with self._lock:
            peer = next((p for p, trunk in self._trunks.items() if trunk == aor), "")
            since = self._back.get(peer)
            if since is None or time.monotonic() - since > REQUALIFY_S:
                return
            self._qualify_trunk(peer)
        log.info("trunk %s read Unreachable %.1f s after %s's sync link came back (a qualify sent during the "
                 "outage timed out): qualifying it again", aor, time.monotonic() - since, peer)

    def _qualify_trunk(self, peer: str) -> None:
        """Ask Asterisk to qualify the peer's trunk now: Asterisk dials only a contact it holds Reachable, and
        after an outage its own next qualify may be up to qualify_frequency away."""
        trunk = self._trunks.get(peer)
        if trunk and trunk not in self._qualify:
            self._qualify.append(trunk)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            conn = self._login()
            if conn is None:
                self._stop.wait(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
                continue
            attempt = 0
            try:
                self._serve(conn)
            except AmiError as exc:
                if not self._stop.is_set():
                    log.warning("AMI connection lost: %s; reconnecting", exc)
            finally:
                conn.close()
                self.connected = False

    def _login(self) -> AmiConnection | None:
        s = self.settings
        conn = AmiConnection(s.host, s.port, s.account.username, s.account.secret, timeout=s.timeout)
        try:
            early = conn.connect()
        except AmiRefused as exc:
            if self.problem != f"login refused: {exc}":
                log.error("AMI login as %s refused: %s", s.account.username, exc)
            self.problem = f"login refused: {exc}"
            return None
        except AmiError as exc:
            if self.problem is None or not self.problem.startswith("no connection"):
                log.warning("AMI at %s:%d not reachable: %s", s.host, s.port, exc)
            self.problem = f"no connection to {s.host}:{s.port}"
            return None
        self.problem = None
        self.connected = True
        self.counters.logins += 1
        log.info("AMI: logged in to %s:%d as %s", s.host, s.port, s.account.username)
        with self._lock:
            self._enqueue(self._remote.reapply())
            for flag, value in self._flagged.items():
                self._set(flag, value)
        self._handle(conn, early)
        self._read_hints(conn)
        return conn

    def _read_hints(self, conn: AmiConnection) -> None:
        self._esl_id = f"esl-{time.monotonic_ns()}"
        self._esl = {}
        self._watches.start()
        self._watch_id = ""  # this list also serves as a look at the watches
        self._next_poll = time.monotonic() + WATCH_POLL_S
        conn.send({"Action": "ExtensionStateList", "ActionID": self._esl_id})

    def _poll_watches(self, conn: AmiConnection) -> None:
        self._next_poll = time.monotonic() + WATCH_POLL_S
        if self._esl_id or self._watch_id:
            return  # a list is still being read
        self._watch_id = f"watch-{time.monotonic_ns()}"
        self._watches.start()
        conn.send({"Action": "ExtensionStateList", "ActionID": self._watch_id})

    def _serve(self, conn: AmiConnection) -> None:
        inflight = 0
        seq = 0
        while not self._stop.is_set():
            with self._lock:
                due = bool(self._queue) and inflight < WINDOW
            wait = 0.0 if due else max(0.0, min(5.0, self._next_poll - time.monotonic()))
            ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [], wait)
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            if conn.fileno() in ready:
                msgs = conn.read_available()
                inflight -= self._handle(conn, msgs)
            if self._reread:
                self._reread = False
                self._read_hints(conn)
            elif time.monotonic() >= self._next_poll:
                self._poll_watches(conn)
            with self._lock:
                batch: list[Setting] = []
                while self._queue and inflight + len(batch) < WINDOW:
                    batch.append(self._queue.popitem(last=False))
                qualify, self._qualify = self._qualify, []
            for variable, value in batch:
                seq += 1
                conn.send({"Action": "Setvar", "Variable": variable, "Value": value, "ActionID": f"s{seq}"})
            inflight += len(batch)
            self.counters.sets_sent += len(batch)
            for trunk in qualify:
                conn.send({"Action": "PJSIPQualify", "Endpoint": trunk, "ActionID": f"q-{trunk}"})

    def _handle(self, conn: AmiConnection, msgs: list[dict[str, str]]) -> int:
        """Events and answers; returns how many Setvars were answered."""
        answered = 0
        changed = False
        for msg in msgs:
            aid = msg.get("ActionID", "")
            event = msg.get("Event", "")
            if aid.startswith("s") and "Response" in msg:
                answered += 1
                if msg["Response"] != "Success":
                    self.counters.sets_failed += 1
                    if self.counters.sets_failed <= 5:
                        log.error("AMI Setvar refused: %s", msg.get("Message"))
                continue
            if event == "ExtensionStatus":
                self.counters.events += 1
                if aid and aid in (self._esl_id, self._watch_id):
                    self._hint(msg, self._esl if aid == self._esl_id else None, listing=True)
                elif not aid:
                    changed |= self._hint(msg, None)
            elif event == "ExtensionStateListComplete" and aid and aid in (self._esl_id, self._watch_id):
                with self._lock:
                    if aid == self._esl_id:
                        self._own.load(self._esl)
                        changed = True
                    self._esl_id = self._watch_id = ""
                    changed |= self._watches.finish(self._remote.peers)
            elif event == "ContactStatus":
                aor, status = msg.get("AOR", ""), msg.get("ContactStatus", "")
                self._requalify(aor, status)
                if self.on_contact is not None:
                    try:
                        self.on_contact(aor, status)
                    except Exception:
                        log.exception("contact callback failed")
        if changed and self.on_change is not None:
            self.on_change()
        return answered

    def _hint(self, msg: Mapping[str, str], into: dict[str, str] | None, *, listing: bool = False) -> bool:
        """One hint's ExtensionStatus: ours (a state to carry), or a peer's number watched here. `listing`: part of
        a list's answer (`into`: the list that reloads our states). Returns whether something is to be sent."""
        exten = msg.get("Exten", "")
        if msg.get("Context") != HINTS_CONTEXT or not is_number(exten):
            return False
        with self._lock:
            rx = self._own_rx
            if rx is None:
                return False
            if not rx.match(exten):
                if listing:
                    self._watches.listed(exten)
                    return False
                return self._watches.seen(exten, self._remote.peers)
            state = from_hint_state(msg.get("StatusText", ""), msg.get("Status", ""))
            if state is None or (listing and into is None):
                return False
            if into is not None:
                into[exten] = state
                return False
            if self._esl_id:
                self._esl[exten] = state  # newer than what the list being read may hold for it
            if not self._own.known:
                return False  # the full list is on its way; it carries this one too
            if self._own.update(exten, state):
                self.counters.own_changes += 1
                return True
        return False
