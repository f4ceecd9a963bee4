"""CLI commands that apply: apply (one reconcile), disable (remove everything the module wrote), run (the worker)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from python_worker.apply.amiuser import load_or_create_ami_account, read_ami_account
from python_worker.apply.reconciler import ApplyOptions, ApplyReport, Paths, module_enabled, reconcile
from python_worker.apply.system import PHP_CORE, AsteriskCli, Reloader, make_reloader
from python_worker.cli.common import EXIT_FAILED, EXIT_UNAVAILABLE
from python_worker.cli.parser import TARGETS
from python_worker.core.problems import shown
from python_worker.core.runtime import Runtime
from python_worker.db.engine import private_file
from python_worker.logs import setup_logging
from python_worker.service.control import WorkerUnavailable, is_worker_running, request
from python_worker.service.devstate import AmiSettings
from python_worker.statedir import tighten, to_json
from python_worker.sync.pairing import pairing_sources


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
    for p in (*report.problems, *report.issues):
        print(f"  {p.severity.value.upper()} {p.code} [{shown(p.peer) if p.peer else 'station'}.{p.field}]: "
              f"{p.message(lang)}")


def cmd_apply(args: argparse.Namespace) -> int:
    setup_logging(None if args.dry_run else args.state_dir, verbose=args.verbose, to_stderr=not args.json)
    # One apply knows no reachability: every peer is planned up, and its lamps follow its phones.
    runtime = Runtime.of(drives_lamps=bool(args.devstate_cmd), pairing_sources=pairing_sources(args.state_dir),
                         ami=read_ami_account(args.state_dir))  # made by the first worker that uses AMI
    report = reconcile(_paths(args), _reloader(args), opts=ApplyOptions(busy_timeout=args.busy_timeout),
                       dry_run=args.dry_run, runtime=runtime)
    if args.devstate_cmd and not args.dry_run and report.result in ("applied", "unchanged") and report.plan:
        from python_worker.service.lamps import UP, set_lamp

        cli = AsteriskCli(devstate_cmd=args.devstate_cmd)
        for peer in report.plan.peers:
            if peer.is_stock_blf:
                set_lamp(cli, peer, UP)
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


def _ami_settings(args: argparse.Namespace) -> AmiSettings | None:
    """Where the worker reaches AMI: --ami HOST[:PORT], the port defaulting to the station's AMIPort."""
    if not args.ami or args.no_ami or not args.sync_bind:
        return None
    from python_worker.db.snapshot import read_snapshot

    host, sep, given = str(args.ami).partition(":")
    if sep and given.isdigit():
        port = int(given)
    else:
        try:
            port = read_snapshot(args.mikopbx_db).ami_port
        except Exception:  # an unreadable DB: Core's default port
            port = 5038
    return AmiSettings(host, port, load_or_create_ami_account(args.state_dir))


def cmd_run(args: argparse.Namespace) -> int:
    from python_worker.service.worker import Worker, WorkerOptions
    from python_worker.sync.links import SyncOptions

    tighten(args.state_dir)  # files an older version left readable to all
    private_file(_paths(args).module_db)
    setup_logging(args.state_dir, verbose=args.verbose)
    paths = _paths(args)
    if paths.mikopbx_db.exists() and not module_enabled(paths.mikopbx_db):
        # Core says disabled (or an upgrade keeps the rows while it is): a worker now would remove them.
        logging.getLogger("pbxfed").warning("the module is disabled in %s: the worker does not start", paths.mikopbx_db)
        return 0
    sync = None if not args.sync_bind else SyncOptions(
        bind=args.sync_bind, port=args.sync_port, heartbeat=args.sync_heartbeat,
        heartbeat_timeout=3 * args.sync_heartbeat, keepalive=args.sync_keepalive)
    asterisk = AsteriskCli(contacts_cmd=args.status_cmd, hints_cmd=args.hints_cmd, devstate_cmd=args.devstate_cmd,
                           cli_cmd=args.cli_cmd)
    opts = WorkerOptions(debounce=args.debounce, resync=args.resync, asterisk=asterisk,
                         reachability_interval=args.reachability_interval, sync=sync, ami=_ami_settings(args))
    worker = Worker(paths, _reloader(args), ApplyOptions(busy_timeout=args.busy_timeout), opts)
    return worker.run()
