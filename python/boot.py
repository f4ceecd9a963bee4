"""Starts the worker on the box's own CPython with what the module ships for it; `bin/pbxfed` runs this file.

A MikoPBX station has a minimal CPython (no json, sqlite3's package, ctypes, ...) and no pip, so the module zip
carries, for each CPython minor version and CPU it claims (docs/module-package.md):
  python/<abi>.zip          every pure-Python package the worker imports (SQLAlchemy, Jinja2, MarkupSafe, watchdog,
                            typing_extensions, pyzmq's Python part) as bytecode for <abi>     first on sys.path
  python/<abi>-stdlib.zip   the pure-Python stdlib modules a minimal interpreter lacks, as bytecode
                            last on sys.path: the box's own stdlib wins where it has a module
  python/<abi>-<arch>/      the C extensions of those packages (pyzmq's, with its bundled libzmq), plain files,
                            loaded by the finder below for the package in the zip
and the worker itself as the plain directory python_worker/ at the module root. <abi> is e.g. cp311, <arch> the
kernel's machine name (x86_64, aarch64).

  python3 -I python/boot.py -m python_worker ARGS...   run the worker's CLI with that runtime
  python3 -I python/boot.py --probe [MODULE...]        key=value lines: this interpreter, the runtime that fits
                                                       it, the C modules the worker needs that are missing
Exit codes: the worker's own (0-3); 5 = the module carries no runtime for this interpreter (the message names what it
carries); 6 = a module the runtime cannot supply is missing (named). A source checkout has no python/<abi>*
runtimes: the interpreter's own packages are used (development, tests).

Any CPython 3.5 or newer parses this file and only sys and os are used before the runtime is on sys.path, so an
old or minimal interpreter gets a clear refusal rather than a traceback.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_DIR = os.path.dirname(HERE)

# C modules the worker's processes load that have no pure-Python fallback, so the module cannot supply them: they
# are built into the box's interpreter or come with it (lib-dynload), or the install is refused. Found on the
# emulated station by hiding each C module the worker loads (tests/box/README.md); the others (_json, _asyncio,
# _decimal, _queue, _uuid, _hashlib, _ssl, _typing, _datetime, _bisect, _heapq) fall back to Python code
# (_decimal to _pydecimal, which the stdlib zip carries).
REQUIRED_C_MODULES = (
    "_sqlite3",
    "_ctypes",
    "_contextvars",
    "_socket",
    "select",
    "fcntl",
    "_posixsubprocess",
    "math",
    "_struct",
    "binascii",
    "_random",
    "zlib",
    "array",
)

EXIT_NO_RUNTIME = 5
EXIT_MISSING = 6


def abi():
    return "cp%d%d" % sys.version_info[:2]


def machine():
    value = os.uname().machine
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(value, value)


def shipped():
    """The runtimes this module carries, as '<abi>-<arch>' (their C extension directories)."""
    try:
        names = os.listdir(HERE)
    except OSError:
        return []
    return sorted(
        n
        for n in names
        if n.startswith("cp")
        and "-" in n
        and not n.endswith("-stdlib")
        and not n.endswith(".zip")
        and os.path.isdir(os.path.join(HERE, n))
    )


def _part(name):
    """python/<name>.zip, else the directory python/<name>, else ''."""
    for candidate in (os.path.join(HERE, name + ".zip"), os.path.join(HERE, name)):
        if os.path.exists(candidate):
            return candidate
    return ""


def runtime_paths():
    """(entries to put first on sys.path, entries to put last, the C extension directory) for this interpreter;
    all empty when the module carries nothing for it."""
    if sys.implementation.name != "cpython":
        return [], [], ""
    arch_dir = os.path.join(HERE, "%s-%s" % (abi(), machine()))
    pure, stdlib = _part(abi()), _part(abi() + "-stdlib")
    if not (os.path.isdir(arch_dir) and pure):
        return [], [], ""
    return [pure], ([stdlib] if stdlib else []), arch_dir


def install_extension_finder(arch_dir):
    """C extension modules of arch_dir (zmq/backend/cython/_zmq.cpython-311-x86_64-linux-gnu.so is
    zmq.backend.cython._zmq) are loaded from there, while their packages come from the zip: a zip cannot hold a
    loadable .so, and a plain directory per CPU holds nothing else. Their own libraries (pyzmq.libs/) are found
    through the extension's RPATH ($ORIGIN/../../../pyzmq.libs), so the relative layout of the wheel is kept."""
    import importlib.machinery
    import importlib.util

    table = {}
    for root, _dirs, files in os.walk(arch_dir):
        for name in files:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                if name.endswith(suffix):
                    rel = os.path.relpath(os.path.join(root, name[: -len(suffix)]), arch_dir)
                    table[rel.replace(os.sep, ".")] = os.path.join(root, name)
                    break

    class ExtensionFinder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            location = table.get(fullname)
            if location is None:
                return None
            loader = importlib.machinery.ExtensionFileLoader(fullname, location)
            return importlib.util.spec_from_file_location(fullname, location, loader=loader)

    sys.meta_path.insert(0, ExtensionFinder)
    return sorted(table)


