"""What the tests do on the module's pages, as an admin does it: open, fill, click, read."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.browser.adminbox import AdminStation
from tests.e2e import federation as fd

FIGURES_FILE = Path(__file__).resolve().parents[2] / "build" / "browser-figures.json"


def record(name: str, value: object) -> None:
    """A measured figure, printed and kept in build/browser-figures.json (docs/performance.md cites them)."""
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(FIGURES_FILE.read_text()) if FIGURES_FILE.exists() else {}
    figures[name] = value
    FIGURES_FILE.write_text(json.dumps(figures, indent=1, sort_keys=True))
    print(f"figure {name} = {value}")


def open_index(pg: Any, a: AdminStation) -> None:
    pg.goto(a.url("index"))
    pg.wait_for_selector("#pbx-federation-peers")
    # the first status poll answered (the summary line leaves "reading…")
    pg.wait_for_function("() => document.querySelector('#pbx-federation-summary').dataset.bad !== undefined"
                         " || document.querySelector('#pbx-federation-empty') !== null")


def row(pg: Any, name: str) -> Any:
    return pg.locator(f'tr.peer-row[data-name="{name}"]')


def row_state(pg: Any, name: str) -> str:
    return str(row(pg, name).locator(".pbxfed-state").get_attribute("data-state") or "")


def dot(pg: Any, name: str, kind: str) -> str:
    return str(row(pg, name).locator(f'.pbxfed-dot[data-kind="{kind}"]').get_attribute("data-state") or "")


def dot_color(pg: Any, name: str, kind: str) -> str:
    cls = str(row(pg, name).locator(f'.pbxfed-dot[data-kind="{kind}"] i').get_attribute("class") or "")
    return cls.split(" ")[0]


def wait_row(pg: Any, name: str, state: str, timeout: float) -> float:
    """Seconds until the row's state label reads `state` (green/red/yellow/grey) in the page; raises on timeout."""
    t0 = time.monotonic()
    pg.wait_for_selector(f'tr.peer-row[data-name="{name}"] .pbxfed-state[data-state="{state}"]',
                         timeout=timeout * 1000)
    return time.monotonic() - t0


def set_field(pg: Any, selector: str, value: str) -> None:
    """Type into a field as an admin does (Core's form marks the form changed on the change event)."""
    pg.fill(selector, value)
    pg.dispatch_event(selector, "change")


def fill_peer(pg: Any, *, name: str, host: str, patterns: str, secret: str, port: str = "5060",
              note: str | None = None) -> None:
    pg.fill('input[name="name"]', name)
    pg.fill('input[name="host"]', host)
    pg.fill('input[name="port"]', port)
    pg.fill('input[name="patterns"]', patterns)
    pg.fill('input[name="secret"]', secret)
    if note is not None:
        pg.fill('textarea[name="note"]', note)


def submit(pg: Any) -> None:
    pg.click("#submitbutton")


def submit_and_wait_index(pg: Any) -> None:
    with pg.expect_navigation(url="**/module-pbx-federation/index**", timeout=30000):
        submit(pg)
    pg.wait_for_selector("#pbx-federation-peers")


def add_peer_via_page(pg: Any, a: AdminStation, **values: str) -> None:
    pg.goto(a.url("modify"))
    pg.wait_for_selector("#module-pbx-federation-peer-form")
    fill_peer(pg, **values)
    submit_and_wait_index(pg)


def field_problems(pg: Any, field: str) -> list[tuple[str, str]]:
    """(colour, text) of the problem labels under one field of the form."""
    labels = pg.locator(f'.field[data-field="{field}"] .pbxfed-problem')
    out = []
    for i in range(labels.count()):
        lab = labels.nth(i)
        cls = str(lab.get_attribute("class") or "")
        out.append(("orange" if "orange" in cls else "red", lab.inner_text().strip()))
    return out


def module_peers(a: AdminStation) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{a.mst.module_db}?mode=ro", uri=True, timeout=10)
    try:
        cur = db.execute("SELECT * FROM m_ModulePbxFederationPeers ORDER BY name")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        db.close()


def worker_messages(a: AdminStation, peer: dict[str, Any], lang: str) -> dict[str, str]:
    """The worker's own verdict on a proposed peer: code -> message in `lang` (what the page must show)."""
    proc = subprocess.run([sys.executable, "-m", "python_worker", "peers", "validate", "--mikopbx-db",
                           str(a.mst.mikopbx_db), "--module-db", str(a.mst.module_db), "--lang", lang],
                          input=json.dumps(peer), cwd=fd.REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout, f"peers validate answered nothing (exit {proc.returncode}): {proc.stderr[-500:]}"
    return {p["code"]: p["message"][lang] for p in json.loads(proc.stdout)["problems"]}


def message_box(pg: Any) -> tuple[str, str]:
    """(kind, text) of the page's message box: kind is positive/negative/warning/hidden."""
    box = pg.locator("#pbx-federation-message")
    cls = str(box.get_attribute("class") or "")
    kind = next((k for k in ("positive", "negative", "warning", "hidden") if k in cls.split()), "")
    return kind, box.inner_text().strip() if kind != "hidden" else ""
