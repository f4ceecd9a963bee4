"""Supervised threads: a thread that dies is noticed at once (it wakes the worker's loop), restarted with a
backoff, and shown in status (`threads`: alive, restarts, last error). One bad message is answered inside each
thread; this is the wall behind that one, for whatever nobody thought of."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from python_worker.logs import describe

log = logging.getLogger("pbxfed")

RESTART_MIN = 1.0  # seconds before the first restart of a dead thread; doubles while it keeps dying
RESTART_MAX = 60.0
HEALTHY_AFTER = 60.0  # a thread that ran this long is healthy again: its next death restarts it at once


@dataclass
class Health:
    """What status shows of one supervised thread."""

    name: str
    restarts: int = 0
    last_error: str | None = None
    last_restart: float | None = None
    started_at: float = field(default_factory=time.monotonic)
    next_restart: float = 0.0
    backoff: float = RESTART_MIN

    def to_json(self, alive: bool) -> dict[str, Any]:
        return {"alive": alive, "restarts": self.restarts, "last_error": self.last_error,
                "last_restart": None if self.last_restart is None else round(self.last_restart, 3)}


def guarded(name: str, target: Callable[[], None], health: Health, on_exit: Callable[[], None]) -> threading.Thread:
    """A daemon thread running `target`; whatever it dies of is recorded in `health`, and `on_exit` wakes the
    supervisor."""

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            health.last_error = describe(exc)
            log.error("thread %s died: %s", name, health.last_error)
        finally:
            on_exit()

    health.started_at = time.monotonic()
    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


@dataclass
class Supervised:
    """One supervised part: how to tell it is alive and how to start it again."""

    health: Any  # Health, or a part's own record of the same attributes (sync's ThreadState)
    is_alive: Callable[[], bool]
    restart: Callable[[], None]


class Supervisor:
    def __init__(self) -> None:
        self.parts: dict[str, Supervised] = {}

    def add(self, name: str, is_alive: Callable[[], bool], restart: Callable[[], None],
            health: Any = None) -> Any:
        health = health if health is not None else Health(name)
        self.parts[name] = Supervised(health, is_alive, restart)
        return health

    def check(self, now: float | None = None) -> float | None:
        """Restart every dead part whose backoff has passed; the monotonic time of the next due restart, if any."""
        now = time.monotonic() if now is None else now
        due: float | None = None
        for name, part in self.parts.items():
            if part.is_alive():
                continue
            h = part.health
            if now - h.started_at > HEALTHY_AFTER:
                h.backoff = RESTART_MIN
            if h.next_restart > now:
                due = h.next_restart if due is None else min(due, h.next_restart)
                continue
            h.restarts += 1
            h.last_restart = time.time()
            h.next_restart = now + h.backoff
            h.backoff = min(h.backoff * 2, RESTART_MAX)
            log.warning("restarting thread %s (restart %d)", name, h.restarts)
            try:
                part.restart()
            except Exception as exc:  # the next check tries again, after the backoff
                h.last_error = describe(exc)
                log.error("thread %s did not restart: %s", name, h.last_error)
        return due

    def status(self) -> dict[str, Any]:
        return {name: part.health.to_json(part.is_alive()) for name, part in sorted(self.parts.items())}
