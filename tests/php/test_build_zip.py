"""The marketplace zip: layout, and a real offline install into a custom_modules-shaped tree.

No network: dependency wheels come from a local directory (PBXFED_WHEELS, else build/wheels-cache
filled by `scripts/build_zip.py --cache-wheels build/wheels-cache`). Without one, the install part
is skipped and says why; the layout part always runs.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "build_zip.py"
MODULE_ID = "ModulePbxFederation"

pytestmark = pytest.mark.slow


def wheel_source() -> Path | None:
    configured = os.environ.get("PBXFED_WHEELS")
    candidate = Path(configured) if configured else REPO / "build" / "wheels-cache"
    if candidate.is_dir() and any(candidate.glob("pyzmq-*.whl")) and any(candidate.glob("pip-*.whl")):
        return candidate
    return None


def build(tmp_path: Path, wheels: Path, *extra: str) -> Path:
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, str(BUILD), "--wheels-from", str(wheels), "--out", str(out), *extra],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = json.loads((REPO / "module.json").read_text(encoding="utf-8"))["version"]
    target = out / f"{MODULE_ID}-{version}.zip"
    assert target.is_file()
    return target


def test_layout_has_module_json_at_root_and_no_dev_files(tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    target = build(tmp_path, empty, "--allow-missing")
    names = zipfile.ZipFile(target).namelist()

    assert "module.json" in names
    manifest = json.loads(zipfile.ZipFile(target).read("module.json"))
    assert manifest["moduleUniqueID"] == MODULE_ID
    for required in ("Setup/PbxExtensionSetup.php", "Lib/PbxFederationConf.php", "Lib/ReloadCore.php",
                     "Models/ModulePbxFederation.php", "Models/ModulePbxFederationPeers.php",
                     "Messages/ru.php", "Messages/en.php", "bin/safe.sh", "bin/pbxfed", "db/"):
        assert required in names, required
    assert any(n.startswith("wheels/pbxfed_worker-") and n.endswith("-py3-none-any.whl") for n in names)
    assert "python_worker/contract.json" in names  # what PHP and the worker share
    for name in names:
        if name == "python_worker/contract.json":
            continue
        top = name.split("/")[0]
        assert top not in {"tests", "python_worker", "scripts", ".venv", "venv", ".git", ".ci", "bench",
                           "docs", "dist", "build", "out"}, name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
    assert not any(n in names for n in ("pyproject.toml", ".gitignore"))

    info = zipfile.ZipFile(target).getinfo("bin/safe.sh")
    assert (info.external_attr >> 16) & stat.S_IXUSR


def test_same_input_gives_the_same_zip(tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    first = build(tmp_path / "a", empty, "--allow-missing").read_bytes()
    second = build(tmp_path / "b", empty, "--allow-missing").read_bytes()
    assert first == second


def test_worker_wheel_carries_the_package_and_its_dependencies(tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    target = build(tmp_path, empty, "--allow-missing")
    zf = zipfile.ZipFile(target)
    wheel_name = next(n for n in zf.namelist() if n.startswith("wheels/pbxfed_worker-"))
    (tmp_path / "w.whl").write_bytes(zf.read(wheel_name))
    wheel = zipfile.ZipFile(tmp_path / "w.whl")
    names = wheel.namelist()
    assert "python_worker/__main__.py" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = wheel.read(metadata).decode()
    for dep in ("SQLAlchemy", "Jinja2", "watchdog", "pyzmq"):
        assert f"Requires-Dist: {dep}" in text


def test_unpacks_and_installs_offline_into_a_custom_modules_tree(tmp_path: Path) -> None:
    wheels = wheel_source()
    if wheels is None:
        pytest.skip("no complete local wheel set: run scripts/build_zip.py --cache-wheels build/wheels-cache once")
    if shutil.which("php") is None:
        pytest.skip("php is not installed")
    target = build(tmp_path, wheels)
    module_dir = tmp_path / "storage" / "usbdisk1" / "mikopbx" / "custom_modules" / MODULE_ID
    module_dir.mkdir(parents=True)
    with zipfile.ZipFile(target) as zf:
        zf.extractall(module_dir)
        for info in zf.infolist():  # zipfile drops modes; Core's fixFilesRights does the same for bin/
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(module_dir / info.filename, mode)
    assert (module_dir / "module.json").is_file()
    assert os.access(module_dir / "bin" / "safe.sh", os.X_OK)

    # The module's own installer code (Lib/PythonEnvironment.php), for real, without network.
    root = json.dumps(str(module_dir))
    python3 = json.dumps(shutil.which("python3") or "/usr/bin/python3")
    driver = f"""
        spl_autoload_register(function ($c) {{
            $p = 'Modules\\\\ModulePbxFederation\\\\';
            if (strpos($c, $p) === 0)
                require {root} . '/' . str_replace('\\\\', '/', substr($c, strlen($p))) . '.php';
        }});
        $paths = new Modules\\ModulePbxFederation\\Lib\\WorkerPaths({root});
        $env = new Modules\\ModulePbxFederation\\Lib\\PythonEnvironment(
            $paths, new Modules\\ModulePbxFederation\\Lib\\ShellCommandRunner(), [{python3}]);
        $ok = $env->ensure();
        echo json_encode(['ok' => $ok, 'problems' => $env->problems(), 'ready' => $ok && $env->isReady()]);
    """
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    proc = subprocess.run(["php", "-r", driver], capture_output=True, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result == {"ok": True, "problems": [], "ready": True}, proc.stdout

    python = module_dir / "venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-I", "-c",
         "import python_worker, sqlalchemy, jinja2, watchdog, zmq; print(python_worker.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(module_dir / "venv") in probe.stdout, "the worker is imported from the venv, not the repository"
    help_run = subprocess.run([str(python), "-m", "python_worker", "--help"], capture_output=True, text=True,
                              cwd=tmp_path, check=False)
    assert help_run.returncode == 0, help_run.stderr
