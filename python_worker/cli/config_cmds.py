"""CLI commands that change the module's own configuration: init, peers add/set/remove/list/validate, settings."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from python_worker.cli.common import EXIT_FAILED, CliError, print_problems
from python_worker.core.config import PeerConfig, Settings, parse_switch, switch_or
from python_worker.core.planner import provider_id
from python_worker.core.validation import peer_problems, settings_problems
from python_worker.db.moduledb import init_db, peer_name_by_id, read_config, remove_peer, upsert_peer, write_settings
from python_worker.db.snapshot import read_snapshot
from python_worker.statedir import to_json

PEER_SWITCHES = ("blf", "transfers", "overlap_fix")
SETTINGS_SWITCHES = {"blf_default": True, "transfers_default": True, "overlap_fix_default": False}
# Fallback and transit fields as text, whole numbers and an optional whole number (issue #15)
PEER_TEXTS = ("fallback_provider", "fallback_prepend", "transit_patterns", "transit_provider", "transit_callerid",
              "via_patterns")
PEER_NUMBERS = ("fallback_trim",)
PEER_OPTIONAL_NUMBERS = ("transit_limit",)
SETTINGS_TEXTS = ("public_number", "public_prepend")
SETTINGS_NUMBERS = ("public_trim",)


def whole(value: object, default: int | None) -> int | None:
    """A form's or option's whole number: `default` when empty, -1 when not a whole number (validation refuses it
    and says which field)."""
    text = "" if value is None else str(value).strip()
    if not text:
        return default
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else -1


def _breakout_values(source: dict[str, object] | argparse.Namespace, *, partial: bool) -> dict[str, object]:
    """The fallback/transit values given (all of them from a form; only those given on a command line)."""
    get = source.get if isinstance(source, dict) else (lambda k, d=None: getattr(source, k, d))
    out: dict[str, object] = {}
    for key in PEER_TEXTS:
        value = get(key, None)
        if value is not None or not partial:
            out[key] = str(value or "").strip()
    for key in PEER_NUMBERS:
        value = get(key, None)
        if value is not None or not partial:
            out[key] = whole(value, 0)
    for key in PEER_OPTIONAL_NUMBERS:
        value = get(key, None)
        if value is not None or not partial:
            out[key] = whole(value, None)
    return out


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
    changes.update(_breakout_values(args, partial=True))
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
         "note": p.note, "has_secret": bool(p.secret),
         **{k: getattr(p, k) for k in (*PEER_TEXTS, *PEER_NUMBERS, *PEER_OPTIONAL_NUMBERS)}}
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
        **_breakout_values(data, partial=False),  # type: ignore[arg-type]
    )
    errors, warnings = peer_problems(read_snapshot(args.mikopbx_db), config, peer)
    sys.stdout.write(to_json({"ok": not errors, "problems": [p.to_json() for p in errors + warnings]}))
    return 0 if not errors else EXIT_FAILED


def cmd_settings_show(args: argparse.Namespace) -> int:
    s = read_config(args.module_db).settings
    sys.stdout.write(to_json({
        "station_name": s.station_name, "display_name": s.display_name, "own_patterns": s.own_patterns,
        "blf_default": s.blf_default, "transfers_default": s.transfers_default,
        "overlap_fix_default": s.overlap_fix_default, "public_number": s.public_number,
        "public_trim": s.public_trim, "public_prepend": s.public_prepend,
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
    for key in SETTINGS_TEXTS:
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key).strip()
    for key in SETTINGS_NUMBERS:
        if getattr(args, key) is not None:
            changes[key] = whole(getattr(args, key), 0)
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
        blf_default=switch_or(data.get("blf_default"), True),
        transfers_default=switch_or(data.get("transfers_default"), True),
        overlap_fix_default=switch_or(data.get("overlap_fix_default"), False),
        public_number=str(data.get("public_number") or "").strip(),
        public_trim=whole(data.get("public_trim"), 0) or 0,
        public_prepend=str(data.get("public_prepend") or "").strip(),
    )
    errors = settings_problems(read_snapshot(args.mikopbx_db), config, new)
    sys.stdout.write(to_json({"ok": not errors, "problems": [p.to_json() for p in errors]}))
    return 0 if not errors else EXIT_FAILED


def cmd_providers(args: argparse.Namespace) -> int:
    """This station's SIP providers and which of them may carry fallback or transit calls (the form's choices)."""
    snapshot = read_snapshot(args.mikopbx_db)
    peers = read_config(args.module_db).peers if args.module_db is not None and args.module_db.exists() else ()
    federation = {provider_id(p.name) for p in peers}
    rows = []
    for prov in snapshot.providers:
        is_federation = prov.is_owned or prov.uniqid in federation
        rows.append({"uniqid": prov.uniqid, "description": prov.description, "host": prov.host,
                     "registration_type": prov.registration_type, "disabled": prov.disabled,
                     "federation": is_federation,
                     "fallback": not is_federation and not prov.disabled,
                     "transit": not is_federation and not prov.disabled and prov.registration_type != "inbound"})
    if args.json:
        sys.stdout.write(to_json(rows))
    else:
        for r in rows:
            use = ",".join(k for k in ("fallback", "transit") if r[k]) or ("federation trunk" if r["federation"]
                                                                           else "-")
            print(f"{r['uniqid']:<28} {r['description'] or '-':<24} {r['host']:<20} {use}")
    return 0
