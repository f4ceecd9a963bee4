"""Command line: `python -m python_worker <command>`; every command has --help."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from python_worker.cli.common import write_outputs
from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.problems import Problem
from python_worker.core.views import describe_plan
from python_worker.db.moduledb import init_db, peer_name_by_id, read_config, remove_peer, upsert_peer, write_settings
from python_worker.db.snapshot import read_snapshot
from python_worker.pipeline import Outputs, compute, compute_from_files
from python_worker.render.hooks import to_json

DEFAULT_MIKOPBX_DB = Path("/cf/conf/mikopbx.db")


class CliError(Exception):
    """A refused command: the message goes to stderr and the exit code is 2."""


def _lang(args: argparse.Namespace) -> str:
    return str(getattr(args, "lang", "en"))


def _add_dbs(p: argparse.ArgumentParser, *, mikopbx: bool = True) -> None:
    if mikopbx:
        p.add_argument("--mikopbx-db", type=Path, default=DEFAULT_MIKOPBX_DB, help="MikoPBX config DB")
    p.add_argument("--module-db", type=Path, required=True, help="the module's db/module.db")
    p.add_argument("--lang", default="en", help="language of messages: en or ru")


def _print_problems(problems: Sequence[Problem], lang: str, stream: object = sys.stderr) -> None:
    for p in problems:
        where = f"{p.peer}." if p.peer else "station."
        print(f"{p.severity.value.upper()} {p.code} [{where}{p.field}]: {p.message(lang)}", file=stream)  # type: ignore[call-overload]


def cmd_plan(args: argparse.Namespace) -> int:
    out = compute_from_files(args.mikopbx_db, args.module_db)
    if args.json:
        sys.stdout.write(to_json({"plan": plan_json(out), "problems": [p.to_json() for p in out.plan.problems]}))
    else:
        sys.stdout.write(describe_plan(out, _lang(args)))
    return 1 if out.plan.errors else 0


def plan_json(out: Outputs) -> dict[str, object]:
    plan = out.plan
    return {
        "station": plan.station_name,
        "entity_id": plan.entity_id,
        "own_patterns": list(plan.own_patterns),
        "disabled_peers": list(plan.disabled_peers),
        "peers": [
            {
                "name": p.name, "provider_id": p.provider_id, "host": p.host, "port": p.port,
                "transport": p.transport, "patterns": list(p.patterns), "blf": p.is_blf,
                "transfers": p.is_transfers, "overlap_fix": p.is_overlap_fix, "hints": len(p.hint_numbers),
            }
            for p in plan.peers
        ],
    }


def cmd_render(args: argparse.Namespace) -> int:
    out = compute_from_files(args.mikopbx_db, args.module_db)
    write_outputs(out, args.out)
    _print_problems(out.plan.problems, _lang(args))
    print(f"wrote {args.out / 'hooks.json'} and {args.out / 'records.json'}: {len(out.plan.peers)} peer(s)")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    init_db(args.module_db)
    print(f"module tables ready in {args.module_db}")
    return 0


def _switch(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def _peer_from_args(args: argparse.Namespace, base: PeerConfig | None) -> PeerConfig:
    peer = base or PeerConfig(name=args.name, host=args.host or "")
    changes: dict[str, object] = {}
    for key in ("host", "port", "transport", "patterns", "secret", "note"):
        value = getattr(args, key, None)
        if value is not None:
            changes[key] = value
    for key in ("blf", "transfers", "overlap_fix"):
        value = getattr(args, key, None)
        if value is not None:
            changes[key] = value == "on"
    if getattr(args, "enabled", None) is not None:
        changes["enabled"] = args.enabled == "on"
    return replace(peer, **changes)  # type: ignore[arg-type]


def check_proposed(mikopbx_db: Path, config: ModuleConfig, peer: PeerConfig) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) that saving `peer` would bring about, for this peer and station-wide."""
    proposed = config.with_peer(replace(peer, enabled=True))
    plan = compute(read_snapshot(mikopbx_db), proposed).plan
    mine = [p for p in plan.problems if p.peer is None or p.peer.lower() == peer.name.lower()]
    return [p for p in mine if p.is_error], [p for p in mine if not p.is_error]


def _save_peer(args: argparse.Namespace, *, creating: bool) -> int:
    init_db(args.module_db)
    config = read_config(args.module_db)
    existing = next((p for p in config.peers if p.name.lower() == args.name.lower()), None)
    if creating and existing is not None:
        raise CliError(f"peer '{args.name}' already exists; use 'peers set'")
    if not creating and existing is None:
        raise CliError(f"no peer named '{args.name}'")
    peer = _peer_from_args(args, existing)
    errors, warnings = check_proposed(args.mikopbx_db, config, peer)
    _print_problems(warnings, _lang(args))
    if errors:
        _print_problems(errors, _lang(args))
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
        patterns=str(data.get("patterns", "")), secret=str(data.get("secret", "")),
        enabled=True, blf=_opt(data.get("blf")), transfers=_opt(data.get("transfers")),
        overlap_fix=_opt(data.get("overlap_fix")), note=str(data.get("note", "")),
    )
    errors, warnings = check_proposed(args.mikopbx_db, config, peer)
    sys.stdout.write(to_json({"ok": not errors, "problems": [p.to_json() for p in errors + warnings]}))
    return 0 if not errors else 1


def _port(value: object) -> int:
    """The form's port field; anything that is not a whole number becomes 0, which validation refuses."""
    if value is None or value == "":
        return 5060
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def _opt(value: object) -> bool | None:
    if value is None or value == "":
        return None
    return str(value).lower() in ("1", "true", "on", "yes")


