#!/usr/bin/env python3
"""Builds the MikoPBX marketplace zip of ModulePbxFederation: the PHP host, the worker, and its runtime for the
box's own CPython (no venv, no pip on the station; docs/module-package.md has the layout and why).

  scripts/build_zip.py                 # dist/ModulePbxFederation-<version>.zip; downloads only what no cache has
  scripts/build_zip.py --offline       # never download: every input must be in its cache (else it says which)
  scripts/build_zip.py --no-runtime    # PHP host + worker only (layout tests; not installable)

Inputs are exactly those of python/runtime.lock, each checked by its sha256: wheels (cache build/wheels-cache,
filled by `pip download`), Debian bookworm's libpython3.11-stdlib .deb (cache build/stdlib-cache, filled by
`apt-get download`). Bytecode is compiled by a CPython of the same minor version (--python cp311=PATH, else
python3.11 on PATH) with PYTHONHASHSEED=0 into unchecked-hash .pyc: no timestamps, so the same inputs give a
byte-identical zip. Prints the zip's path, size and file count.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE_ID = "ModulePbxFederation"
LOCK = REPO / "python" / "runtime.lock"
STDLIB_NEEDED = REPO / "python" / "stdlib-needed.txt"

# The PHP host and the worker; everything else (tests, caches, venvs, dev files) stays out.
INCLUDE_DIRS = ("App", "Lib", "Models", "Setup", "Messages", "public", "bin", "agi-bin", "python_worker")
INCLUDE_FILES = ("module.json", "LICENSE", "README.md", "python/boot.py")
EMPTY_DIRS = ("db",)
EXCLUDE_PARTS = {
    "__pycache__",
    ".git",
    ".venv",
    "venv",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
    "src",
}
EXCLUDE_SUFFIXES = (".pyc", ".pyo", ".map", ".orig", ".rej", ".swp", "~")
EXCLUDE_NAMES = {".DS_Store", ".gitkeep", "Thumbs.db"}
FIXED_TIME = (2024, 1, 1, 0, 0, 0)

# From a wheel the runtime takes its .py files (compiled into <abi>.zip) and, for these distributions only, its
# C extensions and bundled libraries (into <abi>-<arch>/). SQLAlchemy's Cython modules and MarkupSafe's
# _speedups are left out: both packages fall back to pure Python by themselves, the measured start-up is the
# same (docs/module-package.md), and a zip cannot load a .so. greenlet (SQLAlchemy's asyncio only) is not shipped.
C_EXTENSION_DISTS = {"pyzmq"}
DROP_PACKAGE_PARTS = ("zmq/tests/", "zmq/backend/cffi/")  # pyzmq's test suite; its CFFI backend (needs cffi)
# Pure-Python fallbacks of stdlib C modules, shipped in case the box's interpreter lacks the C module.
STDLIB_FALLBACKS = ("_pydecimal",)
STDLIB_EXCLUDE = ("test/", "tests/", "idle_test/")
LICENSE_RE = re.compile(r"\.dist-info/(licenses/.*|LICEN[CS]E.*|COPYING.*|NOTICE.*|AUTHORS.*)$", re.I)

COMPILER = r"""
import os, py_compile, sys
root, prefix = sys.argv[1], sys.argv[2]
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(files):
        if name.endswith(".py"):
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, root).replace(os.sep, "/")
            py_compile.compile(src, cfile=src + "c", dfile=prefix + rel, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
print("%d.%d.%d" % sys.version_info[:3])
"""


@dataclass
class LockEntry:
    abi: str
    arch: str
    kind: str
    file: str
    sha256: str


@dataclass
class Runtime:
    """What one CPython minor version gets: its pure zip, its stdlib zip, one C directory per CPU."""

    abi: str
    wheels: dict[str, list[LockEntry]] = field(default_factory=dict)  # arch -> wheels
    stdlib: LockEntry | None = None


def read_lock(path: Path = LOCK) -> dict[str, Runtime]:
    runtimes: dict[str, Runtime] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        abi, arch, kind, name, sha = line.split()
        entry = LockEntry(abi, arch, kind, name, sha)
        rt = runtimes.setdefault(abi, Runtime(abi))
        if kind == "wheel":
            rt.wheels.setdefault(arch, []).append(entry)
        elif kind == "stdlib":
            rt.stdlib = entry
        else:
            raise SystemExit(f"{path}: unknown kind {kind!r}")
    return runtimes


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wheel_dist(name: str) -> tuple[str, str]:
    """(normalised distribution name, version) of a wheel file name."""
    dist, version = name.split("-")[:2]
    return re.sub(r"[-_.]+", "_", dist).lower(), version


def pyproject_pins() -> dict[str, str]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M)
    pins = {}
    for req in re.findall(r'"([^"]+)"', block.group(1) if block else ""):
        name, _, version = req.partition("==")
        pins[re.sub(r"[-_.]+", "_", name).lower()] = version
    return pins


def check_pins(runtimes: dict[str, Runtime]) -> None:
    """The lock ships the versions pyproject.toml pins (the dev venv and the box run the same code)."""
    for rt in runtimes.values():
        for arch, wheels in rt.wheels.items():
            have = dict(wheel_dist(w.file) for w in wheels)
            for name, version in pyproject_pins().items():
                if have.get(name) != version:
                    raise SystemExit(
                        f"{LOCK}: {rt.abi}/{arch} ships {name} {have.get(name)}, " f"pyproject.toml pins {version}"
                    )


# ---------------------------------------------------------------- fetching (only what no cache has)


def run(cmd: list[str], cwd: Path | None = None) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=cwd)


def fetch_wheel(entry: LockEntry, cache: Path, offline: bool) -> Path:
    target = cache / entry.file
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    if offline:
        raise SystemExit(f"--offline: {target} is missing or not sha256 {entry.sha256}")
    cache.mkdir(parents=True, exist_ok=True)
    dist, version = wheel_dist(entry.file)
    platform = entry.file[:-4].split("-")[-1].split(".")[0]
    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(cache),
        f"{dist}=={version}",
    ]
    if platform != "any":
        args += [
            "--platform",
            platform,
            "--python-version",
            entry.abi[2] + "." + entry.abi[3:],
            "--implementation",
            "cp",
            "--abi",
            entry.abi,
            "--abi",
            "abi3",
            "--abi",
            "none",
        ]
    run(args)
    if not target.is_file() or sha256_of(target) != entry.sha256:
        raise SystemExit(f"pip download gave no {entry.file} with sha256 {entry.sha256}")
    return target


def fetch_deb(entry: LockEntry, cache: Path, offline: bool) -> Path:
    target = cache / entry.file
    if target.is_file() and sha256_of(target) == entry.sha256:
        return target
    hint = f"put {entry.file} (sha256 {entry.sha256}; Debian bookworm, pool/main/p/python3.11/) into {cache}"
    if offline or shutil.which("apt-get") is None:
        raise SystemExit(f"{'--offline' if offline else 'no apt-get'}: {hint}")
    cache.mkdir(parents=True, exist_ok=True)
    package, version = entry.file.split("_")[:2]
    try:
        run(["apt-get", "download", f"{package}={version}"], cwd=cache)
    except subprocess.CalledProcessError:
        raise SystemExit(f"apt-get download {package}={version} failed: {hint}") from None
    if not target.is_file() or sha256_of(target) != entry.sha256:
        raise SystemExit(f"apt-get download gave no {entry.file} with sha256 {entry.sha256}: {hint}")
    return target


# ---------------------------------------------------------------- unpacking


def deb_data(deb: Path) -> tarfile.TarFile:
    """The data.tar.* member of a .deb (an ar archive), without dpkg."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise SystemExit(f"{deb}: not a .deb")
    pos = 8
    while pos + 60 <= len(raw):
        header = raw[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[pos + 60 : pos + 60 + size]
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
        pos += 60 + size + (size & 1)
    raise SystemExit(f"{deb}: no data.tar member")


def stdlib_names() -> list[str]:
    names = [
        ln.strip()
        for ln in STDLIB_NEEDED.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return sorted({*names, *STDLIB_FALLBACKS})


def unpack_stdlib(deb: Path, abi: str, dest: Path, licenses: dict[str, bytes]) -> list[str]:
    """The listed top-level stdlib modules (.py only, no tests) of libpython3.X-stdlib into dest."""
    base = f"./usr/lib/python{abi[2]}.{abi[3:]}/"
    wanted = stdlib_names()
    found: set[str] = set()
    with deb_data(deb) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith("/copyright") and "/usr/share/doc/" in member.name:
                copyright_file = tar.extractfile(member)
                assert copyright_file is not None
                licenses[f"python{abi[2]}.{abi[3:]}-stdlib/copyright"] = copyright_file.read()
            if not member.isfile() or not member.name.startswith(base) or not member.name.endswith(".py"):
                continue
            rel = member.name[len(base) :]
            top = rel.split("/")[0].removesuffix(".py")
            if top not in wanted or any(part in rel for part in STDLIB_EXCLUDE):
                continue
            found.add(top)
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            extracted = tar.extractfile(member)
            assert extracted is not None
            out.write_bytes(extracted.read())
    missing = sorted(set(wanted) - found)
    if missing:
        raise SystemExit(f"{deb}: no {', '.join(missing)} in {base}")
    return sorted(found)


def is_extension(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def unpack_wheel(wheel: Path, pure: dict[str, bytes], native: dict[str, bytes], licenses: dict[str, bytes]) -> None:
    dist, _ = wheel_dist(wheel.name)
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            if name.endswith("/"):
                continue
            top = name.split("/")[0]
            if top.endswith(".dist-info"):
                if LICENSE_RE.search(name):
                    licenses[f"{dist}/{name.split('.dist-info/', 1)[1]}"] = zf.read(name)
                continue
            if any(name.startswith(p) for p in DROP_PACKAGE_PARTS):
                continue
            if is_extension(name):
                if dist in C_EXTENSION_DISTS:
                    native[name] = zf.read(name)
            elif name.endswith(".py"):
                pure[name] = zf.read(name)


def write_tree(files: dict[str, bytes], dest: Path) -> None:
    for rel, data in files.items():
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)


# ---------------------------------------------------------------- bytecode


def find_compiler(abi: str, given: dict[str, str]) -> str:
    version = abi[2] + "." + abi[3:]
    candidates = [given[abi]] if abi in given else [f"python{version}", f"/usr/bin/python{version}", sys.executable]
    for cand in candidates:
        path = shutil.which(cand) or (cand if Path(cand).is_file() else None)
        if not path:
            continue
        out = subprocess.run(
            [path, "-I", "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.stdout.split() == ["cpython", *version.split(".")]:
            return path
        if abi in given:
            raise SystemExit(f"--python {abi}={cand} is not CPython {version}")
    raise SystemExit(f"no CPython {version} to compile {abi} bytecode: give --python {abi}=PATH")


def compile_tree(compiler: str, root: Path, prefix: str) -> str:
    """.pyc (unchecked hash, beside each .py, the layout zipimport reads) for every .py under root."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [compiler, "-I", "-c", COMPILER, str(root), prefix], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"compiling {root} with {compiler} failed:\n{out.stderr[-2000:]}")
    return out.stdout.strip()


def bytecode_zip(root: Path, target: Path) -> int:
    """The .pyc files of root, uncompressed (imports read them without inflating; the marketplace zip around it
    is compressed), sorted, fixed times. Returns the number of entries."""
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.pyc"))
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in names:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, (root / name).read_bytes())
    return len(names)


# ---------------------------------------------------------------- the runtime


def build_runtime(rt: Runtime, work: Path, out: Path, args: argparse.Namespace) -> dict[str, object]:
    """python/<abi>.zip, python/<abi>-stdlib.zip, python/<abi>-<arch>/...; returns the manifest part."""
    compiler = find_compiler(rt.abi, args.compilers)
    pure_by_arch: dict[str, dict[str, bytes]] = {}
    licenses: dict[str, bytes] = {}
    packages: dict[str, str] = {}
    for arch, wheels in sorted(rt.wheels.items()):
        pure: dict[str, bytes] = {}
        native: dict[str, bytes] = {}
        for entry in wheels:
            wheel = fetch_wheel(entry, args.wheels_cache, args.offline)
            unpack_wheel(wheel, pure, native, licenses)
            dist, version = wheel_dist(entry.file)
            packages[dist] = version
        if not native:
            raise SystemExit(f"{rt.abi}/{arch}: no C extension found in {sorted(C_EXTENSION_DISTS)}")
        write_tree(native, out / f"{rt.abi}-{arch}")
        pure_by_arch[arch] = pure
    first_arch, pure = next(iter(sorted(pure_by_arch.items())))
    for arch, other in pure_by_arch.items():
        if other != pure:
            differ = sorted(set(other.items()) ^ set(pure.items()))[:3]
            raise SystemExit(f"{rt.abi}: the Python files of the {arch} and {first_arch} wheels differ: {differ}")
    pure_root = work / rt.abi
    write_tree(pure, pure_root)
    compiled_by = compile_tree(compiler, pure_root, f"{rt.abi}.zip/")
    pure_count = bytecode_zip(pure_root, out / f"{rt.abi}.zip")

    if rt.stdlib is None:
        raise SystemExit(f"{LOCK}: no stdlib .deb for {rt.abi}")
    deb = fetch_deb(rt.stdlib, args.stdlib_cache, args.offline)
    std_root = work / f"{rt.abi}-stdlib"
    modules = unpack_stdlib(deb, rt.abi, std_root, licenses)
    compile_tree(compiler, std_root, f"{rt.abi}-stdlib.zip/")
    std_count = bytecode_zip(std_root, out / f"{rt.abi}-stdlib.zip")
    text = [f"Licences of the third-party code under python/ ({rt.abi}): each package's own files, verbatim.\n"]
    for name, data in sorted(licenses.items()):
        text.append(f"\n{'=' * 78}\n{name}\n{'=' * 78}\n{data.decode('utf-8', 'replace')}")
    (out / f"{rt.abi}-LICENSES.txt").write_text("".join(text), encoding="utf-8")
    return {
        "arches": sorted(rt.wheels),
        "compiled_by": f"CPython {compiled_by}",
        "packages": dict(sorted(packages.items())),
        "modules_in_zip": pure_count,
        "stdlib": {"from": rt.stdlib.file, "sha256": rt.stdlib.sha256, "modules": modules, "files": std_count},
        "wheels": {arch: {w.file: w.sha256 for w in ws} for arch, ws in sorted(rt.wheels.items())},
    }


# ---------------------------------------------------------------- the marketplace zip


def module_version() -> str:
    return str(json.loads((REPO / "module.json").read_text(encoding="utf-8"))["version"])


def is_excluded(rel: Path) -> bool:
    if any(part in EXCLUDE_PARTS for part in rel.parts):
        return True
    return rel.name in EXCLUDE_NAMES or rel.name.endswith(EXCLUDE_SUFFIXES)


def module_files() -> dict[str, Path]:
    """Zip path -> file, for the PHP host, the worker and the launcher."""
    files: dict[str, Path] = {}
    for name in INCLUDE_FILES:
        if (REPO / name).is_file():
            files[name] = REPO / name
    for top in INCLUDE_DIRS:
        base = REPO / top
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                rel = path.relative_to(REPO)
                if path.is_file() and not is_excluded(rel):
                    files[rel.as_posix()] = path
    return files


def write_zip(target: Path, entries: dict[str, Path]) -> None:
    """Deterministic zip: sorted entries, fixed timestamps, executable bits kept for bin/."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in EMPTY_DIRS:
            info = zipfile.ZipInfo(name + "/", FIXED_TIME)
            info.external_attr = (stat.S_IFDIR | 0o755) << 16
            zf.writestr(info, b"")
        for arcname in sorted(entries):
            path = entries[arcname]
            info = zipfile.ZipInfo(arcname, FIXED_TIME)
            executable = arcname.startswith("bin/")
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output directory (default dist/)")
    parser.add_argument("--wheels-cache", type=Path, default=REPO / "build" / "wheels-cache")
    parser.add_argument("--stdlib-cache", type=Path, default=REPO / "build" / "stdlib-cache")
    parser.add_argument("--offline", action="store_true", help="never download; fail naming what is missing")
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="ABI=PATH",
        help="the CPython that compiles ABI's bytecode, e.g. cp311=/usr/bin/python3.11",
    )
    parser.add_argument("--no-runtime", action="store_true", help="leave the runtime out (layout tests only)")
    args = parser.parse_args(argv)
    args.compilers = dict(item.split("=", 1) for item in args.python)

    runtimes = read_lock()
    check_pins(runtimes)
    entries = module_files()
    with tempfile.TemporaryDirectory(prefix="pbxfed-build-") as tmp:
        work, out = Path(tmp) / "work", Path(tmp) / "python"
        manifest: dict[str, object] = {
            "about": "what python/boot.py runs the worker with; scripts/build_zip.py",
            "version": module_version(),
            "runtimes": {},
        }
        if not args.no_runtime:
            for abi, rt in sorted(runtimes.items()):
                manifest["runtimes"][abi] = build_runtime(rt, work, out, args)  # type: ignore[index]
            (out / "runtime.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    entries["python/" + path.relative_to(out).as_posix()] = path
        target = args.out / f"{MODULE_ID}-{module_version()}.zip"
        write_zip(target, entries)
    files = len(entries)
    runtime_files = sum(1 for name in entries if name.startswith("python/"))
    print(target)
    print(
        f"size {target.stat().st_size} bytes ({target.stat().st_size / 1e6:.1f} MB), {files} files "
        f"({runtime_files} of them the runtime under python/)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
