"""python/boot.py, the launcher bin/pbxfed runs: its refusals keep the doctor's JSON shape.

PHP (Lib/PythonEnvironment.php) turns a doctor report whose `missing` names modules into the translated
"lacks <modules>" refusal; a launcher that dies on an import before the worker loads must say the same.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def module_tree(tmp_path: Path, main_source: str) -> Path:
    """A module directory with the real launcher and a stand-in package `fakeworker` for the worker."""
    module = tmp_path / "ModulePbxFederation"
    (module / "python").mkdir(parents=True)
    shutil.copyfile(REPO / "python" / "boot.py", module / "python" / "boot.py")
    (module / "fakeworker").mkdir()
    (module / "fakeworker" / "__init__.py").write_text("")
    (module / "fakeworker" / "__main__.py").write_text(main_source)
    return module


def launch(module: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(module / "python" / "boot.py"), "-m", "fakeworker", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_doctor_names_a_module_missing_before_the_worker_loads(tmp_path: Path) -> None:
    module = module_tree(tmp_path, "import pbxfed_no_such_dependency\n")
    proc = launch(module, "doctor")
    assert proc.returncode == 6, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    assert report["missing"] == ["pbxfed_no_such_dependency"]
    assert [c["name"] for c in report["checks"]] == ["imports"]
    assert "pbxfed_no_such_dependency" in report["checks"][0]["detail"]
    assert "lacks the module pbxfed_no_such_dependency" in proc.stderr


def test_other_commands_refuse_on_stderr_only(tmp_path: Path) -> None:
    module = module_tree(tmp_path, "import pbxfed_no_such_dependency\n")
    proc = launch(module, "status")
    assert proc.returncode == 6
    assert proc.stdout == ""
    assert "lacks the module pbxfed_no_such_dependency" in proc.stderr


def test_a_missing_module_of_the_worker_itself_is_a_bug_not_a_refusal(tmp_path: Path) -> None:
    module = module_tree(tmp_path, "import fakeworker.gone\n")
    proc = launch(module, "doctor")
    assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr
    assert proc.stdout == ""


def test_the_worker_runs_with_its_arguments(tmp_path: Path) -> None:
    module = module_tree(tmp_path, "import sys\nprint(sys.argv[1:])\nsys.exit(3)\n")
    proc = launch(module, "status", "--json")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == "['status', '--json']"
