"""What the CLI commands share: refusals, exit codes, how problems are printed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

from python_worker.core.problems import Problem

EXIT_FAILED = 1
EXIT_REFUSED = 2  # a refused value or command: the message says which field and why; nothing changed
EXIT_UNAVAILABLE = 3  # worker not running / DB busy: try again later


class CliError(Exception):
    """A refused command: the message goes to stderr and the exit code is 2."""


def print_problems(problems: Sequence[Problem], lang: str, stream: IO[str] | None = None) -> None:
    for p in problems:
        where = f"{p.peer}." if p.peer else "station."
        print(f"{p.severity.value.upper()} {p.code} [{where}{p.field}]: {p.message(lang)}", file=stream or sys.stderr)
