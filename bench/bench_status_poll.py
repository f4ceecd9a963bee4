"""CPU cost on the station of one status poll of the admin page: before (a worker process per poll) and after.

    sudo .venv/bin/python bench/bench_status_poll.py [--polls 30] [--peers 2]

One station of tests/browser (real Asterisk 22, MikoPBX Core 2026.1's admin side in the sid chroot, the module's
worker running with `--peers` typed peers), inside a network namespace of its own (only lo). Measured:
- before: the old path, one `bin/pbxfed status --json` (= `python -m python_worker status --json`, asking the
  running worker over its control socket) per poll, as the page's REST action ran it until the status file:
  CPU (user+system) and peak RSS of that process, from the kernel's accounting of the finished child;
- after: the page's own request, POST /pbxcore/api/modules/ModulePbxFederation/status, answered by Core's
  PbxExtensionsProcessor::callBack -> the module's FederationApi, which reads status.json: the CPU the PHP
  server's processes used for `--polls` requests, divided by the number of requests (on a station nginx
  passes the request to Core's REST, which queues it for WorkerApiCommands; here `php -S` boots Core's DI
  and calls callBack itself for every request, so this counts a DI boot per poll that a station's long-lived
  WorkerApiCommands does not pay: an upper bound).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _reexec_in_netns() -> int:
    ns = f"pbxfed-bench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        links = subprocess.run(["ip", "netns", "exec", ns, "ip", "-o", "link"], check=True, capture_output=True,
                               text=True).stdout
        if [ln for ln in links.splitlines() if ": lo:" not in ln]:
            raise SystemExit(f"{ns} has more than lo")
        env = dict(os.environ, PBXFED_BROWSER_NETNS=ns)
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, *sys.argv[1:]], env=env,
                              check=False).returncode
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)


def _tree(pid: int) -> list[int]:
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for k in kids:
            out += _tree(int(k))
    return out


def _cpu_s(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--polls", type=int, default=30)
    ap.add_argument("--peers", type=int, default=2)
    args = ap.parse_args()
    if not os.environ.get("PBXFED_BROWSER_NETNS"):
        return _reexec_in_netns()
    from tests.browser import adminbox as ab
    from tests.e2e import federation as fd

    f = ab.AdminFederation("bench")
    try:
        f.add(fd.MOSCOW)
        f.start()
        for i in range(args.peers):
            fd.worker_cli("peers", "add", "--mikopbx-db", str(f["moscow"].mikopbx_db), "--module-db",
                          str(f["moscow"].module_db), "--name", f"peer{i}", "--host", f"127.0.1.{i + 1}",
                          "--patterns", f"{5 + i}XX", "--secret", fd.pair_secret("moscow", f"peer{i}"))
        a = f.admin("moscow")
        a.start_worker()
        time.sleep(3)
        before_cpu, before_rss = [], []
        # each run measured inside the box by a small parent that reports its one child's rusage
        meter = ("import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True);"
                 " r = resource.getrusage(resource.RUSAGE_CHILDREN); ok = json.loads(p.stdout)['ok'];"
                 " print(json.dumps([r.ru_utime + r.ru_stime, r.ru_maxrss, ok]))")
        status_argv = a.argv_in_box([str(ab.VENV_PYTHON), "-c", meter, f"{a.in_chroot(a.module_dir)}/bin/pbxfed",
                                     "status", "--json"])
        for _ in range(args.polls):
            proc = subprocess.run(status_argv, capture_output=True, text=True, timeout=60, check=False)
            cpu, rss_kb, ok = json.loads(proc.stdout)
            assert ok, proc.stdout + proc.stderr
            before_cpu.append(cpu)
            before_rss.append(rss_kb / 1024)
        php = a.procs["php"].pid
        url = f"{a.base_url}/pbxcore/api/modules/ModulePbxFederation/status"
        req = urllib.request.Request(url, data=b"", method="POST")
        urllib.request.urlopen(req, timeout=30).read()  # warm: opcache-less PHP, but the files are in page cache
        c0 = _cpu_s(_tree(php))
        t0 = time.monotonic()
        for _ in range(args.polls):
            body = json.loads(urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"),
                                                     timeout=30).read())
            assert body["result"] is True and len(body["data"]["peers"]) == args.peers, body
        wall = time.monotonic() - t0
        after = (_cpu_s(_tree(php)) - c0) / args.polls
        load = os.getloadavg()
        print(json.dumps({
            "polls": args.polls, "peers": args.peers, "loadavg": [round(x, 2) for x in load],
            "before_python_process_cpu_s": {"min": round(min(before_cpu), 3), "median": round(sorted(before_cpu)[
                len(before_cpu) // 2], 3), "max": round(max(before_cpu), 3)},
            "before_python_process_peak_rss_mb": round(max(before_rss), 1),
            "after_php_rest_cpu_s_per_poll": round(after, 4),
            "after_php_rest_wall_s_per_poll": round(wall / args.polls, 4),
        }, indent=1))
        return 0
    finally:
        f.close()


if __name__ == "__main__":
    sys.exit(main())
