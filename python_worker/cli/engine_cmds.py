"""CLI commands that plan and render without applying: plan, render, demo."""

from __future__ import annotations

import argparse
import sys

from python_worker.cli.common import print_problems
from python_worker.core.views import describe_plan, plan_view
from python_worker.pipeline import compute_from_files, write_outputs
from python_worker.statedir import HOOKS_FILE, RECORDS_FILE, to_json


def cmd_plan(args: argparse.Namespace) -> int:
    plan = compute_from_files(args.mikopbx_db, args.module_db).plan
    if args.json:
        sys.stdout.write(to_json({"plan": plan_view(plan)}))
    else:
        sys.stdout.write(describe_plan(plan, args.lang))
    return 1 if plan.errors else 0


def cmd_render(args: argparse.Namespace) -> int:
    out = compute_from_files(args.mikopbx_db, args.module_db)
    write_outputs(out, args.out)
    print_problems(out.plan.problems, args.lang)
    print(f"wrote {args.out / HOOKS_FILE} and {args.out / RECORDS_FILE}: {len(out.plan.peers)} peer(s)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from python_worker.demo.example import run_demo

    sys.stdout.write(run_demo(args.out, three=args.three, lang=args.lang, breakout=args.breakout))
    return 0
