"""CLI commands that change the module's own configuration: init, peers add/set/remove/list/validate, settings."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from python_worker.cli.common import EXIT_FAILED, CliError, print_problems
from python_worker.core.config import PeerConfig, Settings, parse_switch, switch_or
from python_worker.core.validation import peer_problems, settings_problems
from python_worker.db.moduledb import init_db, peer_name_by_id, read_config, remove_peer, upsert_peer, write_settings
from python_worker.db.snapshot import read_snapshot
from python_worker.statedir import to_json

PEER_SWITCHES = ("blf", "transfers", "overlap_fix")
SETTINGS_SWITCHES = {"blf_default": True, "transfers_default": True, "overlap_fix_default": False}


def cmd_init(args: argparse.Namespace) -> int:
    init_db(args.module_db)
    print(f"module tables ready in {args.module_db}")
    return 0


def _peer_from_args(args: argparse.Namespace, base: PeerConfig | None) -> PeerConfig:
    peer = base or PeerConfig(name=args.name, host=args.host or "")
    changes: dict[str, object] = {}
    for key in ("host", "port", "transport", "patterns", "secret", "note"):
        value = getattr(args, key, None)
        if value is not None:
            changes[key] = value
    for key in (*PEER_SWITCHES, "enabled"):
        value = parse_switch(getattr(args, key, None))
        if value is not None:
            changes[key] = value
    return replace(peer, **changes)  # type: ignore[arg-type]


def _save_peer(args: argparse.Namespace, *, creating: bool) -> int:
    init_db(args.module_db)
    config = read_config(args.module_db)
    existing = next((p for p in config.peers if p.name.lower() == args.name.lower()), None)
    if creating and existing is not None:
        raise CliError(f"peer '{args.name}' already exists; use 'peers set'")
    if not creating and existing is None:
        raise CliError(f"no peer named '{args.name}'")
    peer = _peer_from_args(args, existing)
    errors, warnings = peer_problems(read_snapshot(args.mikopbx_db), config, peer)
    print_problems(warnings, args.lang)
    if errors:
        print_problems(errors, args.lang)
        raise CliError(f"peer '{peer.name}' not saved: {len(errors)} problem(s)")
    upsert_peer(args.module_db, peer)
    print(f"peer '{peer.name}' saved")
    return 0


def cmd_peers_add(args: argparse.Namespace) -> int:
    return _save_peer(args, creating=True)


def cmd_peers_set(args: argparse.Namespace) -> int:
    return _save_peer(args, creating=False)


def cmd_peers_remove(args: argparse.Namespace) -> int:
    if not remove_peer(args.module_db, args.name):
        raise CliError(f"no peer named '{args.name}'")
    print(f"peer '{args.name}' removed")
    return 0


def cmd_peers_list(args: argparse.Namespace) -> int:
    config = read_config(args.module_db)
    rows = [
        {"name": p.name, "host": p.host, "port": p.port, "transport": p.transport, "patterns": p.patterns,
         "enabled": p.enabled, "blf": p.blf, "transfers": p.transfers, "overlap_fix": p.overlap_fix,
         "note": p.note, "has_secret": bool(p.secret)}
        for p in config.peers
    ]
    if args.json:
        sys.stdout.write(to_json(rows))
    else:
        for r in rows:
            print(f"{r['name']:<16} {r['host']}:{r['port']}/{r['transport']} {r['patterns']}"
                  f"{'' if r['enabled'] else ' (disabled)'}")
    return 0


def _port(value: object) -> int:
    """The form's port field; anything that is not a whole number becomes 0, which validation refuses."""
    if value is None or value == "":
        return 5060
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def cmd_peers_validate(args: argparse.Namespace) -> int:
    """Validate a proposed peer given as JSON (what the admin form sends); prints JSON."""
    data = json.loads(args.proposed_json)
    init_db(args.module_db)
    config = read_config(args.module_db)
    if str(data.get("id", "")).isdigit():
        # Editing row `id`: the proposed values replace that row, whatever name it had.
        old_name = peer_name_by_id(args.module_db, int(data["id"]))
        if old_name is not None:
            config = replace(config, peers=tuple(p for p in config.peers if p.name.lower() != old_name.lower()))
    peer = PeerConfig(
        name=str(data.get("name", "")).strip(), host=str(data.get("host", "")).strip(),
        port=_port(data.get("port")), transport=str(data.get("transport") or "udp").lower(),
        patterns=str(data.get("patterns", "")), secret=str(data.get("secret", "")), enabled=True,
        note=str(data.get("note", "")), **{k: parse_switch(data.get(k)) for k in PEER_SWITCHES},  # type: ignore[arg-type]
    )
    errors, warnings = peer_problems(read_snapshot(args.mikopbx_db), config, peer)
    sys.stdout.write(to_json({"ok": not errors, "problems": [p.to_json() for p in errors + warnings]}))
    return 0 if not errors else EXIT_FAILED


def cmd_settings_show(args: argparse.Namespace) -> int:
    s = read_config(args.module_db).settings
    sys.stdout.write(to_json({
        "station_name": s.station_name, "display_name": s.display_name, "own_patterns": s.own_patterns,
        "blf_default": s.blf_default, "transfers_default": s.transfers_default,
        "overlap_fix_default": s.overlap_fix_default,
    }))
    return 0


def cmd_settings_set(args: argparse.Namespace) -> int:
    init_db(args.module_db)
    config = read_config(args.module_db)
    changes: dict[str, object] = {}
    for key in ("station_name", "display_name", "own_patterns"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    for key in SETTINGS_SWITCHES:
        value = parse_switch(getattr(args, key))
        if value is not None:
            changes[key] = value
    new = replace(config.settings, **changes)  # type: ignore[arg-type]
    station_errors = settings_problems(read_snapshot(args.mikopbx_db), config, new)
    if station_errors:
        print_problems(station_errors, args.lang)
        raise CliError("settings not saved")
    write_settings(args.module_db, new)
    print("settings saved")
    return 0


def cmd_settings_validate(args: argparse.Namespace) -> int:
    """Validate proposed station settings given as JSON (what the settings form sends); prints JSON."""
    data = json.loads(args.proposed_json)
    init_db(args.module_db)
    config = read_config(args.module_db)
    new = Settings(
        station_name=str(data.get("station_name", "")).strip(), display_name=str(data.get("display_name", "")),
        own_patterns=str(data.get("own_patterns", "")).strip(),
        **{k: switch_or(data.get(k), default) for k, default in SETTINGS_SWITCHES.items()},
    )
    errors = settings_problems(read_snapshot(args.mikopbx_db), config, new)
    sys.stdout.write(to_json({"ok": not errors, "problems": [p.to_json() for p in errors]}))
    return 0 if not errors else EXIT_FAILED
