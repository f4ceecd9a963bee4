"""CLI commands that change the module's own configuration: init, peers add/set/remove/list/validate, settings;
and `providers`, the station's providers a peer's fallback or transit may use.

Values go through the same boundary as the admin form (core/inputs.py) and the same "may this be saved?"
(core/validation.py). Secrets never come from the command line (visible to every user in `ps`): `--secret-file
FILE` or `--secret -` (stdin); the form's JSON comes on stdin too.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from python_worker.cli.common import (
    EXIT_FAILED,
    EXIT_UNAVAILABLE,
    CliError,
    print_problems,
    read_secret,
    read_stdin,
)
from python_worker.core.inputs import (
    PEER_BREAKOUT_TEXTS,
    PEER_COUNTS,
    PEER_FORM_FIELDS,
    PEER_SWITCHES,
    SETTINGS_FORM_FIELDS,
    InputError,
    form_object,
    peer_from_form,
    row_id,
    settings_from_form,
    switch_value,
)
from python_worker.core.planner import provider_id
from python_worker.core.problems import Problem, problem
from python_worker.core.validation import peer_problems, settings_problems, settings_warnings
from python_worker.db.engine import DatabaseBusy, DatabaseError
from python_worker.db.moduledb import init_db, peer_name_by_id, read_config, remove_peer, upsert_peer, write_settings
from python_worker.db.snapshot import read_snapshot
from python_worker.statedir import to_json

ARGV_SECRET = ("a secret on the command line is visible to every user of this machine (ps): give "
               "--secret-file FILE, or --secret - and the secret on stdin")


def cmd_init(args: argparse.Namespace) -> int:
    init_db(args.module_db)
    print(f"module tables ready in {args.module_db}")
    return 0


def _secret(args: argparse.Namespace) -> str | None:
    if getattr(args, "secret", None) is not None and args.secret != "-":
        raise CliError(ARGV_SECRET)
    if args.secret == "-" and args.secret_file not in (None, "-"):
        raise CliError("give --secret - or --secret-file, not both")
    source = "-" if args.secret == "-" else args.secret_file
    return None if source is None else read_secret(source)


def _peer_values(args: argparse.Namespace, creating: bool) -> dict[str, Any]:
    """The options given, as the form would send them."""
    values: dict[str, Any] = {"name": args.name}
    for key in ("host", "port", "transport", "patterns", "note"):
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    secret = _secret(args)
    if secret is not None:
        values["secret"] = secret
    elif creating:
        raise CliError("a new peer needs its trunk secret: --secret-file FILE, or --secret - and stdin")
    for key in (*PEER_SWITCHES, "enabled", *PEER_BREAKOUT_TEXTS, *PEER_COUNTS):
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    return values


def _save_peer(args: argparse.Namespace, *, creating: bool) -> int:
    values = _peer_values(args, creating)
    init_db(args.module_db)
    config = read_config(args.module_db)
    existing = config.peer(args.name)
    if creating and existing is not None:
        raise CliError(f"peer '{existing.name}' already exists; use 'peers set'")
    if not creating and existing is None:
        raise CliError(f"no peer named '{args.name}'")
    if not creating:
        values.pop("name")
    peer = peer_from_form(values, existing)
    errors, warnings = peer_problems(read_snapshot(args.mikopbx_db), config, peer, is_new=creating,
                                     confirm=args.confirm)
    print_problems(warnings, args.lang)
    if errors:
        print_problems(errors, args.lang)
        raise CliError(f"peer '{args.name}' not saved: {len(errors)} problem(s)")
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
         **{k: getattr(p, k) for k in (*PEER_BREAKOUT_TEXTS, *PEER_COUNTS)}}
        for p in config.peers
    ]
    if args.json:
        sys.stdout.write(to_json(rows))
    else:
        for r in rows:
            print(json.dumps(r["name"])[1:-1].ljust(16), f"{r['host']}:{r['port']}/{r['transport']}",
                  json.dumps(r["patterns"])[1:-1] + ("" if r["enabled"] else " (disabled)"))
    return 0


def _form(args: argparse.Namespace) -> dict[str, Any]:
    """The form's JSON: from stdin (it may hold the trunk secret, which must not be in argv)."""
    if args.proposed_json not in (None, "-"):
        raise CliError("give the form's JSON on stdin (it may hold a secret, which must not be in the command line)")
    try:
        text = read_stdin("the form's JSON")
    except CliError as exc:  # the form gets its answer as JSON, like every other refusal
        raise InputError([problem("E_VALUE_INVALID", None, "json", detail="json", reason=str(exc))]) from None
    return form_object(text)


