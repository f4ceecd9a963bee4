"""Command line: `python -m python_worker <command>` (on a box: `bin/pbxfed <command>`); every command has --help.

Every failure ends in a message in the admin's language and a documented exit code, never a traceback: 2 for a
refused value or command (nothing changed), 3 for a busy database or a worker that is not running, 1 for a
damaged database or anything else that failed.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from python_worker.cli.common import EXIT_FAILED, EXIT_REFUSED, EXIT_UNAVAILABLE, CliError, print_problems
from python_worker.cli.parser import build_parser
from python_worker.core.problems import shown


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # every file this process makes (module.db, logs, state, keys) is its owner's only
    for stream in (sys.stdout, sys.stderr):  # an argument may hold anything (a lone surrogate): never fail on it
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    args = build_parser().parse_args(argv)
    module, _, name = str(args.handler).partition(":")
    handler = getattr(importlib.import_module(module), name)
    lang = str(getattr(args, "lang", "en") or "en")
    try:
        return int(handler(args))
    except (CliError, FileNotFoundError) as exc:
        print(f"error: {shown(exc, 2000)}", file=sys.stderr)  # one line, whatever the value it quotes
        return EXIT_REFUSED
    except Exception as exc:  # translated below; anything else is a fault, reported without a traceback
        return _failure(exc, lang)


def _failure(exc: Exception, lang: str) -> int:
    from python_worker.core.inputs import InputError
    from python_worker.core.problems import problem
    from python_worker.logs import describe

    if isinstance(exc, InputError):
        print_problems(exc.problems, lang)
        return EXIT_REFUSED
    from python_worker.db.engine import DatabaseBusy, DatabaseError

    if isinstance(exc, DatabaseError):
        which = problem(exc.code, None, "database", detail=exc.path.name, reason=exc.reason,
                        limit=f"{exc.waited:g}")
        print_problems([which], lang)
        return EXIT_UNAVAILABLE if isinstance(exc, DatabaseBusy) else EXIT_FAILED
    if isinstance(exc, OSError):
        print(f"error: {exc.strerror or describe(exc)}", file=sys.stderr)
        return EXIT_FAILED
    logging.getLogger("pbxfed").error("internal error: %s", describe(exc))
    print(f"error: internal error ({describe(exc)})", file=sys.stderr)
    return EXIT_FAILED
