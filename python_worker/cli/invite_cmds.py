"""CLI commands of pairing: `invite create`, `invite accept`, `invite list`, and `sync-key` (show the public key)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from python_worker.cli.common import EXIT_REFUSED
from python_worker.core.fields import is_ip_literal
from python_worker.core.problems import problem
from python_worker.db.moduledb import init_db
from python_worker.db.snapshot import read_snapshot
from python_worker.service.control import is_worker_running, request
from python_worker.statedir import to_json
from python_worker.sync.accept import accept_invitation
from python_worker.sync.pairing import (
    InviteError,
    create_invitation,
    list_invitations,
    load_or_create_keys,
    parse_invitation,
    write_invitation_file,
)
from python_worker.sync.station import FileStation


def _station(args: argparse.Namespace) -> FileStation:
    init_db(args.module_db)
    return FileStation(args.mikopbx_db, args.module_db)


def _default_address(mikopbx_db: Path) -> str:
    """The address peers reach us at: the external SIP address (Core's NAT settings), else the LAN address."""
    return read_snapshot(mikopbx_db).reachable_address


def _refused(exc: InviteError, args: argparse.Namespace) -> int:
    p = problem(exc.code, None, "invitation", **exc.params)
    if args.json:
        sys.stdout.write(to_json({"ok": False, "problems": [p.to_json()]}))
    print(f"error: {exc.code}: {p.message(args.lang)}", file=sys.stderr)
    return EXIT_REFUSED


def cmd_invite_create(args: argparse.Namespace) -> int:
    station = _station(args)
    directory = station.directory()
    address = args.address or _default_address(args.mikopbx_db)
    if not address:
        print("error: no address to give peers: pass --address", file=sys.stderr)
        return EXIT_REFUSED
    allow_from = (args.allow_from or "").strip()
    if allow_from and not is_ip_literal(allow_from):
        print(f"error: --from must be the invited station's IP address, not {allow_from!r}", file=sys.stderr)
        return EXIT_REFUSED
    inv = create_invitation(args.state_dir, directory.station, address, sip_port=station.sip_port(),
                            patterns=directory.patterns, sync_port=args.sync_port, ttl=args.ttl,
                            allow_from=allow_from)
    if allow_from and is_worker_running(args.state_dir):
        # the worker opens the sync port for that address now (and closes it once used or expired)
        with contextlib.suppress(Exception):
            request(args.state_dir, {"cmd": "reconcile"}, timeout=10.0)
    path = args.file or args.state_dir / f"invitation-{inv.id}.txt"
    write_invitation_file(path, inv)
    if args.json:
        sys.stdout.write(to_json({"ok": True, "invitation": inv.text(), "id": inv.id, "file": str(path),
                                  "expires": inv.expires, "station": inv.station, "host": inv.host,
                                  "sync_port": inv.sync_port, "worker_running": is_worker_running(args.state_dir)}))
        return 0
    print(inv.text())
    expires = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(inv.expires))
    print(f"invitation {inv.id} for {inv.station} at {inv.host}:{inv.sync_port}, valid until {expires}, "
          f"saved to {path}", file=sys.stderr)
    if not is_worker_running(args.state_dir):
        print("warning: the federation worker is not running here; it must run to answer the invitation",
              file=sys.stderr)
    return 0


def cmd_invite_accept(args: argparse.Namespace) -> int:
    text = args.file.read_text(encoding="utf-8") if args.file else (args.text or sys.stdin.read())
    try:
        inv = parse_invitation(text)
        address = args.address or _default_address(args.mikopbx_db)
        if not address:
            print("error: no address to give the peer: pass --address", file=sys.stderr)
            return EXIT_REFUSED
        peer = accept_invitation(inv, args.state_dir, _station(args), host=address, sync_port=args.sync_port,
                                 timeout=args.timeout)
    except InviteError as exc:
        return _refused(exc, args)
    if args.json:
        sys.stdout.write(to_json({"ok": True, "peer": {"name": peer.name, "host": peer.host, "port": peer.port,
                                                       "patterns": peer.patterns, "sync_port": peer.sync_port}}))
    else:
        print(f"paired with '{peer.name}' ({peer.host}, SIP port {peer.port}, patterns {peer.patterns})")
    return 0


def cmd_invite_list(args: argparse.Namespace) -> int:
    rows: dict[str, Any] = list_invitations(args.state_dir)
    now = time.time()
    for rec in rows.values():
        rec["state"] = "used" if rec.get("used") else ("expired" if float(rec["expires"]) < now else "pending")
    if args.json:
        sys.stdout.write(to_json(rows))
    else:
        for key, rec in sorted(rows.items()):
            print(f"{key} {rec['state']:<8} expires {time.strftime('%Y-%m-%d %H:%M', time.localtime(rec['expires']))}"
                  f"{' by ' + str(rec['used_by']) if rec.get('used_by') else ''}")
    return 0


def cmd_sync_key(args: argparse.Namespace) -> int:
    print(load_or_create_keys(args.state_dir).public)
    return 0
