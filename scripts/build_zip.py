#!/usr/bin/env python3
"""Builds the MikoPBX marketplace zip of ModulePbxFederation (module.json at the root, wheels vendored).

Usage:
  scripts/build_zip.py                       # downloads wheels from PyPI, writes dist/ModulePbxFederation-<v>.zip
  scripts/build_zip.py --wheels-from DIR     # no download: take the dependency wheels from DIR
  scripts/build_zip.py --cache-wheels DIR    # download into DIR (kept) and build from it

Stations have no network, so the zip carries every runtime wheel for each target platform and Python
version, plus pip itself (run from its wheel, ensurepip is not needed) and the worker as a wheel.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE_ID = "ModulePbxFederation"

# What a station needs; everything else (tests, caches, venvs, dev files, the worker's source) stays out.
INCLUDE_DIRS = ("App", "Lib", "Models", "Setup", "Messages", "public", "bin", "agi-bin")
INCLUDE_FILES = ("module.json", "LICENSE", "README.md", "python_worker/contract.json")  # contract: read by PHP too
EMPTY_DIRS = ("db",)
EXCLUDE_PARTS = {"__pycache__", ".git", ".venv", "venv", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                 ".hypothesis", "node_modules", "src"}
EXCLUDE_SUFFIXES = (".pyc", ".pyo", ".map", ".orig", ".rej", ".swp", "~")
EXCLUDE_NAMES = {".DS_Store", ".gitkeep", "Thumbs.db"}

DEFAULT_PLATFORMS = ("manylinux2014_x86_64", "manylinux2014_aarch64")
DEFAULT_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PIP_REQUIREMENT = "pip==24.3.1"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def runtime_requirements(pyproject: Path) -> list[str]:
    """[project].dependencies of pyproject.toml."""
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib

        return list(tomllib.loads(text)["project"]["dependencies"])
    except ModuleNotFoundError:  # Python 3.10
        block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M)
        if block is None:
            raise SystemExit("no [project].dependencies in pyproject.toml") from None
        return re.findall(r'"([^"]+)"', block.group(1))


def module_version() -> str:
    return str(json.loads((REPO / "module.json").read_text(encoding="utf-8"))["version"])


def is_excluded(rel: Path) -> bool:
    if any(part in EXCLUDE_PARTS for part in rel.parts):
        return True
    return rel.name in EXCLUDE_NAMES or rel.name.endswith(EXCLUDE_SUFFIXES)


def module_files() -> list[Path]:
    """Repository-relative paths of the files that go into the zip."""
    files: list[Path] = []
    for name in INCLUDE_FILES:
        if (REPO / name).is_file():
            files.append(Path(name))
    for top in INCLUDE_DIRS:
        base = REPO / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(REPO)
            if path.is_file() and not is_excluded(rel):
                files.append(rel)
    return sorted(files)


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def project_metadata(pyproject: Path) -> dict[str, object]:
    """[project] table of pyproject.toml (name, version, requires-python, dependencies)."""
    text = pyproject.read_text(encoding="utf-8")
    try:
        import tomllib

        return dict(tomllib.loads(text)["project"])
    except ModuleNotFoundError:  # Python 3.10
        def field(key: str) -> str:
            found = re.search(rf'^{key}\s*=\s*"([^"]*)"', text, re.M)
            return found.group(1) if found else ""

        return {"name": field("name"), "version": field("version"),
                "requires-python": field("requires-python"), "dependencies": runtime_requirements(pyproject)}


def build_worker_wheel(dest: Path) -> Path:
    """The worker as a pure-Python wheel (py3-none-any), written directly: no setuptools, no network."""
    meta = project_metadata(REPO / "pyproject.toml")
    dist = str(meta["name"]).replace("-", "_")
    version = module_version()  # module.json: the one version source
    info_dir = f"{dist}-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for path in sorted((REPO / "python_worker").rglob("*")):
        rel = path.relative_to(REPO)
        if path.is_file() and not is_excluded(rel):
            files.append((rel.as_posix(), path.read_bytes()))
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {meta['name']}",
        f"Version: {version}",
        f"Summary: {meta.get('description', '')}",
        f"Requires-Python: {meta.get('requires-python', '')}",
        *[f"Requires-Dist: {req}" for req in meta["dependencies"]],  # type: ignore[union-attr]
    ]
    files.append((f"{info_dir}/METADATA", ("\n".join(metadata) + "\n").encode()))
    wheel_info = ("Wheel-Version: 1.0\nGenerator: ModulePbxFederation build_zip.py\n"
                  "Root-Is-Purelib: true\nTag: py3-none-any\n")
    files.append((f"{info_dir}/WHEEL", wheel_info.encode()))
    files.append((f"{info_dir}/top_level.txt", b"python_worker\n"))
    record = []
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info_dir}/RECORD,,")
    files.append((f"{info_dir}/RECORD", ("\n".join(record) + "\n").encode()))

    target = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return target


def download_wheels(dest: Path, requirements: list[str], platforms: list[str], pythons: list[str]) -> None:
    """Binary wheels only, for every platform and Python version a station may have."""
    for platform in platforms:
        for version in pythons:
            abi = "cp" + version.replace(".", "")
            run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                 "--only-binary=:all:", "--platform", platform, "--python-version", version,
                 "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
                 "--dest", str(dest), *requirements])
    run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
         "--no-deps", "--dest", str(dest), PIP_REQUIREMENT])


def check_wheels(wheels: Path, requirements: list[str]) -> list[str]:
    """Names of required distributions that have no wheel at all (a cheap sanity check)."""
    have = {re.sub(r"[-_.]+", "_", w.name.split("-")[0]).lower() for w in wheels.glob("*.whl")}
    missing = []
    for req in [*requirements, "pip", "pbxfed-worker"]:
        name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]
        if re.sub(r"[-_.]+", "_", name).lower() not in have:
            missing.append(name)
    return missing


def write_zip(target: Path, files: list[Path], wheels: Path) -> None:
    """Deterministic zip: sorted entries, fixed timestamps, executable bits kept for bin/."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in EMPTY_DIRS:
            info = zipfile.ZipInfo(name + "/", FIXED_TIME)
            info.external_attr = (stat.S_IFDIR | 0o755) << 16
            zf.writestr(info, b"")
        entries = [(str(rel), REPO / rel) for rel in files]
        entries += [(f"wheels/{w.name}", w) for w in sorted(wheels.glob("*.whl"))]
        for arcname, path in sorted(entries):
            info = zipfile.ZipInfo(arcname, FIXED_TIME)
            executable = arcname.startswith("bin/") or bool(path.stat().st_mode & stat.S_IXUSR)
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_STORED if arcname.endswith(".whl") else zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output directory (default dist/)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wheels-from", type=Path, help="take dependency wheels from this directory, no download")
    source.add_argument("--cache-wheels", type=Path, help="download into this directory and keep it")
    parser.add_argument("--platform", action="append", dest="platforms", help="pip platform tag (repeatable)")
    parser.add_argument("--python-version", action="append", dest="pythons", help="target Python X.Y (repeatable)")
    parser.add_argument("--allow-missing", action="store_true", help="do not fail when a runtime wheel is missing")
    args = parser.parse_args(argv)

    requirements = runtime_requirements(REPO / "pyproject.toml")
    platforms = args.platforms or list(DEFAULT_PLATFORMS)
    pythons = args.pythons or list(DEFAULT_PYTHONS)

    with tempfile.TemporaryDirectory(prefix="pbxfed-build-") as tmp:
        wheels = Path(tmp) / "wheels"
        wheels.mkdir()
        if args.wheels_from is not None:
            for wheel in sorted(args.wheels_from.glob("*.whl")):
                if not wheel.name.startswith("pbxfed_worker-"):
                    shutil.copy2(wheel, wheels / wheel.name)
        else:
            cache = args.cache_wheels or (Path(tmp) / "download")
            cache.mkdir(parents=True, exist_ok=True)
            download_wheels(cache, requirements, platforms, pythons)
            for wheel in sorted(cache.glob("*.whl")):
                if not wheel.name.startswith("pbxfed_worker-"):
                    shutil.copy2(wheel, wheels / wheel.name)
        build_worker_wheel(wheels)
        missing = check_wheels(wheels, requirements)
        if missing and not args.allow_missing:
            print(f"missing wheels: {', '.join(missing)}", file=sys.stderr)
            return 1
        target = args.out / f"{MODULE_ID}-{module_version()}.zip"
        write_zip(target, module_files(), wheels)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
