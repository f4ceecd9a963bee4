"""The sync port opens only for paired peers: an owned m_FirewallRules row on the peer's own network filter."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from python_worker.apply.reconciler import ApplyOptions, Paths, reconcile
from python_worker.core.runtime import Runtime
from python_worker.db.moduledb import upsert_peer
from python_worker.service.worker import Worker, WorkerOptions
from python_worker.sync.pairing import InvitationBook, create_invitation, pairing_sources
from tests.unit.applyhelpers import REPO, SPB, RecordingReloader, make_station, wait_until, worker_env


def rules(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT r.protocol, r.portfrom, r.portto, r.action, r.category, f.permit, r.description "
            "FROM m_FirewallRules r LEFT JOIN m_NetworkFilters f ON f.id = r.networkfilterid "
            "WHERE r.description LIKE 'ModulePbxFederation:%' ORDER BY r.id").fetchall()
    finally:
        conn.close()


EXPECTED = [("tcp", "7787", "7787", "allow", "MODULEPBXFEDERATION", "127.0.0.3/32",
             "ModulePbxFederation: peer spb sync")]


def test_hand_made_peer_gets_no_sync_rule_paired_peer_does(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reloader = RecordingReloader()
    assert reconcile(paths, reloader, runtime=_pending(paths)).result == "applied"
    assert rules(paths.mikopbx_db) == []

    upsert_peer(paths.module_db, replace(SPB, paired=True))
    report = reconcile(paths, reloader)
    assert report.result == "applied", report.summary()
    assert rules(paths.mikopbx_db) == EXPECTED
    assert reloader.calls[-1] == ("firewall",)
    assert reconcile(paths, reloader).result == "unchanged"

    upsert_peer(paths.module_db, replace(SPB, paired=False))
    assert reconcile(paths, reloader, runtime=_pending(paths)).result == "applied"
    assert rules(paths.mikopbx_db) == []


def test_deleted_rule_and_moved_filter_are_repaired(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "reference", peers=(replace(SPB, paired=True),))
    assert reconcile(paths, RecordingReloader()).result == "applied"
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("UPDATE m_FirewallRules SET networkfilterid = 4 WHERE description LIKE 'ModulePbxFederation:%'")
    conn.commit()
    conn.close()
    report = reconcile(paths, RecordingReloader())
    assert [(c.table, c.op, c.columns, c.drift) for c in report.changes] == [
        ("m_FirewallRules", "update", ("networkfilterid",), "edited")]
    assert rules(paths.mikopbx_db) == EXPECTED
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("DELETE FROM m_FirewallRules WHERE description LIKE 'ModulePbxFederation:%'")
    conn.commit()
    conn.close()
    assert reconcile(paths, RecordingReloader()).result == "applied"
    assert rules(paths.mikopbx_db) == EXPECTED


def test_admin_filter_for_the_address_governs_and_gets_no_rule_from_us(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1", peers=(replace(SPB, paired=True),))
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("INSERT INTO m_NetworkFilters(permit, deny, newer_block_ip, local_network, description) "
                 "VALUES ('127.0.0.3/32', '0.0.0.0/0', '0', '0', 'spb office')")
    conn.commit()
    conn.close()
    report = reconcile(paths, RecordingReloader())
    assert report.result == "applied", report.summary()
    assert rules(paths.mikopbx_db) == []
    assert [i.code for i in report.issues] == ["W_ADMIN_FILTER_SAME_ADDRESS"]


def invitation_rules(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT f.permit, f.newer_block_ip, r.portfrom, r.action, r.category FROM m_FirewallRules r "
            "JOIN m_NetworkFilters f ON f.id = r.networkfilterid "
            "WHERE r.description LIKE 'ModulePbxFederation: invitation %'").fetchall()
    finally:
        conn.close()


def _pending(paths: Paths) -> Runtime:
    """What the worker (or `apply`) hands the reconcile: the pending invitations made for an address."""
    return Runtime.of(pairing_sources=pairing_sources(paths.state_dir))


def test_pending_invitation_opens_the_port_for_its_address_until_used_or_expired(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    reloader = RecordingReloader()
    now = time.time()
    used = create_invitation(paths.state_dir, "moscow", "127.0.0.2", sip_port=5060, patterns="2XX",
                             allow_from="127.0.0.9", now=now)
    create_invitation(paths.state_dir, "moscow", "127.0.0.2", sip_port=5060, patterns="2XX",
                      allow_from="127.0.0.10", ttl=1.0, now=now - 5)  # already expired
    create_invitation(paths.state_dir, "moscow", "127.0.0.2", sip_port=5060, patterns="2XX")  # no address
    report = reconcile(paths, reloader, runtime=_pending(paths))
    assert report.result == "applied", report.summary()
    assert invitation_rules(paths.mikopbx_db) == [("127.0.0.9/32", "0", "7787", "allow", "MODULEPBXFEDERATION")]
    assert "firewall" in reloader.calls[-1]

    assert InvitationBook(paths.state_dir).consume(used.id, "spb")
    assert reconcile(paths, reloader, runtime=_pending(paths)).result == "applied"
    assert invitation_rules(paths.mikopbx_db) == []


def test_invite_from_must_be_an_ip_address(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    proc = subprocess.run([sys.executable, "-m", "python_worker", "invite", "create", "--module-db",
                           str(paths.module_db), "--mikopbx-db", str(paths.mikopbx_db), "--state-dir",
                           str(paths.state_dir), "--address", "127.0.0.2", "--from", "spb.example"],
                          capture_output=True, text=True, timeout=60, env=worker_env(), cwd=REPO, check=False)
    assert proc.returncode == 2 and "--from must be the invited station's IP address" in proc.stderr


def test_invite_create_offers_the_external_address_by_default(tmp_path: Path) -> None:
    """Without --address the invitation names the station's external SIP address (Core's NAT setting), not the
    first of its addresses in text order (here the LAN 127.0.0.2 sorts before the external 127.0.0.30)."""
    paths = make_station(tmp_path, "2026.1")
    conn = sqlite3.connect(paths.mikopbx_db)
    conn.execute("UPDATE m_PbxSettings SET value = '127.0.0.30' WHERE key = 'ExternalSipIpAddr'")
    conn.commit()
    conn.close()
    proc = subprocess.run([sys.executable, "-m", "python_worker", "invite", "create", "--module-db",
                           str(paths.module_db), "--mikopbx-db", str(paths.mikopbx_db), "--state-dir",
                           str(paths.state_dir), "--json"],
                          capture_output=True, text=True, timeout=60, env=worker_env(), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["host"] == "127.0.0.30"


def test_running_worker_opens_then_closes_the_port_when_the_invitation_expires(tmp_path: Path) -> None:
    paths = make_station(tmp_path, "2026.1")
    worker = Worker(paths, RecordingReloader(), ApplyOptions(), WorkerOptions(debounce=0.05, resync=3600))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.last is not None, 10, "the first apply")
        create_invitation(paths.state_dir, "moscow", "127.0.0.2", sip_port=5060, patterns="2XX",
                          allow_from="127.0.0.9", ttl=2.0)
        worker.request_reconcile(5.0)  # what `invite create --from` asks a running worker
        assert invitation_rules(paths.mikopbx_db) != []
        # nothing else happens: the worker wakes up at the expiry on its own (resync is an hour away)
        wait_until(lambda: invitation_rules(paths.mikopbx_db) == [], 10, "the port closed at the expiry")
    finally:
        worker.stop()
        thread.join(10)
    assert not thread.is_alive()