def cmd_settings_show(args: argparse.Namespace) -> int:
    s = read_config(args.module_db).settings
    sys.stdout.write(to_json({
        "station_name": s.station_name, "display_name": s.display_name, "own_patterns": s.own_patterns,
        "blf_default": s.blf_default, "transfers_default": s.transfers_default,
        "overlap_fix_default": s.overlap_fix_default,
    }))
    return 0


def check_settings(mikopbx_db: Path, config: ModuleConfig, settings: Settings) -> list[Problem]:
    """Station-wide errors that saving `settings` would bring about (peer problems are the peers' own)."""
    plan = compute(read_snapshot(mikopbx_db), replace(config, settings=settings)).plan
    return [p for p in plan.problems if p.is_error and p.peer is None]


def cmd_settings_set(args: argparse.Namespace) -> int:
    init_db(args.module_db)
    config = read_config(args.module_db)
    s = config.settings
    changes: dict[str, object] = {}
    for key in ("station_name", "display_name", "own_patterns"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    for key in ("blf_default", "transfers_default", "overlap_fix_default"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key) == "on"
    new = replace(s, **changes)  # type: ignore[arg-type]
    station_errors = check_settings(args.mikopbx_db, config, new)
    if station_errors:
        _print_problems(station_errors, _lang(args))
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
        blf_default=_opt(data.get("blf_default")) is not False,
        transfers_default=_opt(data.get("transfers_default")) is not False,
        overlap_fix_default=_opt(data.get("overlap_fix_default")) is True,
    )
    errors = check_settings(args.mikopbx_db, config, new)
    sys.stdout.write(to_json({"ok": not errors, "problems": [p.to_json() for p in errors]}))
    return 0 if not errors else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from python_worker.demo.example import run_demo

    sys.stdout.write(run_demo(args.out, three=args.three, lang=_lang(args)))
    return 0


def _on_off(p: argparse.ArgumentParser, name: str, help_text: str) -> None:
    dest = name.replace("-", "_")
    g = p.add_mutually_exclusive_group()
    g.add_argument(f"--{name}", dest=dest, action="store_const", const="on", help=help_text)
    g.add_argument(f"--no-{name}", dest=dest, action="store_const", const="off", help=f"turn off: {help_text}")


def _add_form_validation(group: Any, what: str, func: Callable[[argparse.Namespace], int]) -> None:
    """`<group> validate [--json] JSON`: what an admin form proposes, checked as the worker will plan it."""
    p = group.add_parser("validate", help=f"validate {what} given as JSON; prints JSON")
    _add_dbs(p)
    p.add_argument("--json", action="store_true", help="(output is always JSON)")
    p.add_argument("proposed_json")
    p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m python_worker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="show problems and the plan in words (or JSON)")
    _add_dbs(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("render", help="write hooks.json and records.json")
    _add_dbs(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("init", help="create the module's tables when missing")
    p.add_argument("--module-db", type=Path, required=True)
    p.set_defaults(func=cmd_init)

    peers = sub.add_parser("peers", help="manage peer stations").add_subparsers(dest="peers_cmd", required=True)
    for verb, func in (("add", cmd_peers_add), ("set", cmd_peers_set)):
        p = peers.add_parser(verb, help=f"{verb} a peer (validated like the admin form)")
        _add_dbs(p)
        p.add_argument("--name", required=True)
        p.add_argument("--host", required=verb == "add")
        p.add_argument("--port", type=int, default=5060 if verb == "add" else None)
        p.add_argument("--transport", default="udp" if verb == "add" else None)
        p.add_argument("--patterns", required=verb == "add", help="e.g. 3XX or 3XX,4XXX")
        p.add_argument("--secret", required=verb == "add")
        p.add_argument("--note", default=None)
        _on_off(p, "enabled", "the peer is configured")
        _on_off(p, "blf", "share busy lamps")
        _on_off(p, "transfers", "allow transfers to the peer")
        _on_off(p, "overlap-fix", "prefix '_' on caller numbers sent to the peer")
        p.set_defaults(func=func)
    p = peers.add_parser("remove", help="remove a peer")
    p.add_argument("--module-db", type=Path, required=True)
    p.add_argument("name")
    p.set_defaults(func=cmd_peers_remove)
    p = peers.add_parser("list", help="list peers (secrets are never printed)")
    p.add_argument("--module-db", type=Path, required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_peers_list)
    _add_form_validation(peers, "a proposed peer", cmd_peers_validate)

    settings = sub.add_parser("settings", help="this station's own settings").add_subparsers(
        dest="settings_cmd", required=True)
    p = settings.add_parser("show")
    p.add_argument("--module-db", type=Path, required=True)
    p.set_defaults(func=cmd_settings_show)
    p = settings.add_parser("set")
    _add_dbs(p)
    p.add_argument("--station-name")
    p.add_argument("--display-name")
    p.add_argument("--own-patterns", help="empty string = derive from local extensions")
    _on_off(p, "blf-default", "share busy lamps by default")
    _on_off(p, "transfers-default", "allow transfers by default")
    _on_off(p, "overlap-fix-default", "overlap fix by default")
    p.set_defaults(func=cmd_settings_set)
    _add_form_validation(settings, "proposed station settings", cmd_settings_validate)

    p = sub.add_parser("demo", help="build the two-station example (Moscow 2XX, St Petersburg 3XX) and render it")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.add_argument("--three", action="store_true", help="add a third station (4XX)")
    p.add_argument("--lang", default="en")
    p.set_defaults(func=cmd_demo)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[Any], None]]:
    """Commands that live in other modules (worker, apply, sync); each module adds its own parsers."""
    from python_worker.cli import apply_cmds as applycli
    from python_worker.cli import invite_cmds as synccli

    registers: list[Callable[[Any], None]] = [applycli.register, synccli.register]
    return registers


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
