"""Finds, by trying, what the worker needs that a station's minimal Python 3.11 lacks.

Runs tests/box/probe_imports.py on the emulated box (tests/box/setup.sh) with PYTHONPATH = the repository
+ the runtime wheels for cp311/x86_64 unpacked from build/wheels-cache. Every hard ModuleNotFoundError
adds that stdlib module (from the libpython3.11-stdlib .deb kept beside the box) to a supplement
directory, and the probe runs again, until it passes or a missing piece is not pure-Python stdlib.
Then the same with the supplement as a zip (zipimport), and with the pure-Python packages in a zip.

  python3 tests/box/stdlib_gaps.py                 # prints the findings
  python3 tests/box/stdlib_gaps.py --check FILE    # fails unless the needed list equals FILE's
  python3 tests/box/stdlib_gaps.py --write FILE    # (re)writes FILE with the needed list
Run as root (chroot, namespaces). Every loop is bounded.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BOX = Path(os.environ.get("PBXFED_BOX", "/var/cache/pbxfed/box311"))
STDLIB = Path(str(BOX) + ".stdlib-deb") / "usr/lib/python3.11"
MINIMAL = BOX / "usr/lib/python3.11"
RUNS = Path(os.environ.get("PBXFED_BOX_RUNS", "/var/cache/pbxfed/box-runs"))
WHEELS = Path(os.environ.get("PBXFED_WHEELS", REPO / "build/wheels-cache"))
REALCORE_ENV = Path("/var/cache/pbxfed/sid/opt/pbxfed-realcore/current.env")
PURE_PACKAGES = ["sqlalchemy", "jinja2", "markupsafe", "watchdog", "typing_extensions.py"]
MAX_ROUNDS = 60


def log(*parts: object) -> None:
    print("stdlib_gaps:", *parts, file=sys.stderr, flush=True)


def wheels_for_box() -> list[Path]:
    if not WHEELS.is_dir():
        log("building the wheel cache (PyPI):", WHEELS)
        subprocess.run([sys.executable, str(REPO / "scripts/build_zip.py"), "--cache-wheels", str(WHEELS),
                        "--out", str(REPO / "build/dist")], check=True, timeout=900)
    picked = []
    for whl in sorted(WHEELS.glob("*.whl")):
        n = whl.name
        if n.startswith("pip-"):
            continue
        if "-py3-none-any" in n or ("cp311" in n and "x86_64" in n) or ("py3-none-manylinux" in n and "x86_64" in n):
            picked.append(whl)
    names = {w.name.split("-")[0].lower() for w in picked}
    for need in ("sqlalchemy", "jinja2", "markupsafe", "watchdog", "pyzmq", "typing_extensions"):
        if need not in names:
            raise SystemExit(f"no cp311 x86_64 wheel for {need} in {WHEELS}")
    return picked


def unpacked_site(wheels: list[Path]) -> tuple[Path, str]:
    """The wheels unpacked into the box (cached by their content): host path, box path."""
    h = hashlib.sha256()
    for w in wheels:
        h.update(w.name.encode() + hashlib.sha256(w.read_bytes()).digest())
    key = h.hexdigest()[:12]
    box_path = f"/opt/pbxfed-wheels/{key}"
    site = BOX / box_path.lstrip("/")
    if not (site / ".ready").exists():
        if site.exists():
            shutil.rmtree(site)
        site.mkdir(parents=True)
        for w in wheels:
            with zipfile.ZipFile(w) as z:
                z.extractall(site)
        (site / ".ready").write_text("\n".join(w.name for w in wheels) + "\n")
    return site, box_path


def station_db(work: Path) -> str:
    """A real MikoPBX DB: Core 2026.1's default DB migrated by Core (tests/realcore), else an e2e station DB."""
    dst = work / "mikopbx.db"
    src = os.environ.get("PBXFED_MIKOPBX_DB", "")
    if not src and REALCORE_ENV.exists():
        m = re.search(r"^MIGRATED_DB=(.+)$", REALCORE_ENV.read_text(), re.M)
        if m and m.group(1).strip():
            src = "/var/cache/pbxfed/sid" + m.group(1).strip()
    if src and Path(src).exists():
        shutil.copyfile(src, dst)
        return "Core 2026.1.223's default mikopbx.db, migrated by Core's UpdateDatabase"
    sys.path.insert(0, str(REPO))
    from tests.e2e.mikopbx_station import add_phone, create_db

    db = create_db(dst)
    add_phone(db, "201", "s201secret", "Ivan")
    db.commit()
    db.close()
    return "an e2e station DB (MikoPBX 2026.1 schema, tests/e2e/mikopbx_station.py)"


