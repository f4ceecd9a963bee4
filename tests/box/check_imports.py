"""Every stdlib module python_worker imports anywhere (function-level and rarely-run paths included, read from the
source) exists on the emulated station: in python3.11-minimal, built into its interpreter, in its lib-dynload, or
in the stdlib supplement the zip carries (python/stdlib-needed.txt). The doctor and the station test run the
imports that happen; this catches the ones that only happen on a rare path.

  python3 tests/box/check_imports.py      (root: reads the box's tree and asks its python3 for its builtins)
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BOX = Path(os.environ.get("PBXFED_BOX", "/var/cache/pbxfed/box311"))
MINIMAL = BOX / "usr/lib/python3.11"
SHIPPED_PACKAGES = {"sqlalchemy", "jinja2", "markupsafe", "watchdog", "zmq", "typing_extensions"}
FALLBACKS = {"_pydecimal"}


def imported_modules(root: Path) -> dict[str, str]:
    """Top-level module name -> first file:line importing it, for every import statement under root."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def box_has(name: str, builtins: set[str]) -> bool:
    if name in builtins or (MINIMAL / f"{name}.py").is_file() or (MINIMAL / name / "__init__.py").is_file():
        return True
    return any((MINIMAL / "lib-dynload").glob(f"{name}.cpython-311-*.so"))


def main() -> int:
    if not (BOX / ".pbxfed-box-ready").exists():
        raise SystemExit(f"{BOX} is not set up: bash tests/box/setup.sh")
    out = subprocess.run(["chroot", str(BOX), "python3", "-c", "import sys; print(' '.join(sys.builtin_module_names))"],
                         capture_output=True, text=True, check=True, timeout=60)
    builtins = set(out.stdout.split())
    supplement = {ln.strip() for ln in (REPO / "python/stdlib-needed.txt").read_text().splitlines()
                  if ln.strip() and not ln.startswith("#")} | FALLBACKS
    missing = []
    stdlib = set(sys.stdlib_module_names)
    for name, where in sorted(imported_modules(REPO / "python_worker").items()):
        if name == "python_worker" or name in SHIPPED_PACKAGES:
            continue
        if name not in stdlib:
            missing.append(f"{name} ({where}): neither stdlib nor a package the zip carries")
        elif not box_has(name, builtins) and name not in supplement:
            missing.append(f"{name} ({where}): not in python3.11-minimal and not in python/stdlib-needed.txt")
    for line in missing:
        print("MISSING", line)
    if not missing:
        print("check_imports: every module python_worker imports is on the station or in the zip")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
