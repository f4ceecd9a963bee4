"""The PBX's own cost of the module (issue 14): one station, 200 phones, 9 paired peers x 2,000 numbers.

Run as root (the chroot of tests/e2e/setup_asterisk.sh):

    .venv/bin/python bench/bench_pbx_cost.py [--peers 9] [--numbers 2000] [--json out.json]

One station `pc` on 127.0.1.11 (Asterisk 22 of the suite's chroot, in the harness's network namespace, which has
only `lo`), built by tests/e2e/mikopbx_station.py (the Core stand-in) with 200 SIP phones 100-299. Nothing else
runs: no SIPp, no peer stations (the trunks point at 127.0.1.12-20, where nobody answers their qualify).

(a) without the module: boot time (to `core waitfullybooted`), `dialplan reload` until done (median of --reloads, 3: a
    fresh marker context appended to extensions.conf before each reload must show in `dialplan show`, as
    bench/proto_devstate.py reload_until_done), Asterisk's RSS after boot and after the reloads.
(b) with the module's REAL output for --peers paired peers whose device states ride the sync channel: module.db
    gets the settings, the peers (paired, sync port, a pinned CurveZMQ key: db/moduledb.py upsert_peer) and each
    peer's synced directory of --numbers SIP numbers (write_directory; peer j has the pattern `<j+1>[0-k]XXX`,
    its numbers `<j+1>0000`...); then the module's own reconcile (apply/reconciler.py, the planner and renderer
    with a Runtime as the worker builds it with --ami: carries_states, drives_lamps, its AMI account) writes its
    records into mikopbx.db and hooks.json; Core's stand-in renders pjsip.conf, extensions.conf and manager.conf
    from both (as tests/e2e/station_reload.py); boot, and the same figures.
(c) then every per-number device `Custom:FED-<hex>-<n>` (peers x numbers) set once to NOT_INUSE over AMI
    (`Setvar DEVICE_STATE(...)`, pipelined, window 100 as service/devstate.py, with the module's own AMI client
    service/ami.py logged in as the module's AMI user from manager.conf, from inside the namespace): RSS after,
    `dialplan reload` until done again (median of 3), RSS after, `core show hints`.
(d) (skip with --no-restart) the station restarted with those states in its AstDB: boot time and RSS.

Budget (issue 14, "The PBX's own cost"): reload < 2x the module-less reload, RSS + < 50 MB.
Every wait is bounded; the one Asterisk and the AMI setter are started here and stopped by their PIDs (the
harness's close()); every packet stays on 127.0.0.0/8 inside the namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.wan_mesh import cpu_s, loadavg, rss_kb  # noqa: E402

ADDR = "127.0.1.11"
PHONES = 200
SYNC_PORT = 7787
WINDOW = 100  # Setvars in flight (service/devstate.py WINDOW)
FIG: dict[str, Any] = {}


def say(*a: object) -> None:
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def rss_mb(pid: int | None) -> float:
    return round(rss_kb(pid) / 1024, 1)


# ------------------------------------------------------------------ the AMI setter (runs inside the namespace)

def ami_set(job_path: Path) -> dict[str, Any]:
    """Set every device of the job to its state over one AMI connection, pipelined; bounded by the job's
    timeout. The job file (mode 0600) holds the account: secrets never go on a command line."""
    from python_worker.service.ami import AmiConnection, AmiError

    job = json.loads(job_path.read_text())
    devices: list[str] = job["devices"]
    conn = AmiConnection(job["host"], int(job["port"]), job["username"], job["secret"], events="off", timeout=5.0)
    conn.connect()
    sent = answered = ok = 0
    refused: list[str] = []
    t0 = time.perf_counter()
    deadline = t0 + float(job["timeout"])
    try:
        while answered < len(devices) and time.perf_counter() < deadline:
            while sent < len(devices) and sent - answered < WINDOW:
                conn.send({"Action": "Setvar", "Variable": f"DEVICE_STATE({devices[sent]})", "Value": job["state"],
                           "ActionID": f"s{sent}"})
                sent += 1
            ready, _, _ = select.select([conn.fileno()], [], [], 1.0)
            if not ready:
                continue
            for msg in conn.read_available():
                if msg.get("ActionID", "").startswith("s") and "Response" in msg:
                    answered += 1
                    if msg["Response"] == "Success":
                        ok += 1
                    elif len(refused) < 5:
                        refused.append(msg.get("Message", ""))
    except AmiError as exc:
        refused.append(f"AMI: {exc}")
    finally:
        conn.close()
    wall = time.perf_counter() - t0
    return {"devices": len(devices), "sent": sent, "answered": answered, "success": ok, "refused": refused,
            "wall_s": round(wall, 3), "states_per_s": round(answered / wall, 1) if wall > 0 else None}


# ------------------------------------------------------------------ the bench (on the host, as root)

class Bench:
    def __init__(self, peers: int, numbers: int, reloads: int = 3) -> None:
        from tests.e2e import harness as hs
        from tests.e2e import mikopbx_station as ms

        self.hs, self.ms = hs, ms
        self.peers, self.numbers, self.n_reloads = peers, numbers, reloads
        self.h = hs.Harness()
        if not self.h.netns:
            self.h.close()
            raise SystemExit(f"no network namespace ({self.h.netns_note}): refusing to run on the host's loopback")
        self.work = self.h.host_run / "module"
        self.db_path = self.h.host_run / "mikopbx.db"
        db = ms.create_db(self.db_path)
        for i in range(PHONES):
            ms.add_phone(db, str(100 + i), f"secret-{i}-{secrets.token_hex(4)}")
        self.net = ms.StationNet("pc", ADDR, "02:00:00:00:0c:01", 5060, 30000, 30999)
        self.st = self.h.add_station(self.net, db, {})

    # ---- Asterisk ----
    def rx(self, cmd: str, timeout: float = 30.0) -> str:
        return str(self.h.rx(self.st, cmd, timeout=timeout))

    def boot(self, limit: float = 300.0) -> float:
        """Stop (if running) and start the station; seconds until `core waitfullybooted` answered. A station with
        a big dialplan may answer the remote console only after the harness's 10 s per try."""
        self.h.stop(self.st)
        t0 = time.monotonic()
        try:
            self.h.start(self.st, boot_timeout=limit)
        except subprocess.TimeoutExpired:
            def up() -> bool:
                try:
                    return "fully booted" in self.rx("core waitfullybooted").lower()
                except (self.hs.HarnessError, subprocess.TimeoutExpired):
                    return False
            if not self.hs.wait_until(up, max(1.0, limit - (time.monotonic() - t0)), 1.0):
                raise
        return time.monotonic() - t0

    def reload_until_done(self, tag: str, timeout: float = 300.0) -> tuple[float, float, float]:
        """`dialplan reload` with a fresh marker context appended to extensions.conf: (seconds until the -rx
        returned, seconds until the marker shows in the running dialplan, Asterisk CPU seconds meanwhile)."""
        conf = self.st.host_dir / "etc" / "extensions.conf"
        text = conf.read_text().split("\n[rlmark", 1)[0]
        conf.write_text(text + f"\n[rlmark{tag}]\nexten => 1,1,NoOp(marker)\n")
        c0 = cpu_s(self.st.pid)
        t0 = time.perf_counter()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.rx("dialplan reload", timeout=120)
        t_rx = time.perf_counter() - t0

        def seen() -> bool:
            try:
                return "marker" in self.rx(f"dialplan show rlmark{tag}")
            except (self.hs.HarnessError, subprocess.TimeoutExpired):
                return False
        if not self.hs.wait_until(seen, timeout, 0.05):
            raise RuntimeError(f"dialplan reload {tag}: marker not seen within {timeout:.0f}s")
        return t_rx, time.perf_counter() - t0, cpu_s(self.st.pid) - c0

    def reloads(self, label: str) -> dict[str, Any]:
        done, rxs, cpus, rss = [], [], [], []
        for i in range(self.n_reloads):
            t_rx, t_done, cpu = self.reload_until_done(f"{label}x{i}")
            done.append(t_done)
            rxs.append(t_rx)
            cpus.append(cpu)
            time.sleep(0.3)
            rss.append(rss_mb(self.st.pid))
        return {"reload_done_ms_median": round(statistics.median(done) * 1000, 1),
                "reload_done_ms_all": [round(x * 1000, 1) for x in done],
                "rx_returned_ms_median": round(statistics.median(rxs) * 1000, 1),
                "asterisk_cpu_ms_per_reload_median": round(statistics.median(cpus) * 1000, 1),
                "rss_mb_after_each_reload": rss, "rss_mb_after_reloads": rss[-1]}

    def hints(self) -> dict[str, Any]:
        out = self.rx("core show hints", timeout=60)
        m = re.search(r"-\s*(\d+) hints registered", out)
        return {"registered": int(m.group(1)) if m else None, "state_lines": out.count("State:"),
                "fed_lines": out.count("Custom:FED-")}

    def conf_size(self) -> dict[str, Any]:
        etc = self.st.host_dir / "etc"
        out: dict[str, Any] = {}
        for name in ("extensions.conf", "pjsip.conf", "manager.conf"):
            text = (etc / name).read_text()
            out[name] = {"bytes": len(text), "lines": text.count("\n")}
        ext = (etc / "extensions.conf").read_text()
        out["extensions.conf"]["hint_lines"] = len(re.findall(r"^exten => [^,]+,hint,", ext, flags=re.M))
        return out

    def settle(self) -> None:
        time.sleep(1.0)

    def measure_boot(self, label: str) -> dict[str, Any]:
        res: dict[str, Any] = {"load_before": loadavg(), "boot_s": round(self.boot(), 2)}
        self.settle()
        res["rss_mb_after_boot"] = rss_mb(self.st.pid)
        say(label, "booted in", res["boot_s"], "s, RSS", res["rss_mb_after_boot"], "MB")
        return res

    def measure_case(self, label: str) -> dict[str, Any]:
        """One configuration as it stands: boot, reloads, hints and the size of the files Asterisk reads."""
        res = self.measure_boot(label)
        res.update(self.reloads(label))
        res["hints"] = self.hints()
        res["config"] = self.conf_size()
        say(label, json.dumps(res))
        return res

    # ---- the module ----
    def module_files(self) -> dict[str, Any]:
        """module.db with the paired peers and their directories, then the module's reconcile (records into
        mikopbx.db, hooks.json) with the worker's runtime; returns the figures and keeps the hooks and account."""
        import zmq

        from python_worker import __version__
        from python_worker.apply.amiuser import AMI_USERNAME
        from python_worker.apply.reconciler import Paths, reconcile
        from python_worker.apply.system import NoReload
        from python_worker.core.config import DirectoryEntry, PeerConfig, RemoteDirectory, Settings
        from python_worker.core.directory import directory_version
        from python_worker.core.runtime import AmiAccount, Runtime
        from python_worker.db.moduledb import init_db, upsert_peer, write_directory, write_settings
        from python_worker.statedir import HOOKS_FILE

        t0 = time.perf_counter()
        module_db = self.work / "db" / "module.db"
        init_db(module_db)
        write_settings(module_db, Settings(station_name="pc", own_patterns="[12]XX"))
        k = (self.numbers - 1) // 1000
        self.peer_numbers: dict[str, list[str]] = {}
        for j in range(self.peers):
            name = f"peer{j}"
            pattern = f"{j + 1}{'0' if k == 0 else f'[0-{k}]'}XXX"
            numbers = [f"{j + 1}{i:04d}" for i in range(self.numbers)]
            self.peer_numbers[name] = numbers
            public, _ = zmq.curve_keypair()
            upsert_peer(module_db, PeerConfig(name=name, host=f"127.0.1.{12 + j}", patterns=pattern,
                                              secret=secrets.token_hex(16), paired=True, sync_port=SYNC_PORT,
                                              public_key=public.decode()))
            entries = tuple(DirectoryEntry(n, f"Peer{j} User {n}", "SIP") for n in numbers)
            write_directory(module_db, RemoteDirectory(
                peer=name, version=directory_version(__version__, pattern, entries), module_version=__version__,
                patterns=pattern, entries=entries))
        t_db = time.perf_counter() - t0
        self.account = AmiAccount(AMI_USERNAME, secrets.token_hex(16))
        runtime = Runtime.of(carries_states=True, drives_lamps=True, ami=self.account)
        paths = Paths(self.db_path, module_db, self.work / "state")
        t0 = time.perf_counter()
        report = reconcile(paths, NoReload(), runtime=runtime)
        t_rec = time.perf_counter() - t0
        plan = report.plan
        if report.result != "applied" or plan is None:
            raise RuntimeError(f"reconcile: {report.result} {report.message}")
        if len(plan.peers) != self.peers or not all(p.carries_states for p in plan.peers):
            raise RuntimeError(f"plan: {len(plan.peers)} peers, carried: {[p.carries_states for p in plan.peers]}; "
                               f"problems: {[p.code for p in plan.problems]}")
        self.plan = plan
        self.hooks = self.ms.load_hooks(paths.state(HOOKS_FILE))
        return {"module_db_written_s": round(t_db, 2), "reconcile_s": round(t_rec, 2),
                "problems": sorted({p.code for p in plan.problems}),
                "patterns": {p.name: list(p.patterns) for p in plan.peers},
                "pattern_hints": sum(len(p.pattern_hints) for p in plan.peers),
                "hooks": {name: {"bytes": len(text), "lines": text.count("\n")} for name, text in self.hooks.items()
                          if text}}

    def render_with_module(self) -> None:
        self.st.hooks = dict(self.hooks)
        self.ms.rerender_dialplan_and_pjsip(self.st.host_dir, self.st.db, self.st.hooks, self.net)
        manager = (self.st.host_dir / "etc" / "manager.conf").read_text()
        if f"[{self.account.username}]" not in manager:
            raise RuntimeError("the module's AMI user is not in manager.conf")

    def devices(self) -> list[str]:
        assert self.plan is not None
        return [p.state_device(n) for p in self.plan.peers for n in self.peer_numbers[p.name]]

    def set_devices(self, state: str = "NOT_INUSE", timeout: float = 300.0) -> dict[str, Any]:
        devices = self.devices()
        job = self.h.host_run / "ami-job.json"
        job.touch(mode=0o600)
        job.write_text(json.dumps({"host": ADDR, "port": 5038, "username": self.account.username,
                                   "secret": self.account.secret, "devices": devices, "state": state,
                                   "timeout": timeout}))
        c0 = cpu_s(self.st.pid)
        try:
            r = subprocess.run(["ip", "netns", "exec", str(self.h.netns), sys.executable, str(Path(__file__).resolve()),
                                "_ami_set", str(job)], capture_output=True, text=True, timeout=timeout + 30,
                               check=False, cwd=ROOT)
        finally:
            job.unlink(missing_ok=True)
        if r.returncode != 0:
            raise RuntimeError(f"AMI setter: {r.stderr[-2000:]}")
        res: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
        res["asterisk_cpu_s"] = round(cpu_s(self.st.pid) - c0, 2)
        if res["success"] != len(devices):
            raise RuntimeError(f"AMI setter: {res}")
        # Every device known to Asterisk (func_devstate: `devstate list`), bounded.
        t0 = time.perf_counter()

        def all_set() -> bool:
            try:
                return self.rx("devstate list", timeout=60).count("Custom:FED-") >= len(devices)
            except (self.hs.HarnessError, subprocess.TimeoutExpired):
                return False
        res["all_listed"] = bool(self.hs.wait_until(all_set, 120, 0.5))
        res["listed_after_s"] = round(time.perf_counter() - t0, 2)
        return res

    def close(self) -> None:
        self.h.close()


