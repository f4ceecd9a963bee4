"""Command line: `python -m python_worker <command>` (on a box: `bin/pbxfed <command>`); every command has --help."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from python_worker.cli.common import CliError
from python_worker.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module, _, name = str(args.handler).partition(":")
    handler = getattr(importlib.import_module(module), name)
    try:
        return int(handler(args))
    except (CliError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
