"""Device states over the sync channel, the configuration side: pattern hints, no SIP publications for carried peers,
the route's down flag, and the worker's own AMI account as a module-owned row (issue 14)."""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

from python_worker.apply.amiuser import AMI_ACCOUNT_FILE, load_or_create_ami_account, read_ami_account
from python_worker.apply.reconciler import reconcile
from python_worker.core.config import DirectoryEntry, ModuleConfig, PeerConfig, RemoteDirectory, Settings
from python_worker.core.records import trunk_secrets
from python_worker.core.runtime import AmiAccount, Runtime
from python_worker.pipeline import compute
from tests.conftest import make_snapshot
from tests.unit.applyhelpers import SPB, RecordingReloader, make_station
from tests.unit.lint import lint, wrap_dialplan

SECRET = "s3cret-s3cret-s3cret"
KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
ACCOUNT = AmiAccount("ModulePbxFederation", "0123456789abcdef0123456789abcdef")
CARRY = Runtime.of(carries_states=True, ami=ACCOUNT)


def _config(*, paired: bool = True, patterns: str = "3XX", **extra: object) -> ModuleConfig:
    p = replace(PeerConfig("spb", "127.0.0.3", patterns=patterns, secret=SECRET, paired=paired, sync_port=7787,
                           public_key=KEY), **extra)  # type: ignore[arg-type]
    entries = tuple(sorted((DirectoryEntry("301", "Анна", "SIP"), DirectoryEntry("302", "", "SIP"),
                            DirectoryEntry("310", "Sales", "QUEUE"))))
    directory = RemoteDirectory("spb", "v1", "0.2.0", patterns, entries)
    return ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"), (p,), (directory,) if paired else ())


def test_carried_peer_gets_one_pattern_hint_and_no_publication_objects(tmp_path: Path) -> None:
    out = compute(make_snapshot(), _config(), CARRY)
    peer = out.plan.peers[0]
    u = peer.provider_id
    hex_ = u.removeprefix("SIP-TRUNK-")
    assert peer.carries_states and not peer.is_stock_blf
    assert out.hooks["extensionGenHints"] == f"exten => _3XX,hint,Custom:FED-{hex_}-${{EXTEN}}\n"
    assert peer.state_device("301") == f"Custom:FED-{hex_}-301"
    assert peer.hint_numbers == ("301", "302")  # what it may set: its phones, not its queue
    pj = out.hooks["generatePeersPj"]
    assert f"[{u}-FED-IN]" in pj and f"[{u}-FED-OUT]" in pj
    assert "outbound-publish" not in pj and "inbound-publication" not in pj and "asterisk-publication" not in pj
    ctx = out.hooks["extensionGenContexts"]
    assert (f"[{u}-outgoing-custom]\n"
            f"; ModulePbxFederation: while spb is known dead (its sync link), the route fails at once (the next route "
            f"is tried)\n"
            f'exten => _.!,1,ExecIf($["${{FED_DOWN_{hex_}}}" = "1"]?Set(DIAL_COMMAND=PJSIP/${{EXTEN}}@{u}-FED-DOWN))\n'
            "\tsame => n,Return()\n") in ctx
    assert lint(wrap_dialplan(out.hooks), tmp_path) == {}


def test_overlap_fix_still_marks_the_caller_of_a_carried_peer(tmp_path: Path) -> None:
    out = compute(make_snapshot(), _config(overlap_fix=True), CARRY)
    ctx = out.hooks["extensionGenContexts"]
    assert "\tsame => n,Set(CALLERID(num)=_${CALLERID(num)})\n\tsame => n,Return()\n" in ctx
    assert lint(wrap_dialplan(out.hooks), tmp_path) == {}


def test_a_fixed_number_pattern_names_its_device_directly() -> None:
    peer = compute(make_snapshot(), _config(patterns="301,31X"), CARRY).plan.peers[0]
    assert [h for h in peer.pattern_hints] == [("301", peer.state_device("301")),
                                               ("_31X", peer.state_device("${EXTEN}"))]


def test_hand_made_legacy_and_uncarried_peers_keep_sip_publications() -> None:
    for config, runtime in ((_config(paired=False), CARRY),  # declared by hand: no sync channel
                            (_config(), Runtime.of(carries_states=True, legacy_lamps=["spb"])),  # older worker there
                            (_config(), Runtime.of())):  # no worker carrying states here (e.g. `apply`)
        out = compute(make_snapshot(), config, runtime)
        peer = out.plan.peers[0]
        assert peer.is_stock_blf and not peer.carries_states
        assert "type = outbound-publish" in out.hooks["generatePeersPj"]
        assert "FED_DOWN" not in out.hooks["extensionGenContexts"]
        assert out.hooks["extensionGenHints"].startswith("exten => 30")  # one explicit hint per number


