"""The e2e stand-in for MikoPBX Core's reload actions; the module's worker runs it as `--reload-cmd`.

    python tests/e2e/station_reload.py [--queue SECONDS] <station.json> [pjsip] [dialplan] [firewall] [manager]

Like Core, it regenerates pjsip.conf, extensions.conf and manager.conf from the station's mikopbx.db plus the
module's hooks.json (tests/e2e/mikopbx_station.py), then reloads what the worker asked for:
pjsip -> `module reload res_pjsip.so`, `res_pjsip_outbound_publish.so`, `res_pjsip_publish_asterisk.so`
(a plain res_pjsip reload leaves an existing outbound-publish untouched); dialplan -> `dialplan reload`;
manager -> `module reload manager` (Core's ManagerConf::reload); firewall -> nothing (the e2e stations have no
firewall).  A station whose Asterisk is not running only
gets its files rewritten (it reads them when it starts), as Core's config generation would do.
Exit status 0 = done, 1 = a reload command failed (the worker then rolls back).

`--queue SECONDS` plays Core's queued reload (WorkerModelsEvents runs the actions later): it answers 0 at once
and leaves the regeneration and reloads to a detached child that starts after SECONDS (it ends by itself).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.e2e import mikopbx_station as ms

PJSIP_MODULES = ("res_pjsip.so", "res_pjsip_outbound_publish.so", "res_pjsip_publish_asterisk.so")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def rerender(cfg: dict[str, object]) -> None:
    net = ms.StationNet(str(cfg["name"]), str(cfg["address"]), str(cfg["entity_id"]), int(str(cfg["sip_port"])),
                        int(str(cfg["rtp_start"])), int(str(cfg["rtp_end"])))
    hooks_path = Path(str(cfg["hooks"]))
    hooks = ms.load_hooks(hooks_path) if hooks_path.exists() else {}
    db = sqlite3.connect(f"file:{cfg['db']}?mode=ro", uri=True, timeout=10)
    try:
        data = ms.read_station(db)
    finally:
        db.close()
    etc = Path(str(cfg["host_dir"])) / "etc"
    _write(etc / "pjsip.conf", ms.render_pjsip(data, hooks, net))
    _write(etc / "extensions.conf", ms.render_extensions(data, hooks, out_of_hours=bool(cfg["out_of_hours"])))
    db = sqlite3.connect(f"file:{cfg['db']}?mode=ro", uri=True, timeout=10)
    try:
        _write(etc / "manager.conf", ms.render_manager(db, net))
    finally:
        db.close()


def prefix(cfg: dict[str, object]) -> list[str]:
    base = ["chroot", str(cfg["chroot_root"])]
    return ["ip", "netns", "exec", str(cfg["netns"]), *base] if cfg.get("netns") else base


def rx(cfg: dict[str, object], command: str) -> tuple[int, str]:
    argv = [*prefix(cfg), "/usr/sbin/asterisk", "-C", f"{cfg['chroot_path']}/asterisk.conf", "-rx", command]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def running(cfg: dict[str, object]) -> bool:
    return (Path(str(cfg["host_dir"])) / "run" / "asterisk.ctl").exists()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--queue"] and len(argv) >= 3:
        delay = max(0.0, min(float(argv[1]), 30.0))
        subprocess.Popen([sys.executable, __file__, "--after", str(delay), *argv[2:]], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"queued: {' '.join(argv[3:])} in {delay:.1f}s")
        return 0
    if argv[:1] == ["--after"] and len(argv) >= 3:
        time.sleep(float(argv[1]))
        argv = argv[2:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cfg = json.loads(Path(argv[0]).read_text())
    targets = argv[1:] or ["pjsip", "dialplan"]
    rerender(cfg)
    if not running(cfg):
        print(f"{cfg['name']}: Asterisk not running; config written")
        return 0
    commands: list[str] = []
    if "pjsip" in targets:
        commands += [f"module reload {m}" for m in PJSIP_MODULES]
    if "dialplan" in targets:
        commands.append("dialplan reload")
    if "manager" in targets:
        commands.append("module reload manager")
    failed = 0
    for command in commands:
        code, out = rx(cfg, command)
        print(f"{cfg['name']}: {command} -> {code} {out[-200:]}")
        if "Unable to connect" in out:  # stopped (a killed Asterisk leaves its socket file behind)
            print(f"{cfg['name']}: Asterisk not running; config written")
            return 0
        if code != 0:
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
