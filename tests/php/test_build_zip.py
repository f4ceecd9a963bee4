"""The marketplace zip: its layout, determinism, and the worker run from it by the module's own installer code.

No network: the runtime's inputs come from the caches scripts/build_zip.py fills (build/wheels-cache,
build/stdlib-cache; tests/php/run.sh fills them once). The emulated station's minimal python3 is tests/box's; here
the unpacked zip runs on this host's CPython 3.11 (a full stdlib), which proves the zip's own consistency.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "build_zip.py"
MODULE_ID = "ModulePbxFederation"
ARCHES = {"x86_64": 62, "aarch64": 183}  # ELF e_machine
MAX_FILES = 150  # Core's install runs a permission pass over every file (2024.1: one chmod process per file)
PYC_MAGIC_311 = (3495).to_bytes(2, "little") + b"\r\n"

pytestmark = pytest.mark.slow


def load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_zip", BUILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def build(out: Path, *extra: str) -> Path:
    proc = subprocess.run([sys.executable, str(BUILD), "--offline", "--out", str(out), *extra],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = json.loads((REPO / "module.json").read_text(encoding="utf-8"))["version"]
    target = out / f"{MODULE_ID}-{version}.zip"
    assert target.is_file()
    assert f"{target.stat().st_size} bytes" in proc.stderr, "the size is reported"
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist"))


def stdlib_needed() -> list[str]:
    text = (REPO / "python" / "stdlib-needed.txt").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_layout_is_the_php_host_the_worker_and_one_runtime_per_cpython(built: Path) -> None:
    zf = zipfile.ZipFile(built)
    names = zf.namelist()
    assert json.loads(zf.read("module.json"))["moduleUniqueID"] == MODULE_ID
    for required in ("Setup/PbxExtensionSetup.php", "Lib/PbxFederationConf.php", "Lib/PythonEnvironment.php",
                     "Messages/ru.php", "Messages/en.php", "bin/safe.sh", "bin/pbxfed", "db/",
                     "python/boot.py", "python/cp311.zip", "python/cp311-stdlib.zip", "python/runtime.json",
                     "python/cp311-LICENSES.txt",
                     # the worker as plain files: it reads its templates and contract.json (PHP reads it too)
                     "python_worker/__main__.py", "python_worker/contract.json", "python_worker/doctor.py",
                     "python_worker/render/templates/hints.j2"):
        assert required in names, required
    for name in names:
        top = name.split("/")[0]
        assert top not in {"tests", "scripts", ".venv", "venv", "wheels", ".git", ".ci", "bench", "docs", "dist",
                           "build", "out"}, name
        assert not name.endswith((".whl", ".pyc")) and "__pycache__" not in name, name
    assert len([n for n in names if not n.endswith("/")]) <= MAX_FILES
    for script in ("bin/safe.sh", "bin/pbxfed"):
        assert (zf.getinfo(script).external_attr >> 16) & stat.S_IXUSR, script


def test_each_cpu_directory_holds_only_pyzmqs_native_code_for_that_cpu(built: Path) -> None:
    zf = zipfile.ZipFile(built)
    for arch, machine in ARCHES.items():
        files = [n for n in zf.namelist() if n.startswith(f"python/cp311-{arch}/")]
        assert f"python/cp311-{arch}/zmq/backend/cython/_zmq.cpython-311-{arch}-linux-gnu.so" in files
        assert any("/pyzmq.libs/libzmq-" in n for n in files) and any("/pyzmq.libs/libsodium-" in n for n in files)
        for name in files:
            data = zf.read(name)
            assert data[:4] == b"\x7fELF", name
            assert struct.unpack_from("<H", data, 18)[0] == machine, f"{name} is not {arch} code"


def test_runtime_zips_hold_cpython_311_bytecode_uncompressed(built: Path) -> None:
    outer = zipfile.ZipFile(built)
    for inner_name, must in (("python/cp311.zip", ["sqlalchemy/__init__.pyc", "jinja2/__init__.pyc",
                                                   "markupsafe/__init__.pyc", "watchdog/observers/inotify.pyc",
                                                   "typing_extensions.pyc", "zmq/__init__.pyc",
                                                   "zmq/auth/thread.pyc", "zmq/utils/monitor.pyc"]),
                             ("python/cp311-stdlib.zip", ["_pydecimal.pyc"])):
        inner = zipfile.ZipFile(__import__("io").BytesIO(outer.read(inner_name)))
        names = inner.namelist()
        for name in must:
            assert name in names, (inner_name, name)
        assert names and all(n.endswith(".pyc") for n in names), inner_name
        assert not any(n.startswith(("zmq/tests/", "zmq/backend/cffi/", "greenlet")) for n in names)
        for info in inner.infolist():
            assert info.compress_type == zipfile.ZIP_STORED, info.filename
            head = inner.read(info)[:8]
            assert head[:4] == PYC_MAGIC_311, info.filename
            assert struct.unpack_from("<I", head, 4)[0] == 0b01, f"{info.filename}: not an unchecked-hash pyc"
        if inner_name.endswith("stdlib.zip"):
            tops = {n.split("/")[0].removesuffix(".pyc") for n in names}
            assert tops == {*stdlib_needed(), "_pydecimal"}


def test_manifest_names_the_pinned_inputs(built: Path) -> None:
    manifest = json.loads(zipfile.ZipFile(built).read("python/runtime.json"))
    rt = manifest["runtimes"]["cp311"]
    assert rt["arches"] == ["aarch64", "x86_64"]
    assert rt["packages"]["sqlalchemy"] == "2.0.36" and rt["packages"]["pyzmq"] == "26.2.0"
    assert "greenlet" not in rt["packages"]
    assert rt["stdlib"]["from"] == "libpython3.11-stdlib_3.11.2-6+deb12u8_amd64.deb"
    assert rt["compiled_by"].startswith("CPython 3.11.")


def test_same_inputs_give_the_same_zip(built: Path, tmp_path: Path) -> None:
    assert build(tmp_path / "again").read_bytes() == built.read_bytes()


def test_offline_without_the_caches_names_what_is_missing(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BUILD), "--offline", "--out", str(tmp_path / "d"),
                           "--wheels-cache", str(tmp_path / "none"), "--stdlib-cache", str(tmp_path / "none")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode != 0
    assert "--offline" in proc.stderr and str(tmp_path / "none") in proc.stderr and "sha256" in proc.stderr


def test_a_lock_that_disagrees_with_pyproject_is_refused() -> None:
    builder = load_builder()
    runtimes = builder.read_lock()
    entry = runtimes["cp311"].wheels["x86_64"][0]
    entry.file = entry.file.replace("2.0.36", "2.0.35")
    with pytest.raises(SystemExit, match="pins 2.0.36"):
        builder.check_pins(runtimes)


def test_no_runtime_build_is_the_php_host_and_the_worker_only(tmp_path: Path) -> None:
    names = zipfile.ZipFile(build(tmp_path, "--no-runtime")).namelist()
    assert "python/boot.py" in names and "python_worker/doctor.py" in names
    assert not any(n.startswith("python/cp") for n in names)


def host_python311() -> str | None:
    for cand in ("/usr/bin/python3.11", shutil.which("python3.11"), sys.executable):
        if cand and Path(cand).is_file():
            out = subprocess.run([cand, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                                 capture_output=True, text=True, check=False)
            if out.stdout.strip() == "True":
                return cand
    return None


@pytest.fixture
def station(built: Path, tmp_path: Path) -> Path:
    """The zip unpacked as Core does it (no modes kept; then bin/ executable) into a custom_modules tree."""
    module_dir = tmp_path / "storage" / "usbdisk1" / "mikopbx" / "custom_modules" / MODULE_ID
    module_dir.mkdir(parents=True)
    with zipfile.ZipFile(built) as zf:
        zf.extractall(module_dir)
    for path in (module_dir / "bin").iterdir():
        path.chmod(0o755)
    sys.path.insert(0, str(REPO))
    from tests.e2e.mikopbx_station import add_phone, create_db

    db = create_db(tmp_path / "mikopbx.db")
    add_phone(db, "201", "s201secret", "Ivan")
    db.commit()
    db.close()
    return module_dir


def test_the_unpacked_zip_runs_the_doctor_on_cpython_311(station: Path, tmp_path: Path) -> None:
    python = host_python311()
    if python is None:
        pytest.skip("no CPython 3.11 on this host (the emulated station of tests/box runs the same check)")
    env = dict(os.environ, PBXFED_PYTHON=python)
    env.pop("PYTHONPATH", None)
    pbxfed = ["sh", str(station / "bin" / "pbxfed")]
    probe = subprocess.run([*pbxfed, "probe"], capture_output=True, text=True, env=env, check=False, timeout=60)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert "runtime=cp311-x86_64" in probe.stdout.splitlines() or "runtime=cp311-aarch64" in probe.stdout
    doctor = subprocess.run([*pbxfed, "doctor", "--mikopbx-db", str(tmp_path / "mikopbx.db")], capture_output=True,
                            text=True, env=env, check=False, timeout=300, cwd=tmp_path)
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 0 and report["ok"], doctor.stdout + doctor.stderr
    assert {c["name"] for c in report["checks"]} >= {"imports", "sqlite", "zmq", "inotify", "ctypes", "templates",
                                                     "mikopbx_db", "state_dir"}
    runtime = report["python"]["runtime"]
    assert runtime[0] == str(station / "python" / "cp311.zip"), "SQLAlchemy and co. come from the module's zip"
    assert runtime[-1] == str(station / "python" / "cp311-stdlib.zip")


def test_the_installer_code_accepts_the_unpacked_zip(station: Path, tmp_path: Path) -> None:
    """Lib/PythonEnvironment.php for real (ShellCommandRunner, bin/pbxfed, python/boot.py), no Core around it."""
    python = host_python311()
    if python is None or shutil.which("php") is None:
        pytest.skip("needs php and a CPython 3.11 on this host")
    root = json.dumps(str(station))
    driver = f"""
        spl_autoload_register(function ($c) {{
            $p = 'Modules\\\\ModulePbxFederation\\\\';
            if (strpos($c, $p) === 0)
                require {root} . '/' . str_replace('\\\\', '/', substr($c, strlen($p))) . '.php';
        }});
        $paths = new Modules\\ModulePbxFederation\\Lib\\WorkerPaths({root});
        $env = new Modules\\ModulePbxFederation\\Lib\\PythonEnvironment(
            $paths, new Modules\\ModulePbxFederation\\Lib\\ShellCommandRunner(), [{json.dumps(python)}]);
        $ok = $env->check() && $env->doctor();
        echo json_encode(['ok' => $ok, 'problems' => $env->problems(), 'shipped' => $env->shippedText()]);
    """
    env = dict(os.environ, PBXFED_MIKOPBX_DB=str(tmp_path / "mikopbx.db"))
    proc = subprocess.run(["php", "-r", driver], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {"ok": True, "problems": [], "shipped": "CPython 3.11 (aarch64, x86_64)"}