def test_ami_account_row_has_only_the_rights_the_worker_needs() -> None:
    records = compute(make_snapshot(), _config(), CARRY).records
    (row,) = records["ami_users"]
    assert row["username"] == "ModulePbxFederation" and row["secret"] == ACCOUNT.secret
    rights = {c: row[c] for c in ("call", "cdr", "originate", "reporting", "agent", "config", "dialplan", "dtmf",
                                  "log", "system", "command", "verbose", "user") if row[c]}
    assert rights == {"call": "readwrite", "system": "read", "reporting": "write"}
    assert row["networkfilterid"] == "localhost"  # Core 2026.1: permit 127.0.0.1 only
    assert row["eventfilter"] == "Event: ExtensionStatus\nEvent: ContactStatus"
    assert row["description"].startswith("ModulePbxFederation:")
    assert ACCOUNT.secret in trunk_secrets(records)  # masked in logs like the trunk secrets
    assert ACCOUNT.secret not in repr(ACCOUNT)
    assert compute(make_snapshot(), _config()).records["ami_users"] == []  # no account: no row


def test_on_2024_the_ami_account_is_limited_by_an_owned_filter() -> None:
    snap = replace(make_snapshot(), version="2024.1.114")
    records = compute(snap, _config(), CARRY).records
    (row,) = records["ami_users"]
    assert "networkfilterid" not in row and row["network_filter"] == "ModulePbxFederation: AMI from this station only"
    (flt,) = [f for f in records["network_filters"] if f["description"] == row["network_filter"]]
    assert flt["permit"] == "127.0.0.1/32" and flt["deny"] == "0.0.0.0/0"


def test_account_secret_is_made_once_and_kept_0600(tmp_path: Path) -> None:
    assert read_ami_account(tmp_path) is None
    a = load_or_create_ami_account(tmp_path)
    assert len(a.secret) == 32 and load_or_create_ami_account(tmp_path) == a == read_ami_account(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / AMI_ACCOUNT_FILE).st_mode) == 0o600


def _ami_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT username, call, system, reporting, networkfilterid, description "
                            "FROM m_AsteriskManagerUsers ORDER BY id").fetchall()
    finally:
        conn.close()


def test_applier_writes_the_account_row_reloads_manager_and_repairs_it(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1", peers=(replace(SPB, paired=True),))
    reloader = RecordingReloader()
    runtime = Runtime.of(carries_states=True, ami=ACCOUNT)
    assert reconcile(paths, reloader, runtime=runtime).result == "applied"
    assert "manager" in reloader.calls[-1]
    rows = _ami_rows(paths.mikopbx_db)
    assert [r[:5] for r in rows] == [("ModulePbxFederation", "readwrite", "read", "write", "localhost")]
    assert reconcile(paths, reloader, runtime=runtime).result == "unchanged"
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("UPDATE m_AsteriskManagerUsers SET system = 'readwrite' WHERE username = 'ModulePbxFederation'")
    conn.commit()
    conn.close()
    report = reconcile(paths, reloader, runtime=runtime)
    assert [(c.table, c.op, c.columns, c.drift) for c in report.changes] == [
        ("m_AsteriskManagerUsers", "update", ("system",), "edited")]
    assert reloader.calls[-1] == ("manager",)
    upsert_peer_disabled = replace(SPB, paired=True, enabled=False)
    from python_worker.db.moduledb import upsert_peer

    upsert_peer(paths.module_db, upsert_peer_disabled)
    assert reconcile(paths, reloader, runtime=runtime).result == "applied"
    assert _ami_rows(paths.mikopbx_db) == []  # no peer: no account


def test_admin_user_with_the_accounts_name_is_reported_and_left_alone(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1", peers=(replace(SPB, paired=True),))
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("INSERT INTO m_AsteriskManagerUsers(username, secret, call, description) "
                 "VALUES ('ModulePbxFederation', 'x', 'read', 'made by hand')")
    conn.commit()
    conn.close()
    report = reconcile(paths, RecordingReloader(), runtime=Runtime.of(carries_states=True, ami=ACCOUNT))
    assert report.result == "applied"
    assert [i.code for i in report.issues] == ["W_ADMIN_AMI_USER"]
    assert _ami_rows(paths.mikopbx_db) == [("ModulePbxFederation", "read", None, None, None, "made by hand")]