def run_probe(work: Path, pythonpath: list[str], stages: list[str], no_python: bool = False) -> list[str]:
    scratch = work / "scratch"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    cmd = ["bash", str(HERE / "box.sh")] + (["--no-python"] if no_python else []) + [
        "--bind", f"{work}:/pbxfed-work", "--",
        "env", "PYTHONPATH=" + ":".join(pythonpath),
        "python3", "/pbxfed-repo/tests/box/probe_imports.py", "/pbxfed-work/scratch", "/pbxfed-work/mikopbx.db",
    ] + stages
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = p.stdout.splitlines()
    if p.returncode != 0 and not lines:
        lines = [f"FAIL probe exit {p.returncode}: {p.stderr.strip()[-400:]}"]
    return lines


def stdlib_source(name: str) -> tuple[str, Path] | None:
    """(top-level name, path in the full stdlib) to copy for a missing module, or None."""
    top = name.split(".")[0]
    for cand in (STDLIB / top, STDLIB / f"{top}.py"):
        if cand.exists():
            return top, cand
    return None


def copy_into(extra: Path, top: str, src: Path) -> None:
    dst = extra / src.name
    if dst.exists():
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
    if src.is_dir():
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "test", "tests", "idle_test"))
    else:
        shutil.copy2(src, dst)


def zip_dir(src: Path, out: Path, names: list[str] | None = None) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for entry in sorted(names if names is not None else os.listdir(src)):
            base = src / entry
            paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
            for p in paths:
                if "__pycache__" in p.parts:
                    continue
                z.write(p, p.relative_to(src).as_posix())