def run(args: argparse.Namespace) -> None:
    b = Bench(args.peers, args.numbers, args.reloads)
    FIG["machine"] = {"load_at_start": loadavg(), "cores": os.cpu_count(), "python": sys.version.split()[0],
                      "netns": b.h.netns_note, "peers": args.peers, "numbers_per_peer": args.numbers,
                      "phones": PHONES}
    try:
        b.boot()  # warm-up (file cache, AstDB created); not measured
        FIG["asterisk"] = b.rx("core show version").strip()
        # (a) without the module
        FIG["a_without_module"] = b.measure_case("a")
        # (b) the module's rendered output, nothing set yet
        FIG["module"] = b.module_files()
        say("module", json.dumps(FIG["module"]))
        b.render_with_module()
        FIG["b_with_module"] = b.measure_case("b")
        # (c) every per-number device set once over AMI
        c: dict[str, Any] = {"load_before": loadavg(), "set": b.set_devices()}
        b.settle()
        c["rss_mb_after_set"] = rss_mb(b.st.pid)
        c.update(b.reloads("c"))
        c["hints"] = b.hints()
        FIG["c_states_set"] = c
        say("c", json.dumps(c))
        if not args.no_restart:
            d = b.measure_boot("d")
            d["hints"] = b.hints()
            d["devices_listed"] = b.rx("devstate list", timeout=60).count("Custom:FED-")
            FIG["d_restart_with_states"] = d
            say("d", json.dumps(d))
        FIG["budget"] = budget(FIG)
    except BaseException as exc:
        FIG["error"] = f"{type(exc).__name__}: {exc}"[:3000]
        raise
    finally:
        FIG["machine"]["load_at_end"] = loadavg()
        b.close()


