"""The architecture, enforced: which folder of python_worker may import what (read from the source's imports)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "python_worker"
SIDE_EFFECTS = ("sqlalchemy", "zmq", "watchdog", "subprocess", "argparse", "jinja2", "sqlite3", "socket", "threading")

# folder -> the python_worker parts it may import (besides itself and the package's identity in __init__)
LAYERS: dict[str, set[str]] = {
    "core": set(),
    "render": {"core"},
    "db": {"core"},
    "apply": {"core", "db", "render", "pipeline", "statedir", "logs"},
    "sync": {"core", "db", "statedir", "logs"},
    "service": {"core", "db", "apply", "sync", "statedir", "logs"},
    "cli": {"core", "db", "apply", "service", "sync", "pipeline", "statedir", "logs", "demo", "box", "doctor"},
    "demo": {"core", "db", "pipeline"},
}
# third-party and system modules a folder may import at all (anything not listed is refused)
ALLOWED_SIDE_EFFECTS: dict[str, set[str]] = {
    "core": set(),
    "render": {"jinja2"},
    "db": {"sqlalchemy", "sqlite3"},
    "apply": {"sqlalchemy", "subprocess"},
    "sync": {"zmq", "threading"},
    # socket: the worker's one AMI connection (service/ami.py), device states of paired peers (issue 14)
    "service": {"zmq", "watchdog", "sqlalchemy", "threading", "socket"},
    "cli": {"argparse"},
    "demo": {"sqlite3"},
}
SUBPROCESS_HOME = "apply/system.py"  # the one module that runs commands


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _violations(path: Path, root: Path = PACKAGE) -> list[str]:
    rel = path.relative_to(root)
    folder = rel.parts[0] if len(rel.parts) > 1 else ""
    found = []
    for name in _imports(path):
        top = name.split(".")[0]
        if top in SIDE_EFFECTS:
            if top == "subprocess" and rel.as_posix() != SUBPROCESS_HOME:
                found.append(f"{rel}: subprocess outside {SUBPROCESS_HOME}")
            elif folder in ALLOWED_SIDE_EFFECTS and top not in ALLOWED_SIDE_EFFECTS[folder]:
                found.append(f"{rel}: imports {name}")
        if top == "python_worker" and folder in LAYERS:
            parts = name.split(".")
            part = parts[1] if len(parts) > 1 else ""
            if part and part != folder and part not in LAYERS[folder]:
                found.append(f"{rel}: imports {name}")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_its_layer(path: Path) -> None:
    assert _violations(path) == []


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    """A core module that reads the database, and a service module that runs a command, are both refused."""
    core = PACKAGE / "core" / "planner.py"
    fake = tmp_path / "python_worker" / "core" / "planner.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(core.read_text() + "\nimport subprocess\nfrom sqlalchemy import text\n"
                    "from python_worker.db.snapshot import read_snapshot\n")
    assert sorted(_violations(fake, tmp_path / "python_worker")) == [
        "core/planner.py: imports python_worker.db.snapshot", "core/planner.py: imports sqlalchemy",
        "core/planner.py: subprocess outside apply/system.py"]
    service = tmp_path / "python_worker" / "service" / "status.py"
    service.parent.mkdir(parents=True)
    service.write_text("import subprocess\nimport argparse\n")
    assert sorted(_violations(service, tmp_path / "python_worker")) == [
        "service/status.py: imports argparse", "service/status.py: subprocess outside apply/system.py"]


def test_status_client_loads_no_engine() -> None:
    """`status` (what support and the CLI ask a running worker) loads neither SQLAlchemy nor Jinja2 nor the planner."""
    code = ("import sys; import python_worker.cli.parser, python_worker.cli.client_cmds; "
            "print(sorted({m.split('.')[0] if not m.startswith('python_worker') else m for m in sys.modules "
            "if m.startswith(('sqlalchemy', 'jinja2', 'python_worker.core.planner', 'python_worker.render'))}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
