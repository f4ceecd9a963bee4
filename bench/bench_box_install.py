"""Install time of the marketplace zip on the emulated station, against Core's 120 s install window.

Run from the repository root, as root (it uses tests/box/station.sh: Core 2026.1's PHP in the sid chroot, the
station's minimal python3 in the bookworm box):
    .venv/bin/python bench/bench_box_install.py [--rounds 5] [--arm64]
Each round is a fresh station: the zip extracted entry by entry with PHP's ZipArchive and Core's
Util::addRegularWWWRights() (as Core's WorkerModuleInstaller does), then installModule()'s steps timed one by one:
checkCompatibility (`bin/pbxfed probe`), installFiles (Core's links + the first `bin/pbxfed doctor`, which also
writes the worker's bytecode cache), installDB, fixFilesRights. Beside them: a second doctor and 2024.1's
permission pass (one chmod process per file and directory, twice) on the same tree. The probe that
onBeforeModuleEnable runs inside Core's transaction is the one inside checkCompatibility.
--arm64: every python3 the module starts is bookworm arm64's under qemu-user (emulation: an upper bound for a
small ARM station's Python part, not a measurement of one).
Prints a Markdown table (median, min, max of the rounds) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STEPS = ("unzip", "core_rights", "checkCompatibility", "installFiles", "installDB", "fixFilesRights",
         "install_module", "doctor_again", "rights_2024_style_x2")
LABELS = {
    "unzip": "unzip (ZipArchive, entry by entry)",
    "core_rights": "Core 2026.1 addRegularWWWRights after unzip",
    "checkCompatibility": "checkCompatibility: Core's + `bin/pbxfed probe`",
    "installFiles": "installFiles: Core's + the first `bin/pbxfed doctor`",
    "installDB": "installDB (Core: tables from the annotations)",
    "fixFilesRights": "fixFilesRights (Core 2026.1)",
    "install_module": "installModule() in all",
    "doctor_again": "a second `bin/pbxfed doctor` (bytecode cached)",
    "rights_2024_style_x2": "2024.1's per-file chmod pass, twice",
}


def one_round(arm64: bool) -> dict[str, object]:
    case = "measure-arm64" if arm64 else "measure"
    proc = subprocess.run(["bash", str(REPO / "tests/box/station.sh"), case], capture_output=True, text=True,
                          timeout=900, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(f"== {case}: {{")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"station.sh {case} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return dict(json.loads(line.split(": ", 1)[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--arm64", action="store_true", help="the aarch64 python3 under qemu-user")
    args = ap.parse_args()
    load_before = os.getloadavg()
    rounds = [one_round(args.arm64) for _ in range(args.rounds)]
    load_after = os.getloadavg()
    seconds = [r["seconds"] for r in rounds]
    files = rounds[0]["files"]
    python = rounds[0]["doctor"]["python"]  # type: ignore[index]
    totals_2026 = [s["unzip"] + s["core_rights"] + s["install_module"] for s in seconds]  # type: ignore[index]
    totals_2024 = [s["unzip"] + s["install_module"] - s["fixFilesRights"] + s["rights_2024_style_x2"]  # type: ignore[index]
                   for s in seconds]
    print(f"Zip: {files} files; python3: CPython {python['version']} {python['machine']}"  # type: ignore[index]
          f"{' (qemu-user)' if args.arm64 else ''}; {args.rounds} rounds; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after\n")
    print("| step | median s | min s | max s |")
    print("|---|---:|---:|---:|")

    def row(label: str, values: list[float]) -> None:
        print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")

    for step in STEPS:
        row(LABELS[step], [float(s[step]) for s in seconds])  # type: ignore[index]
    row("**install on 2026.1** (unzip + rights + installModule)", totals_2026)
    row("**install, 2024.1-style rights** (per-file chmod twice)", totals_2024)
    print("\nCore's install window: 120 s (ModuleInstallationBase::INSTALLATION_TIMEOUT, both tags).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