def _answer(problems: list[Problem], ok: bool, code: int = EXIT_FAILED) -> int:
    sys.stdout.write(to_json({"ok": ok, "problems": [p.to_json() for p in problems]}))
    return 0 if ok else code


def _db_answer(exc: DatabaseError) -> int:
    """A damaged or locked database, answered to the form as JSON like any other problem."""
    which = problem(exc.code, None, "database", detail=exc.path.name, reason=exc.reason, limit=f"{exc.waited:g}")
    return _answer([which], False, EXIT_UNAVAILABLE if isinstance(exc, DatabaseBusy) else EXIT_FAILED)


def cmd_peers_validate(args: argparse.Namespace) -> int:
    """Validate a proposed peer given as JSON on stdin (what the admin form sends); prints JSON."""
    try:
        data = _form(args)
        editing = row_id(data)
        confirm = switch_value(data.get("confirm"), "confirm") or False
        init_db(args.module_db)
        config = read_config(args.module_db)
        if editing is not None:
            # Editing row `id`: the proposed values replace that row, whatever name it had.
            old_name = peer_name_by_id(args.module_db, editing)
            if old_name is not None:
                old = config.peer(old_name)
                config = replace(config, peers=tuple(p for p in config.peers if p is not old))
        peer = replace(peer_from_form({k: data.get(k) for k in PEER_FORM_FIELDS}), enabled=True)
        # New or edited, the row is compared with every *other* row (the edited one is out of `config` already):
        # a name that folds to another peer's is a duplicate, never a silent replacement of that peer.
        errors, warnings = peer_problems(read_snapshot(args.mikopbx_db), config, peer, is_new=True, confirm=confirm)
    except InputError as exc:
        return _answer(exc.problems, False)
    except DatabaseError as exc:
        return _db_answer(exc)
    return _answer(errors + warnings, not errors)


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
    values: dict[str, Any] = {k: getattr(args, k) for k in SETTINGS_FORM_FIELDS if getattr(args, k, None) is not None}
    init_db(args.module_db)
    config = read_config(args.module_db)
    new = settings_from_form(values, config.settings)
    snapshot = read_snapshot(args.mikopbx_db)
    station_errors = settings_problems(snapshot, config, new, confirm=args.confirm)
    if station_errors:
        print_problems(station_errors, args.lang)
        raise CliError("settings not saved")
    if args.confirm:
        print_problems(settings_warnings(snapshot, config, new), args.lang)
    write_settings(args.module_db, new)
    print("settings saved")
    return 0


def cmd_settings_validate(args: argparse.Namespace) -> int:
    """Validate proposed station settings given as JSON on stdin (what the settings form sends); prints JSON."""
    try:
        data = _form(args)
        confirm = switch_value(data.get("confirm"), "confirm") or False
        new = settings_from_form({k: data.get(k) for k in SETTINGS_FORM_FIELDS})
        init_db(args.module_db)
        config = read_config(args.module_db)
        errors = settings_problems(read_snapshot(args.mikopbx_db), config, new, confirm=confirm)
    except InputError as exc:
        return _answer(exc.problems, False)
    except DatabaseError as exc:
        return _db_answer(exc)
    return _answer(errors, not errors)


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
            # mikopbx.db's texts are shown escaped (one provider, one line, whatever its description holds)
            uniqid, description, host = (json.dumps(str(r[k]))[1:-1] for k in ("uniqid", "description", "host"))
            print(f"{uniqid:<28} {description or '-':<24} {host:<20} {use}")
    return 0
