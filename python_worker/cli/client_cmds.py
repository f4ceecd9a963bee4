"""CLI clients of the running worker: status, reconcile, check-peer. They load no engine: JSON over the socket."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from python_worker.cli.common import EXIT_FAILED, EXIT_UNAVAILABLE
from python_worker.service.control import WorkerUnavailable, request
from python_worker.statedir import to_json


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
            print(f"  {p['name']:<16} {state:<12} trunk={p.get('trunk')} blf={p.get('blf')} "
                  f"problems={len(p.get('problems', []))}")
        for pr in answer.get("problems", []):
            print(f"  station: {pr['code']}")
    elif cmd == "check-peer":
        if not answer.get("ok"):
            print(answer.get("error"))
            return
        p = answer["peer"]
        print(f"{p['name']}: planned={p.get('planned')} applied={p.get('applied')} trunk={p.get('trunk')}")
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
