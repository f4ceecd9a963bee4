"""CLI commands of pairing: `invite create`, `invite accept`, `invite list`, and `sync-key` (show the public key)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from python_worker import SYNC_PORT
from python_worker.core.config import is_ip_literal
from python_worker.core.problems import problem
from python_worker.db.moduledb import init_db
from python_worker.db.snapshot import read_snapshot
from python_worker.render.hooks import to_json
from python_worker.service.control import is_worker_running, request
from python_worker.sync.pairing import (
    DEFAULT_TTL,
    InviteError,
    create_invitation,
    list_invitations,
    load_or_create_keys,
    parse_invitation,
    write_invitation_file,
)
from python_worker.sync.service import FileStation, accept_invitation

DEFAULT_MIKOPBX_DB = Path("/cf/conf/mikopbx.db")
DEFAULT_STATE_DIR = Path("/storage/usbdisk1/mikopbx/custom_modules/ModulePbxFederation/db/state")
EXIT_REFUSED = 2


def _station(args: argparse.Namespace) -> FileStation:
    init_db(args.module_db)
    return FileStation(args.mikopbx_db, args.module_db)


def _default_address(mikopbx_db: Path) -> str:
    """The address peers reach us at: the external SIP address, else the first LAN address."""
    snap = read_snapshot(mikopbx_db)
    return next((a for a in snap.own_addresses if a), "")


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


def _common(p: argparse.ArgumentParser, *, dbs: bool = True) -> None:
    if dbs:
        p.add_argument("--mikopbx-db", type=Path, default=DEFAULT_MIKOPBX_DB, help="MikoPBX config DB")
        p.add_argument("--module-db", type=Path, required=True, help="the module's db/module.db")
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="holds the key pair and invitations")
    p.add_argument("--json", action="store_true")
    p.add_argument("--lang", default="en", help="language of messages: en or ru")


def register(sub: Any) -> None:
    """Add `invite create|accept|list` and `sync-key` to the CLI's subparsers."""
    invite = sub.add_parser("invite", help="pair stations: create or accept an invitation").add_subparsers(
        dest="invite_cmd", required=True)
    p = invite.add_parser("create", help="print a one-time invitation for another station (and save it as a file)")
    _common(p)
    p.add_argument("--address", help="the address peers reach this station at (default: external or LAN IP)")
    p.add_argument("--sync-port", type=int, default=SYNC_PORT, help="this station's sync port")
    p.add_argument("--ttl", type=float, default=DEFAULT_TTL, help="seconds the invitation stays valid")
    p.add_argument("--from", dest="allow_from", metavar="ADDRESS",
                   help="the invited station's IP: the firewall lets it reach the sync port until the invitation "
                        "is used or expires (the port is otherwise open only to paired peers)")
    p.add_argument("--file", type=Path, help="where to save it (default: <state-dir>/invitation-<id>.txt)")
    p.set_defaults(func=cmd_invite_create)

    p = invite.add_parser("accept", help="pair with the station that made the invitation")
    _common(p)
    p.add_argument("text", nargs="?", help="the invitation text (or --file, or stdin)")
    p.add_argument("--file", type=Path, help="read the invitation from this file")
    p.add_argument("--address", help="the address the other station reaches this one at")
    p.add_argument("--sync-port", type=int, default=SYNC_PORT, help="this station's sync port")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the other station")
    p.set_defaults(func=cmd_invite_accept)

    p = invite.add_parser("list", help="invitations made here: pending, used, expired (no secrets)")
    _common(p, dbs=False)
    p.set_defaults(func=cmd_invite_list)

    p = sub.add_parser("sync-key", help="print this station's public sync key (created at first use)")
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    p.set_defaults(func=cmd_sync_key)
