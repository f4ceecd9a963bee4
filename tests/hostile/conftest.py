"""The hostile-input suite: every field, every wire message, every database state an attacker or an accident can
make, each input judged by an oracle (tests/hostile/oracle.py). Each input is counted (tally below) and the
numbers the issue's closing note needs are printed at the end of the run and written to
out/hostile-report.json: inputs tried, refused cleanly, accepted safely, crashes, unsafe, lost (the last
three must be 0; every test also fails at once on any of them).

Runtime: sized for CI (a few minutes on 2 cores). PBXFED_HOSTILE_SCALE=10 runs ten times the examples.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("PBXFED_HOSTILE_SCALE", "1") or "1"))
REPORT = Path(__file__).resolve().parents[2] / "out" / "hostile-report.json"
OUTCOMES = ("refused", "accepted", "crash", "unsafe", "lost")

settings.register_profile("hostile", deadline=None, derandomize=False, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
settings.load_profile("hostile")


def examples(n: int) -> int:
    """`n` Hypothesis examples, times PBXFED_HOSTILE_SCALE."""
    return n * SCALE


class Tally:
    """Per source (cli, form, module.db, wire, control, db-damage, secrets ...), how each input ended."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}

    def add(self, source: str, outcome: str) -> None:
        assert outcome in OUTCOMES, outcome
        self.counts.setdefault(source, Counter())[outcome] += 1

    def totals(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for c in self.counts.values():
            total.update(c)
        return {"tried": sum(total.values()), **{o: total[o] for o in OUTCOMES}}

    def report(self) -> dict[str, Any]:
        return {"totals": self.totals(),
                "by_source": {s: {"tried": sum(c.values()), **{o: c[o] for o in OUTCOMES}}
                              for s, c in sorted(self.counts.items())},
                "scale": SCALE}


TALLY = Tally()


@pytest.fixture
def tally() -> Tally:
    return TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.counts:
        return
    data = TALLY.report()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    t = data["totals"]
    write = terminalreporter.write_line
    write("")
    write("hostile inputs: {tried} tried, {refused} refused cleanly, {accepted} accepted safely, {crash} crashes, "
          "{unsafe} unsafe, {lost} lost".format(**t))
    for source, c in data["by_source"].items():
        write(f"  {source:<19} {c['tried']:>6} tried  {c['refused']:>6} refused  {c['accepted']:>6} accepted  "
              f"{c['crash']} crash  {c['unsafe']} unsafe  {c['lost']} lost")
    write(f"  (written to {REPORT})")
