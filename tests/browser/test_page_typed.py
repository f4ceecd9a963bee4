"""The admin page of two real stations (moscow 2XX, spb 3XX) federated by typing each other in, in a browser.

Asterisk 22 stations from tests/e2e, each with MikoPBX Core 2026.1 serving the module's pages (adminbox.py),
the page's JS talking to the module's REST callback through Core's PbxExtensionsProcessor::callBack, the
callback talking to the worker (bin/pbxfed), the worker managing the station. The tests run in order and
share the two stations: each starts from what the previous ones left (as an admin's session would).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import adminbox as ab
from tests.browser import pages as P
from tests.browser.conftest import PageLog, shot
from tests.e2e import federation as fd
from tests.e2e import harness as hs

SECRET = fd.pair_secret("moscow", "spb")


@pytest.fixture(scope="module")
def fed() -> Iterator[ab.AdminFederation]:
    ab.skip_unless_ready()
    f = ab.AdminFederation("typed")
    try:
        f.add(fd.MOSCOW)
        f.add(fd.SPB)
        f.start()
        for number in ("201", "301"):
            f.register(number)
        for a in f.admins.values():
            a.set_language("en")
            a.start_worker()
        yield f
    finally:
        f.close()


def _no_page_errors(log: PageLog) -> None:
    assert not log.page_errors, log.page_errors
    assert not log.aborted, log.aborted


def test_only_loopback_leaves_the_browser_and_debug_mode_is_off(fed: ab.AdminFederation,
                                                                page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")
    settings = (a.host_dir / "settings.json").read_text()
    assert '"debugMode": false' in settings and '"debugMode": true' not in settings
    P.open_index(pg, a)
    assert all(ab_url.startswith("http://127.") for ab_url in log.requests), log.requests
    got = pg.evaluate("() => fetch('http://10.11.12.13/x').then(() => 'sent', () => 'blocked')")
    assert got == "blocked"
    assert log.aborted == ["http://10.11.12.13/x"]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_empty_page(fed: ab.AdminFederation, page: tuple[Any, PageLog], lang: str) -> None:
    pg, log = page
    a = fed.admin("moscow")
    a.set_language(lang)
    try:
        P.open_index(pg, a)
        assert pg.locator("#pbx-federation-empty").is_visible()
        assert pg.locator("#back-to-list-button").count() == 0, "the list page links back to itself"
        # Core's layout around it: the sidebar, the module header, Core's own scripts.
        assert pg.evaluate("() => typeof Form === 'object' && typeof TokenManager === 'object'"
                           " && typeof globalRootUrl === 'string'")
        assert pg.locator("#dropdownSubmit").count() == 0  # one plain Save button (submitMode after Core's)
        shot(pg, f"empty-{lang}")
        _no_page_errors(log)
    finally:
        a.set_language("en")


def test_failed_status_is_shown(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")
    a.stop_worker()
    try:
        P.open_index(pg, a)
        pg.wait_for_selector("#pbx-federation-message.negative", timeout=10000)
        kind, text = P.message_box(pg)
        assert kind == "negative"
        assert "background worker is not running" in text, text
    finally:
        a.start_worker()
    pg.wait_for_selector("#pbx-federation-message.hidden", state="attached", timeout=15000)
    _no_page_errors(log)


BAD = {"name": "spb", "host": "bad host!", "patterns": "2XX", "secret": "12345"}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_bad_values_are_marked_with_the_reason_and_nothing_is_saved(fed: ab.AdminFederation,
                                                                     page: tuple[Any, PageLog], lang: str) -> None:
    pg, log = page
    a = fed.admin("moscow")
    a.set_language(lang)
    base = {"port": 5060, "transport": "udp", "enabled": 1}
    try:
        expected = P.worker_messages(a, {**BAD, **base}, lang)
        assert {"E_HOST_INVALID", "W_SECRET_WEAK"} <= set(expected), expected
        pg.goto(a.url("modify"))
        P.fill_peer(pg, **BAD)
        P.submit(pg)
        pg.wait_for_selector('.field[data-field="host"].error .pbxfed-problem', timeout=20000)
        assert P.field_problems(pg, "host") == [("red", expected["E_HOST_INVALID"])]
        assert P.field_problems(pg, "secret") == [("orange", expected["W_SECRET_WEAK"])]
        # nothing saved, the admin's input kept, still on the form
        assert P.module_peers(a) == []
        assert "modify" in pg.url
        for field, value in BAD.items():
            assert pg.input_value(f'input[name="{field}"]') == value
        shot(pg, f"form-error-{lang}")
        # the host corrected: now the pattern that overlaps this station's own numbers is refused
        expected = P.worker_messages(a, {**BAD, **base, "host": fd.SPB.address}, lang)
        assert "E_PATTERN_OVERLAP_LOCAL" in expected, expected
        pg.fill('input[name="host"]', fd.SPB.address)
        P.submit(pg)
        pg.wait_for_selector('.field[data-field="patterns"].error .pbxfed-problem', timeout=20000)
        assert ("red", expected["E_PATTERN_OVERLAP_LOCAL"]) in P.field_problems(pg, "patterns")
        assert P.field_problems(pg, "host") == []
        assert P.module_peers(a) == []
        assert pg.input_value('input[name="patterns"]') == "2XX"
        _no_page_errors(log)
    finally:
        a.set_language("en")


def test_a_refused_value_is_shown_as_text(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")
    pg.goto(a.url("modify"))
    evil = '<img src=x onerror="window.pbxfedXss=1">'
    P.fill_peer(pg, name="spb", host=evil, patterns="3XX", secret=SECRET)
    P.submit(pg)
    pg.wait_for_selector('.field[data-field="host"].error .pbxfed-problem')
    time.sleep(0.5)
    assert pg.evaluate("() => window.pbxfedXss") is None
    assert any(evil in text for _, text in P.field_problems(pg, "host"))
    assert pg.locator(".ui.message.ajax img").count() == 0  # Core's message box got it as text too
    assert P.module_peers(a) == []
    _no_page_errors(log)


def test_good_peers_are_saved_and_go_green(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    moscow, spb = fed.admin("moscow"), fed.admin("spb")
    P.add_peer_via_page(pg, moscow, name="spb", host=fd.SPB.address, patterns="3XX", secret=SECRET,
                        note="Санкт-Петербург, офис на Невском")
    assert [p["name"] for p in P.module_peers(moscow)] == ["spb"]
    pg.goto(spb.url("modify"))
    P.fill_peer(pg, name="moscow", host=fd.MOSCOW.address, patterns="2XX", secret=SECRET)
    t0 = time.monotonic()
    P.submit_and_wait_index(pg)
    assert [p["name"] for p in P.module_peers(spb)] == ["moscow"]
    P.open_index(pg, moscow)
    P.wait_row(pg, "spb", "green", 60)
    pg.wait_for_function("() => document.querySelector('tr.peer-row[data-name=\"spb\"] .pbxfed-dot[data-kind=blf]')"
                         ".dataset.state === 'ok'", timeout=60000)
    green = time.monotonic() - t0
    rtt = pg.locator('tr.peer-row[data-name="spb"] .pbxfed-rtt').inner_text()
    assert re.fullmatch(r"[0-9.]+ ms", rtt), rtt
    assert P.dot_color(pg, "spb", "trunk") == "green" and P.dot_color(pg, "spb", "apply") == "green"
    P.record("save_to_green_s", round(green, 1))
    assert green < 60
    assert "All working" in pg.locator("#pbx-federation-summary").inner_text()
    _no_page_errors(log)


def test_the_peer_form_secret_and_modes(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")
    peer_id = P.module_peers(a)[0]["id"]
    pg.goto(a.url(f"modify/{peer_id}"))
    secret = pg.locator('input[name="secret"]')
    assert secret.get_attribute("type") == "password"
    assert secret.input_value() == SECRET, "the saved secret is kept when editing"
    assert pg.locator("#dropdownSubmit").count() == 0, "no save-mode dropdown (its modes assume Core's URLs)"
    pg.click("#pbx-federation-show-secret")
    assert secret.get_attribute("type") == "text"
    pg.click("#pbx-federation-show-secret")
    assert secret.get_attribute("type") == "password"
    pg.click("#pbx-federation-generate-secret")
    assert secret.get_attribute("type") == "text"
    assert re.fullmatch(r"[A-Za-z0-9]{24}", secret.input_value())
    assert pg.locator('textarea[name="note"]').input_value() == "Санкт-Петербург, офис на Невском"
    _no_page_errors(log)


def test_check_connection(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    P.open_index(pg, fed.admin("moscow"))
    P.row(pg, "spb").locator(".pbxfed-check").click()
    pg.wait_for_selector("#pbx-federation-message.positive")
    kind, text = P.message_box(pg)
    assert text.startswith("spb: Working."), text
    assert "Round trip" in text
    _no_page_errors(log)


def _delete_via_page(pg: Any, name: str) -> None:
    button = P.row(pg, name).locator(".pbxfed-delete")
    button.click()
    pg.wait_for_function(f"() => !document.querySelector('tr.peer-row[data-name=\"{name}\"] .pbxfed-delete')"
                         ".classList.contains('two-steps-delete')", timeout=3000)
    with pg.expect_navigation(timeout=20000):
        button.click()


def test_preview_apply_now_and_delete(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")
    P.add_peer_via_page(pg, a, name="kazan", host="127.0.0.9", patterns="5XX", secret=SECRET)
    assert hs.wait_until(lambda: a.status().get("last_check_result") == "applied"
                         and any(p["name"] == "kazan" and p["applied"] for p in a.status().get("peers", [])),
                         20.0, 0.2), a.status()
    a.stop_worker()
    try:
        # what the next apply will do: one peer removed, one added, one changed
        P.open_index(pg, a)
        kazan_id = P.row(pg, "kazan").get_attribute("data-id")
        # a GET deletes nothing (it used to)
        pg.goto(a.url(f"deletePeer/{kazan_id}"))
        assert "kazan" in [p["name"] for p in P.module_peers(a)]
        P.open_index(pg, a)
        _delete_via_page(pg, "kazan")
        assert "kazan" not in [p["name"] for p in P.module_peers(a)]
        P.add_peer_via_page(pg, a, name="omsk", host="127.0.0.8", patterns="6XX", secret=SECRET)
        spb_id = next(p["id"] for p in P.module_peers(a) if p["name"] == "spb")
        pg.goto(a.url(f"modify/{spb_id}"))
        P.set_field(pg, 'input[name="patterns"]', "3XX,30XX")
        P.submit_and_wait_index(pg)
        # and someone edited the module's trunk to spb in Core's own pages: the apply puts it back
        db = sqlite3.connect(fed["moscow"].mikopbx_db, timeout=10)
        try:
            db.execute("UPDATE m_Sip SET qualifyfreq = 99 WHERE uniqid = ?", (fd.provider_id("spb"),))
            db.commit()
        finally:
            db.close()
        pg.click("#pbx-federation-preview")
        pg.wait_for_selector("#pbx-federation-preview-modal.visible.active", timeout=20000)
        created = pg.locator("#pbx-federation-preview-create .item").all_inner_texts()
        updated = pg.locator("#pbx-federation-preview-update .item").all_inner_texts()
        removed = pg.locator("#pbx-federation-preview-remove .item").all_inner_texts()
        assert any("(omsk)" in t for t in created), created
        assert any("(spb)" in t for t in updated), updated
        assert any("(kazan)" in t for t in removed), removed
        assert any("(spb)" in t for t in created), created  # the route for 30XX
        assert not any("(spb)" in t for t in removed), removed
        shot(pg, "preview-en", full=False)
        pg.click("#pbx-federation-preview-modal .cancel.button")
    finally:
        a.start_worker()
    # "Apply now": the worker reconciles and answers; then nothing is left to change.
    P.open_index(pg, a)
    pg.click("#pbx-federation-apply")
    pg.wait_for_selector("#pbx-federation-message.positive", timeout=30000)
    assert "applied" in P.message_box(pg)[1]
    pg.click("#pbx-federation-preview")
    pg.wait_for_selector("#pbx-federation-preview-modal.visible.active")
    for which in ("create", "update", "remove"):
        assert pg.locator(f"#pbx-federation-preview-{which} .item").all_inner_texts() == ["Nothing to change."]
    _no_page_errors(log)


def test_disable_then_delete_a_peer(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")
    omsk = next(p for p in P.module_peers(a) if p["name"] == "omsk")
    pg.goto(a.url(f"modify/{omsk['id']}"))
    pg.locator('.field[data-field="enabled"] .ui.checkbox').click()
    P.submit_and_wait_index(pg)
    assert next(p for p in P.module_peers(a) if p["name"] == "omsk")["enabled"] == 0
    P.open_index(pg, a)
    P.wait_row(pg, "omsk", "grey", 20)
    assert "Turned off" in P.row(pg, "omsk").inner_text()
    pid = fd.provider_id("omsk")
    assert hs.wait_until(lambda: fed["moscow"].provider_rows("omsk") == 0, 15.0, 0.2), pid
    _delete_via_page(pg, "omsk")
    assert [p["name"] for p in P.module_peers(a)] == ["spb"]
    assert P.row(pg, "omsk").count() == 0
    _no_page_errors(log)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_other_station_down_turns_red_with_what_to_do(fed: ab.AdminFederation, page: tuple[Any, PageLog],
                                                     lang: str) -> None:
    pg, log = page
    a = fed.admin("moscow")
    a.set_language(lang)
    spb = fed["spb"]
    try:
        if lang == "en":
            fed.h.stop(spb.st)
        t0 = time.monotonic()
        P.open_index(pg, a)
        P.wait_row(pg, "spb", "red", 60)
        if lang == "en":
            P.record("station_stopped_to_red_s", round(time.monotonic() - t0, 1))
        assert P.dot_color(pg, "spb", "trunk") == "red"
        hint = P.row(pg, "spb").locator(".pbxfed-hint").inner_text()
        assert hint == a.translate("HintNoConnection", lang), hint
        assert P.row(pg, "spb").locator(".pbxfed-problem").count() >= 0
        shot(pg, f"broken-link-{lang}")
        _no_page_errors(log)
    finally:
        a.set_language("en")
        if lang == "ru":
            fed.start("spb")
            fed.register("301")
    if lang == "ru":
        P.open_index(pg, a)
        P.wait_row(pg, "spb", "green", 60)


def test_station_settings_form(fed: ab.AdminFederation, page: tuple[Any, PageLog]) -> None:
    pg, log = page
    a = fed.admin("moscow")

    def settings() -> tuple[str, str]:
        db = sqlite3.connect(f"file:{a.mst.module_db}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT display_name, own_patterns FROM m_ModulePbxFederation").fetchone()
        finally:
            db.close()
        return str(row[0] or ""), str(row[1] or "")

    P.open_index(pg, a)
    P.set_field(pg, 'input[name="own_patterns"]', "2XX,abc")
    P.submit(pg)
    pg.wait_for_selector('.field[data-field="own_patterns"].error .pbxfed-problem', timeout=20000)
    assert settings()[1] == "2XX"
    assert pg.input_value('input[name="own_patterns"]') == "2XX,abc"
    P.set_field(pg, 'input[name="own_patterns"]', "2XX")
    P.set_field(pg, 'input[name="display_name"]', "Москва, центральный офис")
    with contextlib.suppress(Exception), pg.expect_navigation(timeout=15000):
        P.submit(pg)
    assert hs.wait_until(lambda: settings() == ("Москва, центральный офис", "2XX"), 10.0, 0.2), settings()
    P.open_index(pg, a)
    assert pg.input_value('input[name="display_name"]') == "Москва, центральный офис"
    _no_page_errors(log)


def test_the_peer_form_renders_with_every_warning_reported(fed: ab.AdminFederation,
                                                           page: tuple[Any, PageLog]) -> None:
    """With every error reported (Debian's default; a station leaves warnings out), PHP prints a warning into the
    page (display_errors is on in a station's php.ini): an empty note on a new peer must not raise one
    (Core's BaseForm::addTextArea without a placeholder runs a foreach over an empty string)."""
    pg, log = page
    a = fed.admin("moscow")
    pg.context.add_cookies([{"name": "pbxfed_error_reporting", "value": "E_ALL", "url": a.base_url}])
    response = pg.goto(a.url("modify"))
    assert response is not None and response.status == 200, response.status if response else None
    html = response.text()
    assert "foreach() argument" not in html and "Warning</b>:" not in html, \
        html[max(0, html.find("Warning") - 200):html.find("Warning") + 400]
    assert pg.locator('textarea[name="note"]').count() == 1
    _no_page_errors(log)
