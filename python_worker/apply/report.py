"""What one reconcile did, as the CLI prints it, status.json shows it and the control endpoint answers it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from python_worker.core.planner import Plan
from python_worker.core.problems import Problem
from python_worker.db.owned import Change


@dataclass
class ApplyReport:
    """What one reconcile did. Holds no secret: changes name tables, keys and columns, never values."""

    result: str  # unchanged | applied | dry-run | rolled-back | busy | refused | held | error
    time: float = field(default_factory=time.time)
    changes: list[Change] = field(default_factory=list)
    issues: list[Problem] = field(default_factory=list)  # conflicts with the admin's own rows
    problems: tuple[Problem, ...] = ()
    hooks_changed: list[str] = field(default_factory=list)
    reload: tuple[str, ...] = ()
    reload_details: tuple[str, ...] = ()
    recovered: str = ""  # "" | forward | backward: an interrupted apply found and finished or undone
    message: str = ""
    digest: str = ""
    plan: Plan | None = None
    module_enabled: bool = True

    @property
    def drift(self) -> list[Change]:
        return [c for c in self.changes if c.drift]

    @property
    def ok(self) -> bool:
        return self.result in ("unchanged", "applied", "dry-run", "held")

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0}
        for c in self.changes:
            out["create" if c.op == "adopt" else c.op] += 1  # adopting Core's placeholder creates our record
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "ok": self.ok,
            "time": round(self.time, 3),
            "time_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.time)),
            "message": self.message,
            "module_enabled": self.module_enabled,
            "counts": self.counts(),
            "create": [c.to_json() for c in self.changes if c.op in ("create", "adopt")],
            "update": [c.to_json() for c in self.changes if c.op == "update"],
            "delete": [c.to_json() for c in self.changes if c.op == "delete"],
            "drift": [c.to_json() for c in self.changes if c.drift],
            "issues": [i.to_json() for i in self.issues],
            "problems": [p.to_json() for p in self.problems],
            "hooks_changed": self.hooks_changed,
            "reload": list(self.reload),
            "reload_details": list(self.reload_details),
            "recovered": self.recovered,
        }

    def summary(self) -> str:
        c = self.counts()
        parts = [f"{self.result}: {c['create']} created, {c['update']} updated, {c['delete']} removed"]
        if self.hooks_changed:
            parts.append("hooks " + ",".join(self.hooks_changed))
        if self.reload:
            parts.append("reload " + ",".join(self.reload))
        drift = [c for c in self.changes if c.drift]
        if drift:
            parts.append("drift repaired: " + "; ".join(f"{d.table} {'/'.join(d.key)} {d.drift}" for d in drift))
        if self.recovered:
            parts.append(f"interrupted apply recovered ({self.recovered})")
        if self.message:
            parts.append(self.message)
        return "; ".join(parts)
