"""`doctor`: the checks of python_worker/doctor.py as one JSON report (what the installer and support read)."""

from __future__ import annotations

import argparse
import json
import sys

from python_worker.doctor import run_checks


def cmd_doctor(args: argparse.Namespace) -> int:
    report = run_checks(args.mikopbx_db, args.state_dir)
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0 if report["ok"] else 1
