"""`bin/pbxfed doctor`: does this interpreter, with the runtime the module ships for it, run the worker?

Runs what the worker really runs, in this process: the import of every module of python_worker (so every
third-party and stdlib module the worker loads at import), then each C piece it needs: SQLite through
SQLAlchemy with a real query, pyzmq's extension with a CURVE keypair and an inproc round trip, inotify through
watchdog's Observer seeing a file appear, ctypes calling libc, the Jinja2 templates compiled, and the station's
mikopbx.db opened read-only. Each check is timed and reports what it found; a failed import names the module.
The installer runs it before the module is registered (Lib/PythonEnvironment.php), support runs it over SSH.
Exit 0 when every check passed, 1 otherwise (docs/module-package.md, "doctor").
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import python_worker

_LIBC: list[str] = []
INOTIFY_WAIT = 5.0  # seconds an event may take to arrive


@dataclass
class Check:
    name: str
    ok: bool = True
    detail: str = ""
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }
        if self.missing:
            out["missing"] = self.missing
        return out


def _missing_name(exc: BaseException) -> str:
    return str(getattr(exc, "name", "") or exc)


def check_imports(check: Check) -> None:
    """Every module of python_worker, imported for real (the CLI entry point excepted: it runs the CLI)."""
    names = sorted(
        m.name
        for m in pkgutil.walk_packages(python_worker.__path__, "python_worker.")
        if not m.name.endswith("__main__")
    )
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            failed.append(f"{name}: {exc}")
            if isinstance(exc, ModuleNotFoundError) and _missing_name(exc) not in check.missing:
                check.missing.append(_missing_name(exc))
    if failed:
        check.ok = False
        check.detail = "; ".join(failed[:5])
        return
    loaded = sorted(
        {
            m.split(".")[0]
            for m in sys.modules
            if m.split(".")[0] in ("sqlalchemy", "jinja2", "markupsafe", "watchdog", "zmq", "typing_extensions")
        }
    )
    check.detail = f"{len(names)} modules of python_worker; with {', '.join(loaded)}"


def check_sqlite(check: Check) -> None:
    import sqlite3

    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.execute(text("create table t (x integer primary key, name text)"))
            conn.execute(text("insert into t (name) values ('a'), ('b')"))
            got = conn.execute(text("select count(*), max(x) from t")).one()
    finally:
        engine.dispose()
    if tuple(got) != (2, 2):
        raise RuntimeError(f"select gave {tuple(got)!r}")
    import sqlalchemy

    check.detail = f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}: insert and select"


def check_zmq(check: Check) -> None:
    import zmq

    if not zmq.has("curve"):
        raise RuntimeError(f"libzmq {zmq.zmq_version()} has no CURVE")
    public, secret = zmq.curve_keypair()
    ctx = zmq.Context()
    try:
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        a.bind("inproc://pbxfed-doctor")
        b.connect("inproc://pbxfed-doctor")
        b.setsockopt(zmq.RCVTIMEO, 5000)
        a.send(b"ping")
        answer = b.recv()
        a.close(0)
        b.close(0)
    finally:
        ctx.term()
    if answer != b"ping" or len(public) != 40 or len(secret) != 40:
        raise RuntimeError("inproc round trip or CURVE keypair failed")
    check.detail = f"libzmq {zmq.zmq_version()}, pyzmq {zmq.__version__}: CURVE keypair, inproc round trip"


def check_inotify(check: Check, watch_dirs: list[Path], scratch: Path) -> None:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    seen: list[str] = []

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            seen.append(str(event.src_path))

    observer = Observer()
    kind = type(observer).__name__
    if kind != "InotifyObserver":
        raise RuntimeError(f"watchdog chose {kind}, not inotify (libc without inotify?)")
    observer.schedule(Handler(), str(scratch), recursive=False)
    for directory in watch_dirs:  # the directories the worker watches must accept a watch too
        observer.schedule(FileSystemEventHandler(), str(directory), recursive=False)
    observer.start()
    try:
        (scratch / "probe").write_text("x", encoding="utf-8")
        deadline = time.monotonic() + INOTIFY_WAIT
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        observer.stop()
        observer.join(INOTIFY_WAIT)
    if not seen:
        raise RuntimeError(f"no inotify event within {INOTIFY_WAIT:.0f} s")
    watched = ", ".join(str(d) for d in [scratch, *watch_dirs])
    check.detail = f"InotifyObserver saw a file appear; watching {watched}"


def check_ctypes(check: Check) -> None:
    import ctypes

    libc = ctypes.CDLL(None)
    if libc.getpid() != os.getpid():
        raise RuntimeError("libc's getpid() through ctypes disagrees with os.getpid()")
    for symbol in ("inotify_init", "inotify_add_watch", "inotify_rm_watch"):
        if not hasattr(libc, symbol):
            raise RuntimeError(f"libc has no {symbol}")
    check.detail = f"libc through ctypes ({_libc() or 'libc'}): getpid, inotify_*"


def check_templates(check: Check) -> None:
    from python_worker.render.hooks import HOOK_TEMPLATES, TEMPLATE_DIR, make_environment

    env = make_environment()  # the renderer's own, with its filters
    names = sorted(set(HOOK_TEMPLATES.values()) | set(env.list_templates()))
    for name in names:
        env.get_template(name)
    check.detail = f"{len(names)} templates compiled from {TEMPLATE_DIR}"


def check_mikopbx_db(check: Check, path: Path) -> None:
    import sqlite3

    if not path.is_file():
        raise RuntimeError(f"{path} does not exist")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        version = conn.execute("select value from m_PbxSettings where key = 'PBXVersion'").fetchone()
        extensions = conn.execute("select count(*) from m_Extensions").fetchone()[0]
    finally:
        conn.close()
    check.detail = f"{path} read-only: PBXVersion {version[0] if version else '?'}, {extensions} extensions"


def check_state_dir(check: Check, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".doctor-{os.getpid()}"
    probe.write_text("x", encoding="utf-8")
    probe.unlink()
    check.detail = f"{path} writable"


def _run(name: str, body: Callable[[Check], None]) -> Check:
    check = Check(name)
    started = time.monotonic()
    try:
        body(check)
    except ModuleNotFoundError as exc:
        check.ok, check.detail = False, f"no module {_missing_name(exc)}"
        check.missing.append(_missing_name(exc))
    except Exception as exc:  # every failure is a finding to report, not a crash
        check.ok, check.detail = False, f"{type(exc).__name__}: {exc}"
    check.seconds = time.monotonic() - started
    return check


def _libc() -> str:
    """'glibc 2.36' (read once: platform scans the interpreter's binary for it)."""
    if not _LIBC:
        _LIBC.append(" ".join(platform.libc_ver()).strip())
    return _LIBC[0]


def interpreter() -> dict[str, Any]:
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "executable": sys.executable,
        "machine": os.uname().machine,
        "cache_tag": sys.implementation.cache_tag,
        "libc": _libc(),
        "runtime": [p for p in os.environ.get("PBXFED_RUNTIME", "").split(os.pathsep) if p],
    }


