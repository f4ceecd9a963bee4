"""The worker's command line, in one place: every command, its options and its defaults.

Only argparse here: each command names its handler as "module:function", imported when the command runs, so
light commands (`status`, `reconcile`, `check-peer`) never load the engine. On a box (`bin/pbxfed` sets
PBXFED_MODULE_DIR) the locations and the Asterisk commands default to the box's (python_worker/box.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from python_worker import box
from python_worker.core.fields import ascii_int, finite_number

TARGETS = ("pjsip", "dialplan", "firewall", "manager")  # what --reload-<target>-cmd may name (apply/reloads.py)
_CMDS = "python_worker.cli."


def port(text: str) -> int:
    """A port option: ASCII digits from 1 to 65535 (int() would also take '٥٠٦٠' or ' 5060')."""
    number = ascii_int(text)
    if number is None or not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 1 to 65535")
    return number


def seconds(low: float, high: float) -> Any:
    """A number-of-seconds option within [low, high]: finite, in ASCII digits ('inf', 'nan', '1e9' are refused)."""
    def parse(text: str) -> float:
        number = finite_number(text, low, high)
        if number is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from {low:g} to {high:g}")
        return number

    parse.__name__ = "seconds"
    return parse


def _box_default(kind: str) -> Path | None:
    base = box.module_dir()
    if base is None:
        return None
    return {"module_db": box.module_db(base), "state_dir": box.state_dir(base)}[kind]


def _locations(p: argparse.ArgumentParser, *, mikopbx: bool = True, module_db: bool = True,
               state_dir: bool = False, module_db_required: bool = True) -> None:
    if mikopbx:
        p.add_argument("--mikopbx-db", type=Path, default=box.MIKOPBX_DB, help="MikoPBX config DB")
    if module_db:
        default = _box_default("module_db")
        p.add_argument("--module-db", type=Path, default=default, required=module_db_required and default is None,
                       help="the module's db/module.db")
    if state_dir:
        default = _box_default("state_dir")
        p.add_argument("--state-dir", type=Path, default=default, required=default is None,
                       help="where hooks.json, records.json, status.json, keys and logs live")


def _lang(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", default="en", help="language of messages: en or ru")


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def _on_off(p: argparse.ArgumentParser, name: str, help_text: str) -> None:
    dest = name.replace("-", "_")
    g = p.add_mutually_exclusive_group()
    g.add_argument(f"--{name}", dest=dest, action="store_const", const="on", help=help_text)
    g.add_argument(f"--no-{name}", dest=dest, action="store_const", const="off", help=f"turn off: {help_text}")


def _handler(p: argparse.ArgumentParser, name: str) -> None:
    p.set_defaults(handler=_CMDS + name)


def _reload(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reloading (see python_worker/apply/system.py for the scheme)")
    g.add_argument("--reload-cmd", default="php-core" if box.module_dir() else None,
                   help="'php-core' (MikoPBX: Lib/ReloadCore.php) or a command template; "
                   "'{what}' is replaced by pjsip|dialplan|firewall|manager, else the words are appended")
    for target in TARGETS:
        g.add_argument(f"--reload-{target}-cmd", help=f"command that reloads {target} (overrides --reload-cmd)")
    g.add_argument("--no-reload", action="store_true", help="change records and files only")
    g.add_argument("--reload-timeout", type=seconds(1, 3600), default=60.0)
    g.add_argument("--module-dir", type=Path, default=box.module_dir(),
                   help="module directory for php-core (default: module DB's ../..)")


def _applying(p: argparse.ArgumentParser, *, module_db_required: bool = True) -> None:
    _locations(p, state_dir=True, module_db_required=module_db_required)
    p.add_argument("--busy-timeout", type=seconds(0, 3600), default=10.0, help="seconds to retry a locked mikopbx.db")
    p.add_argument("--verbose", action="store_true")
    _reload(p)


def _config_commands(sub: Any) -> None:
    p = sub.add_parser("init", help="create the module's tables when missing")
    _locations(p, mikopbx=False)
    _handler(p, "config_cmds:cmd_init")

    peers = sub.add_parser("peers", help="manage peer stations").add_subparsers(dest="peers_cmd", required=True)
    for verb in ("add", "set"):
        p = peers.add_parser(verb, help=f"{verb} a peer (validated like the admin form)")
        _locations(p)
        _lang(p)
        p.add_argument("--name", required=True)
        p.add_argument("--host", required=verb == "add")
        p.add_argument("--port", type=port, default=5060 if verb == "add" else None)
        p.add_argument("--transport", default="udp" if verb == "add" else None)
        p.add_argument("--patterns", required=verb == "add", help="e.g. 3XX or 3XX,4XXX")
        p.add_argument("--secret-file", metavar="FILE",
                       help="read the trunk secret from FILE ('-': stdin); never give it in the command line")
        p.add_argument("--secret", metavar="-", help="'-': read the trunk secret from stdin (a secret written "
                       "here would be visible to every user in ps, and is refused)")
        p.add_argument("--note", default=None)
        p.add_argument("--confirm", action="store_true",
                       help="save even if the change takes another working peer out of the plan")
        _on_off(p, "enabled", "the peer is configured")
        _on_off(p, "blf", "share busy lamps")
        _on_off(p, "transfers", "allow transfers to the peer")
        _on_off(p, "overlap-fix", "prefix '_' on caller numbers sent to the peer")
        g = p.add_argument_group("PSTN fallback and transit ('' clears a value; `providers` lists the provider ids)")
        g.add_argument("--fallback-provider", help="our provider that carries calls to the peer when it is down")
        g.add_argument("--fallback-trim", help="digits cut from the start of the number (like a route's trim)")
        g.add_argument("--fallback-prepend", help="digits put in front, e.g. 78125550")
        g.add_argument("--transit-patterns", help="numbers the peer may call out through us, e.g. 8495XXXXXXX")
        g.add_argument("--transit-provider", help="our provider those calls leave through")
        g.add_argument("--transit-limit", help="at most this many transit calls of the peer at a time ('' = no cap)")
        g.add_argument("--transit-callerid", help="caller number shown to the public network (default: ours)")
        g.add_argument("--via-patterns", help="numbers we call out through the peer (its grant; synced when paired)")
        _handler(p, f"config_cmds:cmd_peers_{verb}")
    p = peers.add_parser("remove", help="remove a peer")
    _locations(p, mikopbx=False)
    p.add_argument("name")
    _handler(p, "config_cmds:cmd_peers_remove")
    p = peers.add_parser("list", help="list peers (secrets are never printed)")
    _locations(p, mikopbx=False)
    _json(p)
    _handler(p, "config_cmds:cmd_peers_list")
    _form_validation(peers, "a proposed peer", "config_cmds:cmd_peers_validate")

    settings = sub.add_parser("settings", help="this station's own settings").add_subparsers(
        dest="settings_cmd", required=True)
    p = settings.add_parser("show")
    _locations(p, mikopbx=False)
    _handler(p, "config_cmds:cmd_settings_show")
    p = settings.add_parser("set")
    _locations(p)
    _lang(p)
    p.add_argument("--station-name")
    p.add_argument("--display-name")
    p.add_argument("--own-patterns", help="empty string = derive from local extensions")
    _on_off(p, "blf-default", "share busy lamps by default")
    _on_off(p, "transfers-default", "allow transfers by default")
    _on_off(p, "overlap-fix-default", "overlap fix by default")
    p.add_argument("--public-number", help="this station's public number (caller number of transit calls)")
    p.add_argument("--public-trim", help="digits cut from an extension to make its public number")
    p.add_argument("--public-prepend", help="digits put in front of it, e.g. 74951234 (201 -> 74951234201)")
    p.add_argument("--confirm", action="store_true",
                   help="save even if the change takes a working peer out of the plan")
    _handler(p, "config_cmds:cmd_settings_set")
    _form_validation(settings, "proposed station settings", "config_cmds:cmd_settings_validate")

    p = sub.add_parser("providers", help="this station's SIP providers: which may carry fallback or transit calls")
    _locations(p, module_db_required=False)
    _json(p)
    _handler(p, "config_cmds:cmd_providers")


def _form_validation(group: Any, what: str, handler: str) -> None:
    """`<group> validate [--json] < JSON`: what an admin form proposes, checked as the worker will plan it."""
    p = group.add_parser("validate", help=f"validate {what} given as JSON on stdin; prints JSON")
    _locations(p)
    _lang(p)
    p.add_argument("--json", action="store_true", help="(output is always JSON)")
    p.add_argument("proposed_json", nargs="?", metavar="-",
                   help="'-' or nothing: the JSON is read from stdin (it may hold a secret: never in argv)")
    _handler(p, handler)


def _engine_commands(sub: Any) -> None:
    p = sub.add_parser("plan", help="show problems and the plan in words (or JSON)")
    _locations(p)
    _lang(p)
    _json(p)
    _handler(p, "engine_cmds:cmd_plan")

    p = sub.add_parser("render", help="write hooks.json and records.json")
    _locations(p)
    _lang(p)
    p.add_argument("--out", type=Path, required=True)
    _handler(p, "engine_cmds:cmd_render")

    p = sub.add_parser("demo", help="build the two-station example (Moscow 2XX, St Petersburg 3XX) and render it")
    p.add_argument("--out", type=Path, default=Path("out/demo"))
    p.add_argument("--three", action="store_true", help="add a third station (4XX)")
    p.add_argument("--breakout", action="store_true",
                   help="moscow gets a PSTN provider, falls back to it for spb and grants spb transit through it")
    _lang(p)
    _handler(p, "engine_cmds:cmd_demo")


def _apply_commands(sub: Any) -> None:
    on_box = box.module_dir() is not None
    p = sub.add_parser("apply", help="one reconcile: write the plan's records and hook fragments, reload")
    _applying(p)
    p.add_argument("--dry-run", action="store_true", help="only show what would be created, changed, removed")
    _json(p)
    p.add_argument("--devstate-cmd", default=box.DEVSTATE_CMD if on_box else None,
                   help="as for run: hints carry each peer's lamp device, set after the reload")
    _handler(p, "apply_cmds:cmd_apply")

    p = sub.add_parser("disable", help="remove every module-owned record, empty hooks.json, reload")
    _applying(p, module_db_required=False)
    _json(p)
    _handler(p, "apply_cmds:cmd_disable")

    p = sub.add_parser("run", help="the long-running worker: watch both DBs, reconcile, answer control requests")
    _applying(p)
    p.add_argument("--status-cmd", default=box.CONTACTS_CMD if on_box else None,
                   help="e.g. \"asterisk -rx 'pjsip show contacts'\" for trunk reachability")
    p.add_argument("--reachability-interval", type=seconds(0, 3600), default=2.0,
                   help="with --status-cmd: seconds between trunk reachability polls (0 = off); a peer "
                   "reported Unavail gets its lamps shown Unavailable until it is back")
    p.add_argument("--hints-cmd", default=box.HINTS_CMD if on_box else None,
                   help="e.g. \"asterisk -rx 'core show hints'\": when a peer starts publishing to us (it has just "
                   "added us), renew our own publication to it")
    p.add_argument("--sync-bind", default=box.SYNC_BIND if on_box else None,
                   help="address to serve directory sync and pairing on, e.g. 0.0.0.0 "
                   "(default: no sync; the firewall opens the port only to paired peers)")
    p.add_argument("--sync-port", type=port, default=box.SYNC_PORT, help="TCP port of directory sync")
    p.add_argument("--sync-heartbeat", type=seconds(0.1, 300), default=0.5,
                   help="seconds between sync heartbeats (libzmq's, on the connection); a peer silent for 3 of them "
                   "reads unreachable")
    p.add_argument("--sync-keepalive", type=seconds(0.1, 300), default=5.0,
                   help="seconds between the worker's own pings to a peer that answers (they carry the versions of "
                   "our directory and watch list it holds)")
    p.add_argument("--ami", default=box.AMI_HOST if on_box else None, metavar="HOST[:PORT]",
                   help="this station's AMI (port: the station's AMIPort): with --sync-bind, device states of paired "
                   "peers travel over the sync channel (learned from and set through AMI, with the module's own "
                   "AMI account) instead of SIP publications")
    p.add_argument("--no-ami", action="store_true", help="keep SIP publications for paired peers too")
    p.add_argument("--cli-cmd", default=box.CLI_CMD if on_box else None,
                   help="e.g. \"asterisk -rx {command}\": removes lamp devices no longer used from Asterisk's database")
    p.add_argument("--devstate-cmd", default=box.DEVSTATE_CMD if on_box else None,
                   help="e.g. \"asterisk -rx 'devstate change {device} {state}'\": turns a dead peer's lamps "
                   "Unavailable even on phones that watch them")
    p.add_argument("--debounce", type=seconds(0, 60), default=0.2, help="quiet period in seconds before reconciling")
    p.add_argument("--resync", type=seconds(1, 86400), default=300.0,
                   help="full reconcile at least this often (seconds)")
    _handler(p, "apply_cmds:cmd_run")

    for name, help_text, timeout in (
        ("status", "ask the running worker for its status", 5.0),
        ("reconcile", "ask the running worker to reconcile now", 7.0),
        ("check-peer", "one peer's plan, problems and reachability", 5.0),
    ):
        p = sub.add_parser(name, help=help_text)
        if name == "check-peer":
            p.add_argument("name")
        _locations(p, mikopbx=False, module_db=False, state_dir=True)
        _json(p)
        p.add_argument("--timeout", type=seconds(0.1, 600), default=timeout, help="seconds to wait for the worker")
        _handler(p, f"client_cmds:cmd_{name.replace('-', '_')}")


def _pairing_commands(sub: Any) -> None:
    invite = sub.add_parser("invite", help="pair stations: create or accept an invitation").add_subparsers(
        dest="invite_cmd", required=True)
    p = invite.add_parser("create", help="print a one-time invitation for another station (and save it as a file)")
    _pairing_common(p)
    p.add_argument("--address", help="the address peers reach this station at (default: the external address, "
                   "else the LAN address)")
    p.add_argument("--sync-port", type=port, default=box.SYNC_PORT, help="this station's sync port")
    p.add_argument("--ttl", type=seconds(1, 7 * 86400), default=3600.0,
                   help="seconds the invitation stays valid (at most a week)")
    p.add_argument("--from", dest="allow_from", metavar="ADDRESS",
                   help="the invited station's IP: the firewall lets it reach the sync port until the invitation "
                        "is used or expires (the port is otherwise open only to paired peers)")
    p.add_argument("--file", type=Path, help="where to save it (default: <state-dir>/invitation-<id>.txt)")
    _handler(p, "invite_cmds:cmd_invite_create")

    p = invite.add_parser("accept", help="pair with the station that made the invitation")
    _pairing_common(p)
    p.add_argument("text", nargs="?", metavar="-", help="'-' or nothing: the invitation is read from stdin (it "
                   "holds a one-time secret: never in argv), or give --file")
    p.add_argument("--file", type=Path, help="read the invitation from this file")
    p.add_argument("--address", help="the address the other station reaches this one at")
    p.add_argument("--sync-port", type=port, default=box.SYNC_PORT, help="this station's sync port")
    p.add_argument("--timeout", type=seconds(0.1, 600), default=10.0, help="seconds to wait for the other station")
    _handler(p, "invite_cmds:cmd_invite_accept")

    p = invite.add_parser("list", help="invitations made here: pending, used, expired (no secrets)")
    _pairing_common(p, dbs=False)
    _handler(p, "invite_cmds:cmd_invite_list")

    p = sub.add_parser("sync-key", help="print this station's public sync key (created at first use)")
    _locations(p, mikopbx=False, module_db=False, state_dir=True)
    _handler(p, "invite_cmds:cmd_sync_key")


def _doctor_command(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check that this python3 runs the worker (imports, SQLite, zmq, inotify, "
                       "ctypes, templates, mikopbx.db read-only); prints JSON, exit 0 when all passed, 1 if not")
    p.add_argument("--mikopbx-db", type=Path, default=box.MIKOPBX_DB, help="MikoPBX config DB (opened read-only)")
    default = _box_default("state_dir")
    p.add_argument("--state-dir", type=Path, default=default, help="the worker's state dir (checked writable)")
    _handler(p, "doctor_cmds:cmd_doctor")


def _pairing_common(p: argparse.ArgumentParser, *, dbs: bool = True) -> None:
    _locations(p, mikopbx=dbs, module_db=dbs, state_dir=True)
    _json(p)
    _lang(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m python_worker",
                                     description="ModulePbxFederation worker: every command has --help.")
    sub = parser.add_subparsers(dest="command", required=True)
    _engine_commands(sub)
    _config_commands(sub)
    _apply_commands(sub)
    _pairing_commands(sub)
    _doctor_command(sub)
    return parser
