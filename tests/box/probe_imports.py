"""Runs on the emulated station's python3 (python3.11-minimal + lib-dynload): exercises the worker's real
import graph and the C pieces it needs, and says what is missing.

Usage (inside the box): python3 probe_imports.py <scratch dir> <mikopbx.db> <stage>...
Stages: imports (every module of python_worker), sqlalchemy, jinja2, watchdog, zmq, cli (the worker's
own commands on a real MikoPBX-schema DB). Prints one line per finding:
  OK <stage> <detail>
  MISSING <module> <stage>          a hard ModuleNotFoundError (the stage could not run)
  ABSENT <module>                   looked for by some import and not found, but tolerated
  CEXT <module>                     a stdlib C extension (lib-dynload) that was loaded
  FAIL <stage> <text>               anything else
Only modules python3.11-minimal has are used here (no json, shutil, tempfile, ...).
"""

import importlib
import importlib.abc
import os
import re
import subprocess
import sys
import time

ABSENT = set()


class _Recorder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: asked only when no other finder found the module."""

    def find_spec(self, fullname, path=None, target=None):
        ABSENT.add(fullname)
        return None


sys.meta_path.append(_Recorder())


def c_extensions():
    """The stdlib C extension modules (lib-dynload) this process loaded."""
    out = []
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None) or ""
        if "/lib-dynload/" in f:
            out.append(name)
    return sorted(out)


def say(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


def missing_from(exc):
    name = getattr(exc, "name", None) or ""
    if not name:
        m = re.search(r"No module named '([^']+)'", str(exc))
        name = m.group(1) if m else "?"
    return name


def stage_imports(scratch, db):
    import pkgutil

    import python_worker

    # pkgutil lists a package's modules from a directory or from a zip alike.
    names = sorted(m.name for m in pkgutil.iter_modules(python_worker.__path__) if m.name != "__main__")
    for name in names:
        importlib.import_module("python_worker." + name)
    where = "zip" if ".zip" in python_worker.__file__ else "directory"
    say("OK imports", len(names), "modules of python_worker from a", where)


def stage_sqlalchemy(scratch, db):
    import sqlalchemy
    from sqlalchemy import create_engine, text

    path = os.path.join(scratch, "sa-probe.db")
    engine = create_engine("sqlite:///" + path)
    with engine.connect() as conn:
        one = conn.execute(text("select 1")).scalar()
        conn.execute(text("create table if not exists t (x integer)"))
        conn.execute(text("insert into t values (42)"))
        conn.commit()
        got = conn.execute(text("select x from t")).scalar()
    engine.dispose()
    if one != 1 or got != 42:
        raise RuntimeError(f"select gave {one!r}, {got!r}")
    from sqlalchemy.util import _has_cy

    say("OK sqlalchemy", sqlalchemy.__version__, "select 1 on a file DB; cython extensions:", _has_cy.HAS_CYEXTENSION)


def stage_jinja2(scratch, db):
    import jinja2
    import markupsafe

    loader = jinja2.PackageLoader("python_worker.render", "templates")
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined)
    names = env.list_templates()
    if not names:
        raise RuntimeError("PackageLoader found no templates")
    tdir = os.path.join(scratch, "tpl")
    os.makedirs(tdir, exist_ok=True)
    with open(os.path.join(tdir, "t.txt"), "w") as f:
        f.write("[{{ name }}]\n{% for p in peers %}exten => {{ p }},1,NoOp()\n{% endfor %}")
    out = jinja2.Environment(loader=jinja2.FileSystemLoader(tdir)).get_template("t.txt").render(name="x", peers=[1, 2])
    if out != "[x]\nexten => 1,1,NoOp()\nexten => 2,1,NoOp()\n":
        raise RuntimeError(f"render gave {out!r}")
    speed = getattr(markupsafe, "_speedups", None)
    say("OK jinja2", jinja2.__version__, "PackageLoader:", len(names), "templates; FileSystemLoader render;",
        "markupsafe speedups:", "yes" if speed is not None else "no")


def stage_watchdog(scratch, db):
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.inotify import InotifyObserver

    seen = []

    class H(FileSystemEventHandler):
        def on_any_event(self, event):
            seen.append(event.src_path)

    wdir = os.path.join(scratch, "watched")
    os.makedirs(wdir, exist_ok=True)
    obs = InotifyObserver()
    obs.schedule(H(), wdir, recursive=False)
    obs.start()
    try:
        with open(os.path.join(wdir, "module.db"), "w") as f:
            f.write("x")
        deadline = time.time() + 5
        while not seen and time.time() < deadline:
            time.sleep(0.05)
    finally:
        obs.stop()
        obs.join(5)
    if not seen:
        raise RuntimeError("no inotify event within 5 s")
    say("OK watchdog InotifyObserver saw", len(seen), "events")


def stage_zmq(scratch, db):
    import zmq

    ctx = zmq.Context()
    addr = "ipc://" + os.path.join(scratch, "probe.ipc")
    rep = ctx.socket(zmq.REP)
    rep.bind(addr)
    req = ctx.socket(zmq.REQ)
    req.connect(addr)
    req.setsockopt(zmq.RCVTIMEO, 5000)
    rep.setsockopt(zmq.RCVTIMEO, 5000)
    req.send(b"ping")
    if rep.recv() != b"ping":
        raise RuntimeError("bad request")
    rep.send(b"pong")
    answer = req.recv()
    public, secret = zmq.curve_keypair()
    req.close(0)
    rep.close(0)
    ctx.term()
    if answer != b"pong":
        raise RuntimeError("bad answer")
    say("OK zmq", zmq.zmq_version(), "pyzmq", zmq.__version__, "REQ/REP on ipc; curve:", zmq.has("curve"),
        "keypair", len(public), len(secret))


def stage_cli(scratch, db):
    """The worker's own commands, each in a fresh interpreter (as PHP or cron would start it)."""
    mdb = os.path.join(scratch, "module.db")
    state = os.path.join(scratch, "state")
    w = [sys.executable, os.path.abspath(__file__), "--run-module"]
    steps = [
        ["init", "--module-db", mdb],
        ["settings", "set", "--module-db", mdb, "--mikopbx-db", db,
         "--station-name", "moscow", "--own-patterns", "2XX"],
        ["peers", "add", "--module-db", mdb, "--mikopbx-db", db,
         "--name", "spb", "--host", "127.0.0.3", "--patterns", "3XX", "--secret", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"],
        ["plan", "--module-db", mdb, "--mikopbx-db", db, "--json"],
        ["render", "--module-db", mdb, "--mikopbx-db", db, "--out", state],
        ["apply", "--module-db", mdb, "--mikopbx-db", db, "--state-dir", state, "--dry-run", "--json"],
    ]
    for argv in steps:
        p = subprocess.run(w + argv, capture_output=True, text=True, timeout=120)
        for line in p.stdout.splitlines():
            if line.startswith(("MISSING ", "ABSENT ", "CEXT ")):
                print(line, flush=True)
        if p.returncode != 0:
            m = re.search(r"ModuleNotFoundError: No module named '([^']+)'", p.stderr)
            if m:
                say("MISSING", m.group(1), "cli:" + argv[0])
                return
            say("FAIL cli:" + " ".join(argv[:2]), "exit", p.returncode, p.stderr.strip().splitlines()[-3:])
            return
    # The watching worker itself (real apply into this copy of mikopbx.db, no reload command), until
    # `status` answers (bounded), then stopped by its PID.
    log_path = os.path.join(scratch, "worker.log")
    with open(log_path, "w") as logf:
        run = [*w, "run", "--module-db", mdb, "--mikopbx-db", db, "--state-dir", state,
               "--no-reload", "--sync-bind", "127.0.0.1"]
        worker = subprocess.Popen(run, stdout=logf, stderr=subprocess.STDOUT)
    try:
        answer = None
        deadline = time.time() + 120
        while time.time() < deadline and worker.poll() is None:
            try:
                p = subprocess.run([*w, "status", "--state-dir", state, "--json"], capture_output=True, text=True,
                                   timeout=60)
            except subprocess.TimeoutExpired:
                continue
            if p.returncode == 0 and '"spb"' in p.stdout:
                answer = p.stdout
                break
            time.sleep(0.3)
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
    with open(log_path) as f:
        wlog = f.read()
    for line in wlog.splitlines():
        if line.startswith(("MISSING ", "ABSENT ")):
            print(line, flush=True)
    m = re.search(r"ModuleNotFoundError: No module named '([^']+)'", wlog)
    if m:
        say("MISSING", m.group(1), "cli:run")
        return
    if answer is None:
        say("FAIL cli:run no status answer within 120 s; worker exit", worker.returncode,
            wlog.strip().splitlines()[-3:])
        return
    applied = "records" if "applied" in answer else "?"
    say("OK cli", len(steps), "worker commands (init, settings, peers add, plan, render, apply --dry-run), then",
        "`run` planned and applied peer spb and answered `status` (" + applied + ")")


def run_module(argv):
    """python_worker's CLI in this process, with the recorder: prints what was tolerated as absent."""
    import runpy

    sys.argv = ["python_worker", *argv]
    code = 0
    try:
        runpy.run_module("python_worker", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        for name in sorted(ABSENT):
            print("ABSENT", name, flush=True)
        for name in c_extensions():
            print("CEXT", name, flush=True)
    sys.exit(code)


STAGES = {
    "imports": stage_imports,
    "sqlalchemy": stage_sqlalchemy,
    "jinja2": stage_jinja2,
    "watchdog": stage_watchdog,
    "zmq": stage_zmq,
    "cli": stage_cli,
}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--run-module":
        run_module(sys.argv[2:])
        return
    scratch, db, stages = sys.argv[1], sys.argv[2], sys.argv[3:] or list(STAGES)
    say("PYTHON", sys.version.split()[0], sys.executable)
    for name in stages:
        t0 = time.time()
        try:
            STAGES[name](scratch, db)
            say("TIME", name, "%.2f" % (time.time() - t0))
        except ModuleNotFoundError as e:
            say("MISSING", missing_from(e), name)
        except Exception as e:
            say("FAIL", name, type(e).__name__, str(e)[:300])
    for name in sorted(ABSENT):
        say("ABSENT", name)
    for name in c_extensions():
        say("CEXT", name)


if __name__ == "__main__":
    main()
