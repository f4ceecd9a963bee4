"""Finds, by trying, what the worker needs that a station's minimal Python 3.11 lacks: how
python/stdlib-needed.txt (the stdlib modules the zip carries) is made. A tool, not a test stage: the station test
(tests/box/station.sh) and tests/box/check_imports.py prove that the list is enough.

Runs tests/box/probe_imports.py on the emulated box (tests/box/setup.sh) with PYTHONPATH = the repository
+ the runtime wheels for cp311/x86_64 unpacked from build/wheels-cache. Every hard ModuleNotFoundError
adds that stdlib module (from the libpython3.11-stdlib .deb kept beside the box) to a supplement
directory, and the probe runs again, until it passes or a missing piece is not pure-Python stdlib.

  python3 tests/box/stdlib_gaps.py                                    # prints the findings
  python3 tests/box/stdlib_gaps.py --check python/stdlib-needed.txt   # fails unless the needed list equals it
  python3 tests/box/stdlib_gaps.py --write python/stdlib-needed.txt   # (re)writes it
Run as root (chroot, namespaces). Every loop is bounded. (The layouts were measured here in the first phase;
bench/bench_box_layout.py measures them now, from the built zip.)
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
MAX_ROUNDS = 60
HEADER = ("# pure-Python stdlib modules the worker imports that python3.11-minimal lacks\n"
          "# (found by tests/box/stdlib_gaps.py; one top-level name a line); scripts/build_zip.py puts them,\n"
          "# from Debian bookworm's libpython3.11-stdlib, into python/cp311-stdlib.zip.\n")


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

        print(f"== took {time.time() - started:.1f} s")

        ok = not (final["FAIL"] or final["MISSING"])
        listing = "".join(f"{t}\n" for t in sorted(needed))
        if args.write:
            args.write.write_text(HEADER + listing)
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