def summarize(lines: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"OK": [], "MISSING": [], "FAIL": [], "ABSENT": [], "CEXT": [], "TIME": []}
    for line in lines:
        kind = line.split(" ", 1)[0]
        if kind in out:
            out[kind].append(line.split(" ", 1)[1] if " " in line else "")
    out["ABSENT"] = sorted(set(out["ABSENT"]))
    out["CEXT"] = sorted(set(out["CEXT"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", type=Path)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    if not (BOX / ".pbxfed-box-ready").exists():
        raise SystemExit("the box is not set up: bash tests/box/setup.sh")
    started = time.time()
    site, site_box = unpacked_site(wheels_for_box())
    RUNS.mkdir(parents=True, exist_ok=True)
    work = RUNS / f"gaps-r{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    (work / "extra").mkdir(parents=True)
    try:
        db_kind = station_db(work)
        log("station DB:", db_kind)
        extra_box = "/pbxfed-work/extra"
        base_path = ["/pbxfed-repo", site_box]
        needed: dict[str, str] = {}      # top-level stdlib name -> first missing import that asked for it
        if args.check:
            # Start from the committed list: one round when it is still right, more (and a failure) if not.
            for ln in args.check.read_text().splitlines():
                name = ln.strip()
                if name and not name.startswith("#"):
                    found = stdlib_source(name)
                    if found is None:
                        raise SystemExit(f"{args.check}: {name} is not in the 3.11 stdlib")
                    needed[found[0]] = "(listed)"
                    copy_into(work / "extra", *found)
        final: dict[str, list[str]] = {}
        for rnd in range(1, MAX_ROUNDS + 1):
            res = summarize(run_probe(work, [*base_path, extra_box], []))
            if not res["MISSING"]:
                final = res
                break
            before = set(needed)
            for item in res["MISSING"]:
                name = item.split()[0]
                found = stdlib_source(name)
                if found is None:
                    raise SystemExit(f"missing {name!r} ({item}) is not pure-Python stdlib: "
                                     "a C piece or a wheel lacks it")
                top, src = found
                if top in before and name == top:
                    raise SystemExit(f"{top} copied but still missing: {item}")
                needed.setdefault(top, name)
                copy_into(work / "extra", top, src)
            log(f"round {rnd}: missing {', '.join(i.split()[0] for i in res['MISSING'])}")
        else:
            raise SystemExit(f"no result after {MAX_ROUNDS} rounds")

        partial = sorted(t for t in needed if (MINIMAL / t).is_dir())
        print("== minimal box + wheels + supplement")
        for line in final["OK"]:
            print("  OK", line)
        print("  seconds per stage:", ", ".join(final["TIME"]))
        for line in final["FAIL"]:
            print("  FAIL", line)
        print("== pure-Python stdlib modules the minimal Python 3.11 lacks (hard imports):")
        print("  " + " ".join(sorted(needed)))
        if partial:
            print("  (packages present but incomplete in python3.11-minimal, shipped whole:", " ".join(partial) + ")")
        tolerated = sorted(n for n in final["ABSENT"] if stdlib_source(n) and n.split(".")[0] not in needed)
        print("== stdlib C extension modules (lib-dynload) the worker's processes loaded:")
        print("  " + " ".join(final["CEXT"]))
        print("== stdlib modules looked for, absent, and tolerated (optional imports):")
        print("  " + (" ".join(tolerated) or "(none)"))

        # zipimport: the supplement as a zip.
        zip_dir(work / "extra", work / "stdlib-extra.zip")
        zres = summarize(run_probe(work, [*base_path, "/pbxfed-work/stdlib-extra.zip"], []))
        print("== the supplement from a zip on sys.path (zipimport):",
              "all stages OK" if not zres["FAIL"] and not zres["MISSING"] else f"FAIL {zres['FAIL'] + zres['MISSING']}")

        # Pure-Python packages (and the worker) from a zip; pyzmq unpacked in a plain directory.
        pk = work / "pkgs"
        pk.mkdir()
        zip_dir(site, work / "pkgs.zip", PURE_PACKAGES)
        zip_dir(REPO, work / "worker.zip", ["python_worker"])
        shutil.copytree(site / "zmq", pk / "zmq")
        if (site / "pyzmq.libs").exists():
            shutil.copytree(site / "pyzmq.libs", pk / "pyzmq.libs")
        zpath = ["/pbxfed-work/worker.zip", "/pbxfed-work/pkgs.zip", "/pbxfed-work/pkgs",
                 "/pbxfed-work/stdlib-extra.zip"]
        pres = summarize(run_probe(work, zpath, []))
        print("== worker + SQLAlchemy, Jinja2, MarkupSafe, watchdog, typing_extensions from zips (sources only),"
              " pyzmq unpacked (measured, not gated):")
        for line in pres["OK"]:
            print("  OK", line)
        print("  seconds per stage:", ", ".join(pres["TIME"]))
        for line in pres["FAIL"] + pres["MISSING"]:
            print("  FAIL", line)
        # The same zips with bytecode compiled by the box's own python3 (compileall -b: .pyc beside each .py,
        # the layout zipimport reads); without it every process start compiles everything again.
        pyc = work / "pyc-src"
        pyc.mkdir()
        for name in PURE_PACKAGES:
            src = site / name
            (shutil.copytree(src, pyc / name) if src.is_dir() else shutil.copy2(src, pyc / name))
        shutil.copytree(REPO / "python_worker", pyc / "python_worker",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for entry in os.listdir(work / "extra"):
            src = work / "extra" / entry
            (shutil.copytree(src, pyc / entry) if src.is_dir() else shutil.copy2(src, pyc / entry))
        comp = subprocess.run(["bash", str(HERE / "box.sh"), "--bind", f"{work}:/pbxfed-work", "--",
                               "python3", "-m", "compileall", "-q", "-b", "/pbxfed-work/pyc-src"],
                              capture_output=True, text=True, timeout=600)
        if comp.returncode != 0:
            print("  compileall failed:", comp.stdout[-300:], comp.stderr[-300:])
        zip_dir(pyc, work / "pkgs-pyc.zip", [n for n in os.listdir(pyc) if n != "python_worker"])
        zip_dir(pyc, work / "worker-pyc.zip", ["python_worker"])
        cpath = ["/pbxfed-work/worker-pyc.zip", "/pbxfed-work/pkgs-pyc.zip", "/pbxfed-work/pkgs"]
        cres = summarize(run_probe(work, cpath, []))
        print("== the same from zips holding .pyc compiled by the box's python3:",
              "all stages OK" if not cres["FAIL"] and not cres["MISSING"] else f"FAIL {cres['FAIL'] + cres['MISSING']}")
        print("  seconds per stage:", ", ".join(cres["TIME"]))
        # pyzmq from a zip: its C extension cannot load (shown, expected).
        zip_dir(site, work / "zmq.zip", ["zmq", "pyzmq.libs"])
        zq = summarize(run_probe(work, ["/pbxfed-work/zmq.zip", extra_box], ["zmq"]))
        print("== pyzmq from a zip:", "works" if zq["OK"] else f"does not load ({(zq['FAIL'] + zq['MISSING'])[:1]})")
        # The station without python3.
        nop = run_probe(work, base_path, [], no_python=True)
        ok_nop = len(nop) == 1 and "exit 127" in nop[0]
        print("== the box without python3:", "python3 not found (exit 127), as it must be" if ok_nop
              else f"UNEXPECTED {'; '.join(nop)[:200]}")
        print(f"== took {time.time() - started:.1f} s")

        # Gating: the directory layout, the supplement as a zip, the packages as zips of bytecode, pyzmq
        # refusing to load from a zip and the refusal box. Zips without bytecode are measured, not gated
        # (every process start compiles them again: slow on a loaded machine, but not wrong).
        ok = not any(r["FAIL"] or r["MISSING"] for r in (final, zres, cres)) and not zq["OK"]
        ok = ok and ok_nop
        listing = "".join(f"{t}\n" for t in sorted(needed))
        if args.write:
            args.write.write_text("# pure-Python stdlib modules the worker imports that python3.11-minimal lacks\n"
                                  "# (found by tests/box/stdlib_gaps.py; one top-level name a line)\n" + listing)
        if args.check:
            want = "".join(f"{ln.strip()}\n" for ln in args.check.read_text().splitlines()
                           if ln.strip() and not ln.startswith("#"))
            if want != listing:
                print(f"== the needed list differs from {args.check}:\n  want {want.split()}\n  got  {listing.split()}")
                ok = False
        return 0 if ok else 1
    finally:
        if os.environ.get("PBXFED_KEEP_RUN") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
