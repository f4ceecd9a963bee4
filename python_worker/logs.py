"""Logging: syslog-friendly stderr lines and a rotating file in the state dir, with every known secret masked."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from python_worker.core.records import trunk_secrets
from python_worker.statedir import LOG_FILE

LOGGER = "pbxfed"
MASK = "********"
MAX_LINE = 4000  # characters of one log record: a hostile value must not become a megabyte line
# Secrets never seen before (a driver's error quoting a statement's parameters, a key in a dump): anything
# written as `secret=...`, `password: ...` and the like, and the 32-character tokens this module generates.
_NAMED_SECRET_RE = re.compile(
    r"""(?i)((?:secret|password|passwd|proof|mac_key|secretkey|invitation)["']?\s*[:=]\s*["']?)([^\s"',;}\]]+)""")
_TOKEN_RE = re.compile(r"\b[0-9a-f]{32}\b|pbxfed1:[A-Za-z0-9_-]+")


class SecretFilter(logging.Filter):
    """Replaces every registered secret in a record's final text (registered from each plan, records.json and
    pairing), and anything that looks like a secret although nobody registered it."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def mask(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        text = _NAMED_SECRET_RE.sub(lambda m: m.group(1) + MASK, text)
        return _TOKEN_RE.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info:  # tracebacks can quote SQL parameters: mask them too
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        text = self.mask(text)
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + f"… ({len(text) - MAX_LINE} more characters)"
        record.msg = text.encode("utf-8", "backslashreplace").decode("utf-8")  # no lone surrogate reaches a file
        record.args = None
        return True


REDACTOR = SecretFilter()


def describe(exc: BaseException) -> str:
    """An exception as status, answers and logs show it: its type and first line, secrets masked, bounded."""
    text = str(exc)
    first = text.splitlines()[0] if text else ""
    return REDACTOR.mask(f"{type(exc).__name__}: {first}".rstrip(": "))[:300]


def remember_secret(*secrets: str) -> None:
    """Register secrets met outside records.json (a pairing's new trunk secret, an invitation's)."""
    REDACTOR.add(secrets)


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """The rotating log, every file of it created 0600 whatever the umask (a log may quote what an admin typed)."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, "a", encoding=self.encoding, errors="backslashreplace")


def remember_secrets(*records: Mapping[str, Any] | None) -> None:
    """Register the trunk secrets found in records.json-shaped data."""
    for rec in records:
        REDACTOR.add(trunk_secrets(rec))


def setup_logging(state_dir: Path | None, *, verbose: bool = False, to_stderr: bool = True) -> logging.Logger:
    """Configure the `pbxfed` logger once per process (handlers are replaced, not stacked)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    handlers: list[logging.Handler] = []
    if to_stderr:
        err = logging.StreamHandler(sys.stderr)
        # No timestamp: syslog (or whoever captures stderr) adds its own.
        err.setFormatter(logging.Formatter("pbxfed-worker[%(process)d]: %(levelname)s %(message)s"))
        handlers.append(err)
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_file = state_dir / LOG_FILE
        for old in (log_file, *(log_file.with_name(f"{LOG_FILE}.{i}") for i in range(1, 4))):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                os.chmod(old, 0o600)  # made 0644 by an older version
        rot = PrivateLogFile(log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        rot.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        handlers.append(rot)
    for handler in handlers:
        handler.addFilter(REDACTOR)
        logger.addHandler(handler)
    return logger