def budget(fig: dict[str, Any]) -> dict[str, Any]:
    a, m, c = fig["a_without_module"], fig["b_with_module"], fig["c_states_set"]
    base = a["reload_done_ms_median"]
    out: dict[str, Any] = {
        "reload_ratio_b": round(m["reload_done_ms_median"] / base, 2),
        "reload_ratio_c": round(c["reload_done_ms_median"] / base, 2),
        "rss_delta_mb_after_boot_b": round(m["rss_mb_after_boot"] - a["rss_mb_after_boot"], 1),
        "rss_delta_mb_after_reloads_b": round(m["rss_mb_after_reloads"] - a["rss_mb_after_reloads"], 1),
        "rss_delta_mb_after_set_c": round(c["rss_mb_after_set"] - a["rss_mb_after_reloads"], 1),
        "rss_delta_mb_after_reloads_c": round(c["rss_mb_after_reloads"] - a["rss_mb_after_reloads"], 1),
    }
    out["reload_met"] = out["reload_ratio_b"] < 2 and out["reload_ratio_c"] < 2
    out["rss_met"] = max(out["rss_delta_mb_after_boot_b"], out["rss_delta_mb_after_reloads_b"],
                         out["rss_delta_mb_after_set_c"], out["rss_delta_mb_after_reloads_c"]) < 50
    return out


def main() -> int:
    if sys.argv[1:2] == ["_ami_set"]:  # the setter, started by set_devices inside the namespace
        print(json.dumps(ami_set(Path(sys.argv[2]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=int, default=9, help="paired peers (1-9)")
    ap.add_argument("--numbers", type=int, default=2000, help="numbers in each peer's directory (1-10000)")
    ap.add_argument("--no-restart", action="store_true", help="skip (d), the restart with the states in AstDB")
    ap.add_argument("--reloads", type=int, default=3, help="dialplan reloads per case (the median is reported)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not 1 <= args.peers <= 9 or not 1 <= args.numbers <= 10000 or not 1 <= args.reloads <= 50:
        ap.error("--peers 1-9 (one leading digit each), --numbers 1-10000, --reloads 1-50")
    try:
        run(args)
    finally:
        text = json.dumps(FIG, indent=1, default=str)
        if args.json:
            args.json.write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