def describe(runtimes):
    """'CPython 3.11 on x86_64, aarch64' for ['cp311-aarch64', 'cp311-x86_64']."""
    by_abi = {}
    for name in runtimes:
        tag, _, arch = name.partition("-")
        by_abi.setdefault(tag, []).append(arch)
    parts = []
    for tag in sorted(by_abi):
        version = tag[2] + "." + tag[3:]
        parts.append("CPython %s on %s" % (version, ", ".join(sorted(by_abi[tag]))))
    return "; ".join(parts) or "nothing"


def missing_modules(names):
    missing = []
    for name in names:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing


def probe(extra):
    """What PHP's installer asks before anything else: cheap, and nothing of the worker is imported."""
    first, _last, _arch = runtime_paths()
    runtimes = shipped()
    missing = missing_modules(list(REQUIRED_C_MODULES) + extra)
    lines = [
        "implementation=" + sys.implementation.name,
        "version=%d.%d.%d" % sys.version_info[:3],
        "abi=" + abi(),
        "machine=" + machine(),
        "executable=" + sys.executable,
        "runtime=" + ("%s-%s" % (abi(), machine()) if first else ""),
        "shipped=" + ",".join(runtimes),
        "shipped_text=" + describe(runtimes),
        "missing=" + ",".join(missing),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    if runtimes and not first:
        return EXIT_NO_RUNTIME
    return EXIT_MISSING if missing else 0


def no_runtime_message():
    return "ModulePbxFederation: this module carries the worker for %s; this python3 (%s) is %s %d.%d on %s" % (
        describe(shipped()),
        sys.executable,
        sys.implementation.name,
        sys.version_info[0],
        sys.version_info[1],
        machine(),
    )


def json_text(value):
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def refuse(code, message, check, argv, missing=()):
    """A refusal before the worker can load; `doctor` still answers with its JSON shape."""
    if argv[:1] == ["doctor"]:
        names = ", ".join(json_text(m) for m in missing)
        sys.stdout.write(
            '{"ok": false, "checks": [{"name": %s, "ok": false, "detail": %s}], "missing": [%s]}\n'
            % (json_text(check), json_text(message), names)
        )
    sys.stderr.write(message + "\n")
    return code


def run_module(name, argv):
    first, last, arch_dir = runtime_paths()
    if shipped() and not first:
        return refuse(EXIT_NO_RUNTIME, no_runtime_message(), "runtime", argv)
    sys.path[:0] = [MODULE_DIR, *first]
    sys.path.extend(last)
    if arch_dir:
        install_extension_finder(arch_dir)
    # what `doctor` reports as the runtime in use ("" in a source checkout)
    os.environ["PBXFED_RUNTIME"] = os.pathsep.join([*first, arch_dir, *last]) if arch_dir else ""
    sys.argv = [name, *argv]
    try:
        import runpy

        runpy.run_module(name, run_name="__main__", alter_sys=True)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] in (name, "python_worker"):
            raise
        import traceback

        traceback.print_exc()
        return refuse(
            EXIT_MISSING,
            "ModulePbxFederation: python3 %s lacks the module %s, which the module does "
            "not carry" % (sys.executable, exc.name),
            "imports",
            argv,
            [exc.name],
        )
    return 0


def main(argv):
    if argv[:1] == ["--probe"]:
        return probe(argv[1:])
    if len(argv) >= 2 and argv[0] == "-m":
        return run_module(argv[1], argv[2:])
    sys.stderr.write("usage: python3 -I boot.py -m python_worker ARGS... | --probe [MODULE...]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
