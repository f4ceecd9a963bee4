"""Three real stations paired from their admin pages: an invitation made on one page, pasted into another's.

No pattern, host or secret is typed: the stations tell each other (the worker's pairing and directory sync).
Then a healthy federation of three, seen from each station's page, in both languages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import adminbox as ab
from tests.browser import pages as P
from tests.browser.conftest import PageLog, shot
from tests.e2e import federation as fd

SPECS = (fd.MOSCOW, fd.SPB, fd.NSK)


@pytest.fixture(scope="module")
def fed() -> Iterator[ab.AdminFederation]:
    ab.skip_unless_ready()
    f = ab.AdminFederation("paired")
    try:
        for spec in SPECS:
            f.add(spec)
        f.start()
        for number in ("201", "301", "401"):
            f.register(number)
        for a in f.admins.values():
            a.set_language("en")
            a.start_worker()
        yield f
    finally:
        f.close()


def _invite(pg: Any, host: ab.AdminStation) -> str:
    P.open_index(pg, host)
    pg.click("#pbx-federation-invite")
    pg.wait_for_function("() => document.querySelector('#pbx-federation-invitation').value.length > 20",
                         timeout=30000)
    return str(pg.input_value("#pbx-federation-invitation"))


def _accept(pg: Any, guest: ab.AdminStation, text: str) -> None:
    P.open_index(pg, guest)
    pg.fill("#pbx-federation-accept-text", text)
    with pg.expect_navigation(timeout=40000):
        pg.click("#pbx-federation-accept")
    pg.wait_for_selector("#pbx-federation-peers")


def test_pairing_from_the_pages(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    t0 = time.monotonic()
    for n, (host, guest) in enumerate((("moscow", "spb"), ("moscow", "novosibirsk"), ("spb", "novosibirsk"))):
        text = _invite(pg, fed.admin(host))
        assert text.startswith("pbxfed"), text[:40]
        if n == 0:
            shot(pg, "pairing-invitation-en")
        _accept(pg, fed.admin(guest), text)
        assert P.row(pg, host).count() == 1
        assert P.row(pg, host).locator(".pbxfed-paired").count() == 1
    for a in fed.admins.values():
        others = {s.name for s in SPECS} - {a.name}
        got = {p["name"]: p for p in P.module_peers(a)}
        assert set(got) == others
        assert all(p["paired"] == 1 and p["secret"] and p["patterns"] for p in got.values()), got
    # every page: both others green (trunk, BLF), paired
    for a in fed.admins.values():
        P.open_index(pg, a)
        for other in {s.name for s in SPECS} - {a.name}:
            P.wait_row(pg, other, "green", 60)
            pg.wait_for_selector(f'tr.peer-row[data-name="{other}"] .pbxfed-dot[data-kind="blf"][data-state="ok"]',
                                 timeout=60000)
            assert P.row(pg, other).locator(".pbxfed-paired").count() == 1
    P.record("pairing_three_stations_to_all_green_s", round(time.monotonic() - t0, 1))
    assert not log.page_errors and not log.aborted, (log.page_errors, log.aborted)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_healthy_federation_of_three(fed: ab.AdminFederation, page: tuple[Any, PageLog], lang: str) -> None:
    pg, log = page
    a = fed.admin("moscow")
    a.set_language(lang)
    try:
        P.open_index(pg, a)
        for other in ("spb", "novosibirsk"):
            P.wait_row(pg, other, "green", 30)
            assert P.row(pg, other).locator(".pbxfed-rtt").inner_text() != "—"
        summary = pg.locator("#pbx-federation-summary").inner_text()
        assert summary == a.translate("SummaryAllOk", lang).replace("%total%", "2"), summary
        shot(pg, f"healthy-three-{lang}")
        assert not log.page_errors and not log.aborted
    finally:
        a.set_language("en")
