"""CLI commands of the applying side: apply, disable, run (the worker) and the clients status, reconcile, check-peer."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

from python_worker import SYNC_PORT
from python_worker.apply.reconciler import ApplyOptions, ApplyReport, Paths, reconcile
from python_worker.apply.system import PHP_CORE, TARGETS, Reloader, make_reloader
from python_worker.render.hooks import to_json
from python_worker.service.control import WorkerUnavailable, is_worker_running, request
from python_worker.service.logsetup import setup_logging

DEFAULT_MIKOPBX_DB = Path("/cf/conf/mikopbx.db")
DEFAULT_STATE_DIR = Path("/storage/usbdisk1/mikopbx/custom_modules/ModulePbxFederation/db/state")
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3  # worker not running / DB busy: try again later


def _add_locations(p: argparse.ArgumentParser, *, module_db_required: bool = True) -> None:
    p.add_argument("--mikopbx-db", type=Path, default=DEFAULT_MIKOPBX_DB, help="MikoPBX config DB")
    p.add_argument("--module-db", type=Path, required=module_db_required, help="the module's db/module.db")
    p.add_argument("--state-dir", type=Path, required=True, help="where hooks.json, records.json, logs live")
    p.add_argument("--busy-timeout", type=float, default=10.0, help="seconds to retry a locked mikopbx.db")
    p.add_argument("--verbose", action="store_true")


def _add_reload(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reloading (see python_worker/reloader.py for the scheme)")
    g.add_argument("--reload-cmd", help="'php-core' (MikoPBX: Lib/ReloadCore.php) or a command template; "
                   "'{what}' is replaced by pjsip|dialplan|firewall, else the words are appended")
    for target in TARGETS:
        g.add_argument(f"--reload-{target}-cmd", help=f"command that reloads {target} (overrides --reload-cmd)")
    g.add_argument("--no-reload", action="store_true", help="change records and files only")
    g.add_argument("--reload-timeout", type=float, default=60.0)
    g.add_argument("--module-dir", type=Path, help="module directory for php-core (default: module DB's ../..)")


def _reloader(args: argparse.Namespace) -> Reloader:
    module_dir = args.module_dir
    if module_dir is None and getattr(args, "module_db", None) is not None:
        module_dir = args.module_db.resolve().parent.parent
    per_target = {t: getattr(args, f"reload_{t}_cmd") for t in TARGETS}
    reload_cmd = args.reload_cmd
    if not reload_cmd and not args.no_reload and not any(per_target.values()):
        # Neither given: on a station (Lib/ReloadCore.php beside the module DB) ask Core, else say so.
        if module_dir is not None and (module_dir / "Lib" / "ReloadCore.php").is_file():
            reload_cmd = PHP_CORE
        else:
            logging.getLogger("pbxfed").warning("no --reload-cmd given and no Lib/ReloadCore.php found: "
                                                "records and fragments change, nothing is reloaded")
    return make_reloader(reload_cmd, no_reload=args.no_reload, module_dir=module_dir,
                         timeout=args.reload_timeout, per_target=per_target)


def _paths(args: argparse.Namespace) -> Paths:
    module_db = args.module_db if args.module_db is not None else args.state_dir / "module.db"
    return Paths(args.mikopbx_db, module_db, args.state_dir)


def _report_exit(report: ApplyReport) -> int:
    if report.ok:
        return 0
    return EXIT_UNAVAILABLE if report.result == "busy" else EXIT_FAILED


def _print_report(report: ApplyReport, as_json: bool, lang: str = "en") -> None:
    if as_json:
        sys.stdout.write(to_json(report.to_json()))
        return
    print(report.summary())
    for c in report.changes:
        extra = f" [{','.join(c.columns)}]" if c.columns else ""
        drift = f" (drift: {c.drift})" if c.drift else ""
        print(f"  {c.op:<6} {c.table} {' / '.join(c.key)} peer={c.peer or '-'}{extra}{drift}")
    for p in report.problems:
        print(f"  {p.severity.value.upper()} {p.code} [{p.peer or 'station'}.{p.field}]: {p.message(lang)}")
    for i in report.issues:
        print(f"  WARNING {i.code} [{i.peer}.{i.table}#{i.record_id}]: {i.message(lang)}")


def cmd_apply(args: argparse.Namespace) -> int:
    setup_logging(None if args.dry_run else args.state_dir, verbose=args.verbose, to_stderr=not args.json)
    report = reconcile(_paths(args), _reloader(args),
                       opts=ApplyOptions(busy_timeout=args.busy_timeout, lamps=bool(args.devstate_cmd)),
                       dry_run=args.dry_run)
    if args.devstate_cmd and not args.dry_run and report.result in ("applied", "unchanged") and report.plan:
        from python_worker.service.worker import UP, set_lamp

        for peer in report.plan.peers:  # one apply knows no reachability: every peer's lamps follow its phones
            if peer.is_blf:
                set_lamp(args.devstate_cmd, peer, UP)
    _print_report(report, args.json)
    return _report_exit(report)


def cmd_disable(args: argparse.Namespace) -> int:
    setup_logging(args.state_dir, verbose=args.verbose, to_stderr=not args.json)
    if is_worker_running(args.state_dir):
        with contextlib.suppress(WorkerUnavailable):  # a running worker would put the records straight back
            request(args.state_dir, {"cmd": "stop"}, timeout=5.0)
    report = reconcile(_paths(args), _reloader(args), opts=ApplyOptions(busy_timeout=args.busy_timeout),
                       disable=True)
    _print_report(report, args.json)
    return _report_exit(report)


def cmd_run(args: argparse.Namespace) -> int:
    from python_worker.service.worker import Worker, WorkerOptions

    setup_logging(args.state_dir, verbose=args.verbose)
    opts = WorkerOptions(debounce=args.debounce, resync=args.resync, status_cmd=args.status_cmd,
                         reachability_interval=args.reachability_interval, hints_cmd=args.hints_cmd,
                         devstate_cmd=args.devstate_cmd, sync=_sync_options(args))
    worker = Worker(_paths(args), _reloader(args), ApplyOptions(busy_timeout=args.busy_timeout), opts)
    return worker.run()


def _sync_options(args: argparse.Namespace) -> Any:
    if not args.sync_bind:
        return None
    from python_worker.sync.service import SyncOptions

    return SyncOptions(bind=args.sync_bind, port=args.sync_port, heartbeat=args.sync_heartbeat,
                       heartbeat_timeout=3 * args.sync_heartbeat)


def _client(args: argparse.Namespace, payload: dict[str, Any]) -> int:
    try:
        answer = request(args.state_dir, payload, timeout=args.timeout)
    except WorkerUnavailable as exc:
        if args.json:
            sys.stdout.write(to_json({"ok": False, "running": False, "error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.json:
        sys.stdout.write(to_json(answer))
    else:
        _print_answer(payload["cmd"], answer)
    return 0 if answer.get("ok") else EXIT_FAILED


def _print_answer(cmd: str, answer: dict[str, Any]) -> None:
    if cmd == "status":
        last = answer.get("last_apply") or {}
        print(f"worker running (pid {answer.get('pid')}); last apply: {last.get('result', '-')} "
              f"at {last.get('time_iso', '-')} {last.get('message', '')}".rstrip())
        for p in answer.get("peers", []):
            state = "applied" if p.get("applied") else ("planned" if p.get("planned") else "not planned")
            print(f"  {p['name']:<16} {state:<12} reachability={p.get('reachability')} "
                  f"problems={len(p.get('problems', []))}")
        for pr in answer.get("problems", []):
            print(f"  station: {pr['code']}")
    elif cmd == "check-peer":
        if not answer.get("ok"):
            print(answer.get("error"))
            return
        p = answer["peer"]
        print(f"{p['name']}: planned={p.get('planned')} applied={p.get('applied')} "
              f"reachability={p.get('reachability')}")
        for pr in p.get("problems", []):
            print(f"  {pr['code']}: {pr['message']['en']}")
    else:
        print(f"{answer.get('result', '')}: {answer.get('message', '')}".strip(": "))


def cmd_status(args: argparse.Namespace) -> int:
    return _client(args, {"cmd": "status"})


def cmd_reconcile(args: argparse.Namespace) -> int:
    return _client(args, {"cmd": "reconcile"})


def cmd_check_peer(args: argparse.Namespace) -> int:
    return _client(args, {"cmd": "check-peer", "name": args.name})


def register(sub: Any) -> None:
    """Add apply, disable, run, status, reconcile and check-peer to the CLI's subparsers."""
    p = sub.add_parser("apply", help="one reconcile: write the plan's records and hook fragments, reload")
    _add_locations(p)
    _add_reload(p)
    p.add_argument("--dry-run", action="store_true", help="only show what would be created, changed, removed")
    p.add_argument("--json", action="store_true")
    p.add_argument("--devstate-cmd", help="as for run: hints carry each peer's lamp device, set after the reload")
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("disable", help="remove every module-owned record, empty hooks.json, reload")
    _add_locations(p, module_db_required=False)
    _add_reload(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_disable)

    p = sub.add_parser("run", help="the long-running worker: watch both DBs, reconcile, answer control requests")
    _add_locations(p)
    _add_reload(p)
    p.add_argument("--status-cmd", help="e.g. \"asterisk -rx 'pjsip show contacts'\" for trunk reachability")
    p.add_argument("--reachability-interval", type=float, default=2.0,
                   help="with --status-cmd: seconds between trunk reachability polls (0 = off); a peer "
                   "reported Unavail gets its lamps shown Unavailable until it is back")
    p.add_argument("--hints-cmd", help="e.g. \"asterisk -rx 'core show hints'\": when a peer starts publishing "
                   "to us (it has just added us), renew our own publication to it")
    p.add_argument("--sync-bind", help="address to serve directory sync and pairing on, e.g. 0.0.0.0 "
                   "(default: no sync; the firewall opens the port only to paired peers)")
    p.add_argument("--sync-port", type=int, default=SYNC_PORT, help="TCP port of directory sync (Lib SYNC_PORT)")
    p.add_argument("--sync-heartbeat", type=float, default=2.0,
                   help="seconds between sync heartbeats; a peer silent for 3 of them reads unreachable")
    p.add_argument("--devstate-cmd", help="e.g. \"asterisk -rx 'devstate change {device} {state}'\": "
                   "turns a dead peer's lamps Unavailable even on phones that watch them")
    p.add_argument("--debounce", type=float, default=0.2, help="quiet period in seconds before reconciling")
    p.add_argument("--resync", type=float, default=300.0, help="full reconcile at least this often (seconds)")
    p.set_defaults(func=cmd_run)

    for name, func, help_text, timeout in (
        ("status", cmd_status, "ask the running worker for its status", 5.0),
        ("reconcile", cmd_reconcile, "ask the running worker to reconcile now", 7.0),
        ("check-peer", cmd_check_peer, "one peer's plan, problems and reachability", 5.0),
    ):
        p = sub.add_parser(name, help=help_text)
        if name == "check-peer":
            p.add_argument("name")
        p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
        p.add_argument("--json", action="store_true")
        p.add_argument("--timeout", type=float, default=timeout, help="seconds to wait for the worker")
        p.set_defaults(func=func)