def run_checks(mikopbx_db: Path, state_dir: Path | None) -> dict[str, Any]:
    """Every check, in order; the report is what `doctor` prints."""
    started = time.monotonic()
    checks = [
        _run("imports", check_imports),
        _run("sqlite", check_sqlite),
        _run("zmq", check_zmq),
        _run("ctypes", check_ctypes),
        _run("templates", check_templates),
    ]
    with tempfile.TemporaryDirectory(prefix="doctor-", dir=_scratch_parent(state_dir)) as scratch:
        watch = [d for d in (mikopbx_db.parent, state_dir) if d is not None and d.is_dir()]
        checks.append(_run("inotify", lambda c: check_inotify(c, watch, Path(scratch))))
    checks.append(_run("mikopbx_db", lambda c: check_mikopbx_db(c, mikopbx_db)))
    if state_dir is not None:
        checks.append(_run("state_dir", lambda c: check_state_dir(c, state_dir)))
    missing = sorted({m for c in checks for m in c.missing})
    return {
        "ok": all(c.ok for c in checks),
        "version": python_worker.__version__,
        "python": interpreter(),
        "checks": [c.as_dict() for c in checks],
        "missing": missing,
        "seconds": round(time.monotonic() - started, 3),
    }


def _scratch_parent(state_dir: Path | None) -> str | None:
    """The state dir when it is usable (inotify on the station's own disk), else the system's temp dir."""
    if state_dir is not None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            if os.access(state_dir, os.W_OK):
                return str(state_dir)
        except OSError:
            pass
    return None
