"""The worker's state directory: its file names, canonical JSON, atomic writes (temp + fsync + rename), locks."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HOOKS_FILE = "hooks.json"
RECORDS_FILE = "records.json"
JOURNAL_FILE = "apply-journal.json"
STATUS_FILE = "status.json"
LOG_FILE = "federation.log"  # worker.log is PHP's stdout/stderr capture of the process; never rotate that one
CONTROL_SOCKET = "control.sock"
APPLY_LOCK = "apply.lock"
WORKER_LOCK = "worker.lock"

PAUSE_ENV = "PBXFED_TEST_PAUSE"  # "<point>:<marker file>": tests freeze an apply there to SIGKILL it
PAUSE_LIMIT_S = 30.0


def to_json(data: object) -> str:
    """Canonical JSON text: sorted keys, UTF-8, trailing newline, so equal data gives equal bytes."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


class LockTimeout(RuntimeError):
    """Another apply held the state directory's lock for longer than we may wait."""


def write_atomic(path: Path, data: bytes, mode: int = 0o600, *, durable: bool = True) -> None:
    """Replace `path` with `data` so readers see the old or the new bytes, never a torn file; `durable` also
    fsyncs the data and the rename (what the configuration needs; a status view does not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


class Staged:
    """A file written and fsynced beside its final name, renamed into place by `commit` (a rename needs no new
    space: once staged, a full disk can no longer stop it) or removed by `discard`."""

    def __init__(self, path: Path, data: bytes, mode: int = 0o600) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.staged")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def stage_json_if_changed(path: Path, data: object) -> Staged | None:
    """Stage `data` as canonical JSON for `path`, or None when the file already holds exactly it."""
    text = to_json(data).encode("utf-8")
    try:
        if path.read_bytes() == text:
            return None
    except FileNotFoundError:
        pass
    return Staged(path, text)


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_if_changed(path: Path, text: str, mode: int = 0o600, *, durable: bool = True) -> bool:
    """Atomically write `text` unless the file already holds exactly it; True when written."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data, mode, durable=durable)
    return True


def write_json_if_changed(path: Path, data: object, *, durable: bool = True) -> bool:
    return write_if_changed(path, to_json(data), durable=durable)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when the file is missing or unreadable (a torn file cannot exist)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, RecursionError):
        return None


def remove_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        fsync_dir(path.parent)


@contextlib.contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive flock on `path`, waited for at most `timeout` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    delay = 0.01
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{path} is held by another process") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def tighten(state_dir: Path) -> None:
    """Make the state directory 0700 and every file in it 0600 (hooks.json and records.json hold trunk secrets,
    sync-key.json the station's key, the logs what admins typed); files an older version made 0644 included."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        os.chmod(state_dir, 0o700)
        for entry in state_dir.iterdir():
            if entry.is_file() and not entry.is_symlink():
                os.chmod(entry, 0o600)


def pause_point(name: str) -> None:
    """Test hook: when PBXFED_TEST_PAUSE names this point, touch the marker file and wait to be killed."""
    spec = os.environ.get(PAUSE_ENV, "")
    point, _, marker = spec.partition(":")
    if point != name:
        return
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(PAUSE_LIMIT_S)  # bounded: a test that forgets to kill us only loses this much time


@contextlib.contextmanager
def instance_lock(path: Path, wait: float = 2.0) -> Iterator[bool]:
    """Hold `path`'s exclusive flock for the life of the block; yields False when another process holds it for
    longer than `wait` seconds (one worker per state directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)
