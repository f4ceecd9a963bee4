"""Logging: syslog-friendly stderr lines and a rotating file in the state dir, with every known secret masked."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from python_worker.core.records import trunk_secrets
from python_worker.statedir import LOG_FILE

LOGGER = "pbxfed"
MASK = "********"


class SecretFilter(logging.Filter):
    """Replaces every registered secret in a record's final text; registered from each plan and records.json."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def mask(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        text = record.getMessage()
        if record.exc_info:  # tracebacks can quote SQL parameters: mask them too
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.mask(text)
        record.args = None
        return True


REDACTOR = SecretFilter()


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
        state_dir.mkdir(parents=True, exist_ok=True)
        rot = logging.handlers.RotatingFileHandler(state_dir / LOG_FILE, maxBytes=1_000_000, backupCount=3,
                                                   encoding="utf-8")
        rot.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        handlers.append(rot)
    for handler in handlers:
        handler.addFilter(REDACTOR)
        logger.addHandler(handler)
    return logger
