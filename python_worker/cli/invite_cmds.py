"""CLI commands of pairing: `invite create`, `invite accept`, `invite list`, and `sync-key` (show the public key)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

from python_worker.cli.common import EXIT_REFUSED, CliError, read_stdin
from python_worker.core.fields import HostError, ip_literal, parse_host
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


def _address(given: str | None, mikopbx_db: Path, option: str) -> str:
    """This station's address for peers, canonical (`--address`, else the external or LAN address)."""
    address = (given if given is not None else _default_address(mikopbx_db)).strip(" \t")
    if not address:
        raise CliError(f"no address to give the other station: pass {option}")
    try:
        return parse_host(address)
    except HostError:
        raise CliError(f"{option} must be an IPv4 or IPv6 address or a DNS name, not {address[:80]!r}") from None


def cmd_invite_create(args: argparse.Namespace) -> int:
    station = _station(args)
    directory = station.directory()
    address = _address(args.address, args.mikopbx_db, "--address")
    allow_from = ""
    if args.allow_from:
        allowed = ip_literal(args.allow_from.strip(" \t"))
        if allowed is None:
            raise CliError(f"--from must be the invited station's IP address, not {args.allow_from[:80]!r}")
        allow_from = str(allowed)
    try:
        inv = create_invitation(args.state_dir, directory.station, address, sip_port=station.sip_port(),
                                patterns=directory.patterns, sync_port=args.sync_port, ttl=args.ttl,
                                allow_from=allow_from)
    except InviteError as exc:
        return _refused(exc, args)
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
    if args.text not in (None, "-"):
        raise CliError("give the invitation on stdin or with --file (it holds a one-time secret, which must not be "
                       "in the command line)")
    if args.file:
        with args.file.open("rb") as fh:
            text = fh.read(8192).decode("utf-8", "replace")
    else:
        text = read_stdin("the invitation")
    try:
        inv = parse_invitation(text)
        address = _address(args.address, args.mikopbx_db, "--address")
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
