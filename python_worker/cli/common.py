"""What the CLI commands share: refusals, exit codes, how problems are printed, where secrets are read from."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from python_worker.core.problems import Problem, shown

EXIT_FAILED = 1  # a damaged database, a failed reload, a refused plan
EXIT_REFUSED = 2  # a refused value or command: the message says which field and why; nothing changed
EXIT_UNAVAILABLE = 3  # worker not running / DB busy: try again later
MAX_STDIN = 64 * 1024  # bytes read from stdin or a secret file: a form's JSON, an invitation, a secret


class CliError(Exception):
    """A refused command: the message goes to stderr and the exit code is 2."""


def print_problems(problems: Sequence[Problem], lang: str, stream: IO[str] | None = None) -> None:
    for p in problems:
        where = f"{shown(p.peer)}." if p.peer else "station."
        print(f"{p.severity.value.upper()} {p.code} [{where}{p.field}]: {p.message(lang)}", file=stream or sys.stderr)


def read_stdin(what: str) -> str:
    """At most MAX_STDIN bytes of UTF-8 from stdin (a form's JSON, an invitation, a secret)."""
    data = sys.stdin.buffer.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise CliError(f"{what} on stdin is longer than {MAX_STDIN} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{what} on stdin is not UTF-8") from None


def read_secret(path: str) -> str:
    """A secret from a file ('-': stdin). One line ending at the end is the file's, not the secret's; anything
    else (spaces, another line) stays and is refused by the secret's rule."""
    if path == "-":
        text = read_stdin("the secret")
    else:
        try:
            with Path(path).open("rb") as fh:
                data = fh.read(MAX_STDIN + 1)
        except OSError as exc:
            raise CliError(f"cannot read the secret file {path}: {exc.strerror}") from None
        if len(data) > MAX_STDIN:
            raise CliError(f"the secret file {path} is longer than {MAX_STDIN} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CliError(f"the secret file {path} is not UTF-8") from None
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text
