"""The peers table with 50 stations, a 32-character name and Cyrillic notes; a Cyrillic name refused in Russian."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import adminbox as ab
from tests.browser import pages as P
from tests.browser.conftest import PageLog, shot
from tests.e2e import federation as fd

LONG = "novosibirsk-akademgorodok-filial"  # 32 characters, the longest name allowed
NOTES = ("Новосибирск, Академгородок, серверная в корпусе Б", "Казань, склад", "Екатеринбург — отдел продаж")


@pytest.fixture(scope="module")
def fed() -> Iterator[ab.AdminFederation]:
    ab.skip_unless_ready()
    f = ab.AdminFederation("table")
    try:
        f.add(fd.MOSCOW)
        f.start()
        a = f.admin("moscow")
        a.set_language("en")
        db = sqlite3.connect(f["moscow"].module_db, timeout=10)
        try:
            for i in range(50):
                name = LONG if i == 0 else f"office-{i:02d}"
                db.execute(
                    "INSERT INTO m_ModulePbxFederationPeers (name, host, port, transport, patterns, secret, enabled,"
                    " note, paired) VALUES (?, ?, 5060, 'udp', ?, ?, 1, ?, 0)",
                    (name, f"127.0.1.{i + 1}", f"6{i:02d}XX", fd.pair_secret("moscow", name), NOTES[i % 3]))
            db.commit()
        finally:
            db.close()
        a.start_worker()
        yield f
    finally:
        f.close()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_fifty_peers_long_and_cyrillic(fed: ab.AdminFederation, page: tuple[Any, PageLog], lang: str) -> None:
    pg, log = page
    a = fed.admin("moscow")
    a.set_language(lang)
    try:
        t0 = time.monotonic()
        P.open_index(pg, a)
        assert pg.locator("tr.peer-row").count() == 50
        # every row got its state from one status poll
        pg.wait_for_function("() => [...document.querySelectorAll('tr.peer-row .pbxfed-state')]"
                             ".every(e => e.dataset.state && e.dataset.state !== 'unknown')", timeout=30000)
        if lang == "en":
            P.record("fifty_peers_page_to_states_s", round(time.monotonic() - t0, 2))
        assert P.row(pg, LONG).locator("strong").inner_text() == LONG
        assert NOTES[0] in P.row(pg, LONG).inner_text()
        # the table fits its segment: no horizontal scrolling because of a long name or note
        fits = pg.evaluate("() => { const t = document.querySelector('#pbx-federation-peers-table');"
                           " return t.scrollWidth <= t.parentElement.clientWidth + 1; }")
        assert fits
        summary = pg.locator("#pbx-federation-summary").inner_text()
        assert "50" in summary, summary
        shot(pg, f"table-50-{lang}")
        assert not log.page_errors and not log.aborted, (log.page_errors, log.aborted)
    finally:
        a.set_language("en")


def test_a_cyrillic_name_is_refused_in_russian(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")
    a.set_language("ru")
    try:
        peer = {"name": "Новосибирск", "host": "127.0.0.4", "patterns": "4XX", "secret": fd.pair_secret("a", "b")}
        expected = P.worker_messages(a, {**peer, "port": 5060, "transport": "udp", "enabled": 1}, "ru")
        pg.goto(a.url("modify"))
        P.fill_peer(pg, **peer)
        P.submit(pg)
        pg.wait_for_selector('.field[data-field="name"].error .pbxfed-problem', timeout=20000)
        assert ("red", expected["E_NAME_INVALID"]) in P.field_problems(pg, "name")
        assert "Новосибирск" in expected["E_NAME_INVALID"]
        assert pg.input_value('input[name="name"]') == "Новосибирск"
        assert len(P.module_peers(a)) == 50
        assert not log.page_errors and not log.aborted
    finally:
        a.set_language("en")
