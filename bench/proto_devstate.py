"""Prototypes for choosing how lamps cross a WAN (issue 14, phase 1): raw capability of Asterisk 22.10.

Run as root (the chroot of tests/e2e/setup_asterisk.sh):

    .venv/bin/python bench/proto_devstate.py [--states 400] [--rtt 50] [--loss 0.01]
        [--tests publish,learn,bridge,hints] [--json out.json]

Two plain Asterisk stations (no module: hand-written pjsip.conf / extensions.conf / manager.conf), A 127.0.1.11
and B 127.0.1.12, in the suite's namespace, with the WAN emulator (tests/e2e/wan.py) between them. States are
`Custom:` devices set on A through AMI (bench/ami_tool.py `set`: `Setvar DEVICE_STATE(Custom:..)`, pipelined); B
has one hint per device and a process on B's AMI records the `ExtensionStatus` event of each (filtered by the
extension number, not by entity ID, which AMI shows only from 22.13).

- publish: stock res_pjsip_outbound_publish A -> B, --states states changed in a burst; variants: the trunk-like
  endpoint with digest auth on PUBLISH, an endpoint identified by IP only without auth, and K = 4, 10, 20
  outbound-publish objects (with auth) each with a disjoint `@device_state_filter` slice (devices
  `Custom:P<n mod K>x<n>`), all to the same inbound-publication on B. Figures: states/s until the last lamp on B,
  packets A -> B per state (emulator counters); then B is restarted and we count how many of the states come
  back (the refresh/resync path) within 60 s.
- learn: how fast a process learns local device-state changes: AMI `DeviceStateChange` over one persistent
  connection (set one at a time: latency from the Setvar to the event) vs polling the CLI (`asterisk -rx
  'core show hints'` with 2,000 hints: time per poll); how fast it sets them: AMI Setvar one at a time and
  pipelined (window 50) vs `asterisk -rx 'devstate change ...'` per state; CPU of the tool and of Asterisk.
- bridge: the sync-channel design end to end: bench/proto_bridge.py on A learns A's changes from AMI events and
  sends each as it comes over CurveZMQ (pipelined TCP, server key pinned) to its peer on B, which sets
  `Custom:` devices on B through AMI Setvar (pipelined); --states changed in a burst on A -> every lamp on B.
- hints: dialplan reload time and Asterisk RSS of a station with 200 phones (tests/e2e/mikopbx_station.py) with
  no module hints, with 9 peers x 2,000 explicit hints in the module's form (`PJSIP/n&Custom:FED-<hex>`), and
  with 9 pattern hints (`exten => _<p>XXXX,hint,PJSIP/${EXTEN}&Custom:FED-<hex>`); and whether a pattern hint
  lights the right lamp for a BLF subscription (SIPp SUBSCRIBE) and leaves an overlapping local number alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import harness as hs  # noqa: E402
from tests.e2e import mikopbx_station as ms  # noqa: E402
from tests.e2e import wan  # noqa: E402

A, B = "127.0.1.11", "127.0.1.12"
SECRET = "proto-secret-0123456789"
FIG: dict[str, object] = {}


def say(*a: object) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def manager_conf(addr: str) -> str:
    return (f"[general]\nenabled = yes\nport = 5038\nbindaddr = {addr}\n\n"
            "[bench]\nsecret = bench\nread = all\nwrite = all\n")


def modules_conf() -> str:
    return "\n".join(ln for ln in ms.modules_conf().splitlines()
                     if "res_manager_devicestate" not in ln and "res_manager_presencestate" not in ln) + "\n"


def pjsip_pair(me: str, my_addr: str, peer: str, peer_addr: str, *, auth: bool, k: int, send_prefix: str,
               recv_prefix: str) -> str:
    """pjsip.conf of one plain station: a trunk endpoint to the peer (identify by IP, digest auth on everything it
    receives when `auth`), `k` outbound-publish objects to the peer (slice i: `^Custom:<send_prefix><i>x`, or the
    whole prefix when k == 1), the inbound-publication + asterisk-publication for the peer's states."""
    out = [f"[transport-udp]\ntype = transport\nprotocol = udp\nbind = {my_addr}:5060\n",
           f"[{peer}]\ntype = aor\ncontact = sip:{peer_addr}:5060\n",
           f"[{peer}]\ntype = identify\nendpoint = {peer}\nmatch = {peer_addr}\n",
           f"[{peer}-IN]\ntype = auth\nusername = {peer}\npassword = {SECRET}\n",
           f"[{peer}-OUT]\ntype = auth\nusername = {me}\npassword = {SECRET}\n",
           f"[{peer}]\ntype = endpoint\ncontext = default\ndisallow = all\nallow = alaw\naors = {peer}\n"
           f"outbound_auth = {peer}-OUT\n" + (f"auth = {peer}-IN\n" if auth else "")]
    for i in range(k):
        filt = f"^Custom:{send_prefix}{i}x" if k > 1 else f"^Custom:{send_prefix}"
        out.append(f"[PUB-{peer}-{i}]\ntype = outbound-publish\nserver_uri = sip:{me}@{peer_addr}:5060\n"
                   f"event = asterisk-devicestate\noutbound_auth = {peer}-OUT\n@device_state_filter = {filt}\n")
    out.append(f"[{peer}]\ntype = inbound-publication\nendpoint = {peer}\nevent_asterisk-devicestate = {peer}\n")
    out.append(f"[{peer}]\ntype = asterisk-publication\ndevice_state = yes\ndevicestate_publish = PUB-{peer}-0\n"
               f"device_state_filter = ^Custom:{recv_prefix}\n")
    return "\n".join(out)


def names(n: int, k: int, prefix: str = "P") -> list[str]:
    return [f"{prefix}{i % k}x{i}" if k > 1 else f"{prefix}{i}" for i in range(n)]


def hints_ext(devs: list[str], base: int = 500000) -> str:
    return "[default]\nexten => s,1,Hangup()\n" + "".join(
        f"exten => {base + i},hint,Custom:{d}\n" for i, d in enumerate(devs))


class Pair:
    """Two plain stations in one harness with the WAN between them."""

    def __init__(self, rtt: float, loss: float) -> None:
        self.h = hs.Harness()
        self.wan = wan.WanEmulator(self.h, [A, B], wan.Link(rtt / 2, 0.0, loss), sync_port=7790)
        self.wan.start()
        self.st: dict[str, hs.Station] = {}
        for name, addr, rtp in (("pa", A, 30000), ("pb", B, 31000)):
            db = ms.create_db(self.h.host_run / f"{name}.db")
            net = ms.StationNet(name, addr, "02:00:00:00:00:0" + ("a" if name == "pa" else "b"), 5060, rtp, rtp + 999)
            self.st[name] = self.h.add_station(net, db, {})

    def write(self, name: str, pjsip: str, ext: str) -> None:
        etc = self.st[name].host_dir / "etc"
        (etc / "pjsip.conf").write_text(pjsip)
        (etc / "extensions.conf").write_text(ext)
        (etc / "manager.conf").write_text(manager_conf(self.st[name].address))
        (etc / "modules.conf").write_text(modules_conf())
        (etc / "logger.conf").write_text("[general]\ndateformat=%F %T.%3q\n\n[logfiles]\n"
                                         "messages.log => notice,warning,error\n")

    def restart(self, *which: str) -> float:
        """Stop and start the stations; returns the seconds the last one took to answer `core waitfullybooted`
        (a station with 18,000 hints answers the remote console only after more than the harness's 10 s)."""
        for name in which:
            self.h.stop(self.st[name])
        took = 0.0
        for name in which:
            st = self.st[name]
            t0 = time.monotonic()
            try:
                self.h.start(st, boot_timeout=120)
            except subprocess.TimeoutExpired:
                def up(st: hs.Station = st) -> bool:
                    try:
                        return "fully booted" in self.h.rx(st, "core waitfullybooted", timeout=30).lower()
                    except (hs.HarnessError, subprocess.TimeoutExpired):
                        return False
                if not hs.wait_until(up, 180, 1.0):
                    raise
            took = time.monotonic() - t0
        return took

    def tool(self, *args: str, timeout: float = 600) -> dict[str, object]:
        r = subprocess.run(["ip", "netns", "exec", str(self.h.netns), sys.executable,
                            str(ROOT / "bench" / "ami_tool.py"), *args], capture_output=True, text=True,
                           timeout=timeout, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"ami_tool {args[0]}: {r.stderr[-2000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    def start_tool(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["ip", "netns", "exec", str(self.h.netns), sys.executable,
                                 str(ROOT / "bench" / "ami_tool.py"), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def hint_states(self, name: str) -> dict[str, str]:
        out = {}
        for line in self.h.rx(self.st[name], "core show hints", timeout=30).splitlines():
            parts = line.split()
            if parts and "@" in parts[0] and "State:" in line:
                out[parts[0].split("@")[0]] = line.split("State:")[1].split()[0]
        return out

    def link_packets(self, a: str, b: str) -> int:
        links = self.wan.stats().get("links", {})
        return int(links.get(f"{a}>{b}", {}).get("packets", 0))  # type: ignore[union-attr]

    def close(self) -> dict[str, object]:
        try:
            return self.wan.stop()
        finally:
            self.h.close()


def wait_proc(p: subprocess.Popen[str], timeout: float) -> dict[str, object]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
    if p.returncode != 0:
        raise RuntimeError(err[-2000:])
    return json.loads(out.strip().splitlines()[-1])


def burst_to_b(p: Pair, n: int, k: int, timeout: float, prefix: str) -> dict[str, object]:
    """--states changes on A (all to INUSE), every lamp on B: time, states/s, packets A->B per state."""
    ready = p.h.host_run / "watch.ready"
    ready.unlink(missing_ok=True)
    watcher = p.start_tool("watch", "--ami", B, "--source", "exten", "--exten-prefix", "5", "--exten-state",
                           "InUse", "--count", str(n), "--seconds", str(timeout), "--ready-file", str(ready))
    hs.wait_until(ready.exists, 10, 0.05)
    pk0 = p.link_packets(A, B)
    s = p.tool("set", "--ami", A, "--prefix", prefix, "--count", str(n), "--slices", str(k if k > 1 else 0),
               "--window", "50", "--state", "INUSE")
    w = wait_proc(watcher, timeout + 30)
    time.sleep(1.2)
    pk = p.link_packets(A, B) - pk0
    t_set = float(s["t_start"])  # type: ignore[arg-type]
    last = w.get("last")
    dur = None if last is None else float(last) - t_set  # type: ignore[arg-type]
    return {"states": n, "arrived": w["distinct"], "set_s": s["wall_s"],
            "first_lamp_s": None if w.get("first") is None else round(float(w["first"]) - t_set, 3),  # type: ignore[arg-type]
            "last_lamp_s": None if dur is None else round(dur, 2),
            "states_per_s": None if not dur else round(int(w["distinct"]) / dur, 1),  # type: ignore[arg-type]
            "packets_a_to_b_per_state": round(pk / n, 2)}


def resync_after_restart(p: Pair, n: int, seconds: float) -> dict[str, object]:
    """Restart B (it loses A's states); count B's lamps InUse again over time (A's refresh dump)."""
    t0 = time.time()
    p.restart("pb")
    t_up = time.time() - t0
    counts = []
    deadline = time.time() + seconds
    full = None
    while time.time() < deadline:
        c = sum(1 for v in p.hint_states("pb").values() if v == "InUse")
        counts.append((round(time.time() - t0, 1), c))
        if c >= n:
            full = time.time() - t0
            break
        time.sleep(1.0)
    return {"boot_s": round(t_up, 1), "all_back_s": None if full is None else round(full, 1),
            "lamps_back_after": counts[-1], "of": n}


def test_publish(p: Pair, n: int) -> None:
    out = {}
    variants = (("auth, 1 publisher", True, 1), ("no auth (IP only), 1 publisher", False, 1),
                ("auth, K=4", True, 4), ("auth, K=10", True, 10), ("auth, K=20", True, 20),
                ("no auth, K=10", False, 10))
    for v, (label, auth, k) in enumerate(variants):
        prefix = f"V{v}"  # fresh device names per variant: AstDB keeps Custom states across restarts
        devs = names(n, k, prefix)
        p.write("pa", pjsip_pair("pa", A, "pb", B, auth=auth, k=k, send_prefix=prefix, recv_prefix="Q"),
                hints_ext([f"Q{i}" for i in range(3)]))
        p.write("pb", pjsip_pair("pb", B, "pa", A, auth=auth, k=1, send_prefix="Q", recv_prefix=prefix),
                hints_ext(devs))
        p.restart("pa", "pb")
        time.sleep(3)  # the start-up dumps and refresh requests of both
        timeout = max(60, n / 8 / max(1, k) + 60)
        res = burst_to_b(p, n, k, timeout, prefix)
        res["resync_after_receiver_restart"] = resync_after_restart(p, n, min(90, timeout))
        warnings = (p.st["pb"].host_dir / "log" / "messages.log").read_text(errors="replace").count("taskprocessor")
        res["taskprocessor_warnings_b"] = warnings
        out[label] = res
        say("publish", label, json.dumps(res))
    FIG["publish"] = out


def test_learn(p: Pair, n: int) -> None:
    devs = names(n, 1, "L")
    p.write("pa", pjsip_pair("pa", A, "pb", B, auth=True, k=1, send_prefix="Z", recv_prefix="Q"), hints_ext(devs))
    p.write("pb", pjsip_pair("pb", B, "pa", A, auth=True, k=1, send_prefix="Q", recv_prefix="Z"), hints_ext([]))
    p.restart("pa", "pb")
    pid = p.st["pa"].pid or 0
    res: dict[str, object] = {}
    # Learn: a watcher on A's AMI, states set one at a time (window 1) from another connection.
    for label, window in (("one at a time", 1), ("pipelined, window 50", 50)):
        ready = p.h.host_run / "learn.ready"
        ready.unlink(missing_ok=True)
        state = "INUSE" if window == 1 else "BUSY"
        w = p.start_tool("watch", "--ami", A, "--prefix", "L", "--source", "device", "--state", state, "--count",
                         str(n), "--seconds", "120", "--ready-file", str(ready), "--all-times")
        hs.wait_until(ready.exists, 10, 0.05)
        s = p.tool("set", "--ami", A, "--prefix", "L", "--count", str(n), "--window", str(window), "--state", state,
                   "--asterisk-pid", str(pid))
        got = wait_proc(w, 150)
        times = got.get("times") or []
        span = (float(got["last"]) - float(s["t_start"])) if got.get("last") else None  # type: ignore[arg-type]
        res[f"AMI Setvar {label}"] = {k: s[k] for k in ("states_per_s", "latency_ms", "tool_cpu_s", "asterisk_cpu_s")}
        res[f"AMI DeviceStateChange learned ({label})"] = {
            "events": got["distinct"], "last_event_after_first_set_s": None if span is None else round(span, 3),
            "events_per_s": None if not span else round(len(times) / span, 1)}
        say("learn", label, json.dumps(res))
    # CLI: `devstate change` per state, and polling `core show hints` (2,000 hints).
    t0, c0 = time.perf_counter(), hs_cpu(pid)
    m = 100
    for i in range(m):
        p.h.rx(p.st["pa"], f"devstate change Custom:L{i} NOT_INUSE")
    wall = time.perf_counter() - t0
    res["CLI devstate change per state"] = {"states": m, "per_state_ms": round(wall / m * 1000, 1),
                                            "states_per_s": round(m / wall, 1),
                                            "asterisk_cpu_ms_per_state": round((hs_cpu(pid) - c0) / m * 1000, 2)}
    t0, c0 = time.perf_counter(), hs_cpu(pid)
    polls = 20
    for _ in range(polls):
        p.h.rx(p.st["pa"], "core show hints", timeout=30)
    wall = time.perf_counter() - t0
    res[f"CLI poll core show hints ({n} hints)"] = {
        "per_poll_ms": round(wall / polls * 1000, 1),
        "asterisk_cpu_ms_per_poll": round((hs_cpu(pid) - c0) / polls * 1000, 1)}
    FIG["learn"] = res
    say("learn", json.dumps(res))


def hs_cpu(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / 100.0
    except (OSError, IndexError, ValueError):
        return 0.0


def test_bridge(p: Pair, n: int, rate: float = 0.0, prefix: str = "P") -> None:
    """Device names differ per run (`prefix`): AstDB keeps Custom states across restarts, and a state set again
    to what it was is no change (no event)."""
    devs = names(n, 1, prefix)
    p.write("pa", pjsip_pair("pa", A, "pb", B, auth=True, k=1, send_prefix="Z", recv_prefix="Q"), hints_ext([]))
    p.write("pb", pjsip_pair("pb", B, "pa", A, auth=True, k=1, send_prefix="Q", recv_prefix="Z"),
            hints_ext([f"R{d}" for d in devs]))
    p.restart("pa", "pb")
    br = p.h.host_run / "bridge"
    br.mkdir(exist_ok=True)
    for stale in ("server.key", "send.ready"):
        (br / stale).unlink(missing_ok=True)
    base = ["ip", "netns", "exec", str(p.h.netns), sys.executable, str(ROOT / "bench" / "proto_bridge.py")]
    recv = subprocess.Popen([*base, "recv", "--bind", B, "--port", "7790", "--ami", B, "--keys", str(br),
                             "--count", str(n), "--seconds", "150"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    hs.wait_until(lambda: (br / "server.key").exists(), 10, 0.05)
    send = subprocess.Popen([*base, "send", "--connect", B, "--port", "7790", "--source", A, "--ami", A, "--keys",
                             str(br), "--prefix", prefix, "--count", str(n), "--seconds", "150"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hs.wait_until(lambda: (br / "send.ready").exists(), 15, 0.05)
    ready = p.h.host_run / "bridge-watch.ready"
    ready.unlink(missing_ok=True)
    watcher = p.start_tool("watch", "--ami", B, "--source", "exten", "--exten-prefix", "5", "--exten-state",
                           "InUse", "--count", str(n), "--seconds", "150", "--ready-file", str(ready), "--all-times")
    hs.wait_until(ready.exists, 10, 0.05)
    pid_a, pid_b = p.st["pa"].pid or 0, p.st["pb"].pid or 0
    ca, cb = hs_cpu(pid_a), hs_cpu(pid_b)
    s = p.tool("set", "--ami", A, "--prefix", prefix, "--count", str(n), "--window", "50", "--state", "INUSE",
               "--rate", str(rate), "--all-times")
    w = wait_proc(watcher, 180)
    rs, ss = wait_proc(recv, 60), wait_proc(send, 60)
    t_set = float(s["t_start"])  # type: ignore[arg-type]
    dur = float(w["last"]) - t_set if w.get("last") else None  # type: ignore[arg-type]
    res = {"states": n, "arrived": w["distinct"],
           "first_lamp_s": None if w.get("first") is None else round(float(w["first"]) - t_set, 3),  # type: ignore[arg-type]
           "last_lamp_s": None if dur is None else round(dur, 3),
           "states_per_s": None if not dur else round(int(w["distinct"]) / dur, 1),  # type: ignore[arg-type]
           "sender": ss, "receiver": {k: v for k, v in rs.items() if k not in ("first", "last")},
           "asterisk_cpu_s": {"A": round(hs_cpu(pid_a) - ca, 2), "B": round(hs_cpu(pid_b) - cb, 2)}}
    lamp_at = w.get("times") or {}
    sent_at = s.get("sent_at") or []
    lags = [float(lamp_at[str(500000 + i)]) - float(t) for i, t in enumerate(sent_at)  # type: ignore[index,union-attr]
            if str(500000 + i) in lamp_at]  # type: ignore[operator]
    lags.sort()
    if lags:
        res["per_state_lag_ms"] = {"p50": round(lags[len(lags) // 2] * 1000, 1),
                                   "p99": round(lags[int(len(lags) * 0.99)] * 1000, 1),
                                   "max": round(lags[-1] * 1000, 1)}
    label = f"loss {p.wan.default.loss}" + (f", {rate:g} states/s trickle" if rate else ", burst")
    FIG.setdefault("bridge", {})[label] = res  # type: ignore[index]
    say("bridge", json.dumps(res))


def reload_until_done(p: Pair, st: hs.Station, tag: str, timeout: float = 300) -> tuple[float, float]:
    """`dialplan reload` with a fresh marker context appended to extensions.conf: (seconds until the -rx returned,
    seconds until the marker is in the running dialplan). The remote console gives up after 60 s on a long
    reload, while Asterisk goes on with it; the marker tells when it is really done."""
    conf = st.host_dir / "etc" / "extensions.conf"
    text = conf.read_text().split("\n[rlmark", 1)[0]
    conf.write_text(text + f"\n[rlmark{tag}]\nexten => 1,1,NoOp(marker)\n")
    t0 = time.perf_counter()
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.h.rx(st, "dialplan reload", timeout=120)
    t_rx = time.perf_counter() - t0

    def seen() -> bool:
        try:
            return "marker" in p.h.rx(st, f"dialplan show rlmark{tag}", timeout=30)
        except (hs.HarnessError, subprocess.TimeoutExpired):
            return False
    hs.wait_until(seen, timeout, 0.2)
    return t_rx, time.perf_counter() - t0


def test_hints(p: Pair, peers: int = 9, per_peer: int = 2000) -> None:
    """Reload time / RSS with no module hints, explicit module-form hints, pattern hints (station pa)."""
    from python_worker.core.planner import provider_id

    db_path = p.h.host_run / "hints.db"
    db = ms.create_db(db_path)
    for i in range(200):
        ms.add_phone(db, f"{i + 100}", f"secret{i}")
    phones = ms.read_station(db)
    net = ms.StationNet("pa", A, "02:00:00:00:00:0a", 5060, 30000, 30999)
    lamp = [f"FED-{provider_id(f'peer{j}')[10:20]}" for j in range(peers)]
    explicit = "".join(f"exten => {j + 1}{i:04d},hint,PJSIP/{j + 1}{i:04d}&Custom:{lamp[j]}\n"
                       for j in range(peers) for i in range(per_peer))
    pattern = "".join(f"exten => _{j + 1}[01]XXX,hint,PJSIP/${{EXTEN}}&Custom:{lamp[j]}\n" for j in range(peers))
    # Overlap: local phone 10150 lies inside peer0's pattern 1[01]XXX.
    ms.add_phone(db, "10150", "secret-ov")
    phones = ms.read_station(db)
    res: dict[str, object] = {}
    st = p.st["pa"]
    p.h.stop(p.st["pb"])
    small = "".join(f"exten => {j + 1}{i:04d},hint,PJSIP/{j + 1}{i:04d}&Custom:{lamp[j]}\n"
                    for j in range(peers) for i in range(200))
    for label, hints in (("no module hints", ""), (f"{peers} x 200 explicit hints (the bench mesh)", small),
                         (f"{peers} x {per_peer} explicit hints", explicit), (f"{peers} pattern hints", pattern)):
        etc = st.host_dir / "etc"
        (etc / "pjsip.conf").write_text(ms.render_pjsip(phones, {}, net))
        (etc / "extensions.conf").write_text(ms.render_extensions(phones, {"extensionGenHints": hints}))
        boot = p.restart("pa")
        time.sleep(1)
        rss0 = rss(st.pid)
        walls, rxs = [], []
        for i in range(2):
            t_rx, t_done = reload_until_done(p, st, f"{len(res)}x{i}")
            walls.append(t_done)
            rxs.append(t_rx)
        time.sleep(0.5)
        res[label] = {"boot_s": round(boot, 1), "reload_done_ms_median": round(statistics.median(walls) * 1000, 1),
                      "reload_done_ms_max": round(max(walls) * 1000, 1),
                      "rx_returned_ms_median": round(statistics.median(rxs) * 1000, 1),
                      "rss_mb_after_boot": round(rss0 / 1024, 1),
                      "rss_mb_after_2_reloads": round(rss(st.pid) / 1024, 1),
                      "hints_shown": p.h.rx(st, "core show hints", timeout=60).count("State:")}
        say("hints", label, json.dumps(res[label]))
    FIG["hints"] = res
    FIG["pattern_hint_lamps"] = pattern_lamps(p, lamp[0])


def pattern_lamps(p: Pair, lamp0: str) -> dict[str, object]:
    """With the pattern hints loaded on pa: phone 100 subscribes (BLF) to 10007 (remote, via the pattern) and to
    10150 (a local phone inside the pattern); a Custom state change of the remote device must reach 10007's lamp
    and not 10150's. Remote state is faked by making PJSIP/10007 'exist' nowhere: we drive the lamp with the
    peer's Custom:FED device instead (UNAVAILABLE -> INVALID), which is what the module does."""
    from tests.e2e import sipp_scenarios as sc

    st = p.st["pa"]
    out: dict[str, object] = {}
    for target in ("10007", "10150"):
        run = p.h.start_sipp(f"blf{target}", sc.blf_subscribe("100", idle_ms=6000, expires=120),
                             local_ip="127.0.2.11", remote=A, service=target, auth=("100", "secret0"), timeout=20)
        time.sleep(1.5)
        shown = p.h.rx(st, f"core show hint {target}")
        p.h.rx(st, f"devstate change Custom:{lamp0} UNAVAILABLE")
        time.sleep(1.0)
        after = p.h.rx(st, f"core show hint {target}")
        p.h.rx(st, f"devstate change Custom:{lamp0} INVALID")
        time.sleep(0.5)
        res = run.stop()
        notifies = res.messages.count("NOTIFY sip:")
        out[target] = {"hint_while_watched": " ".join(shown.split())[:160],
                       "hint_after_remote_lamp_device_UNAVAILABLE": " ".join(after.split())[:160],
                       "notifies": notifies, "subscribe_ok": "SIP/2.0 200 OK" in res.messages}
    say("pattern lamps", json.dumps(out))
    return out


def rss(pid: int | None) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--states", type=int, default=400)
    ap.add_argument("--rtt", type=float, default=50.0)
    ap.add_argument("--loss", type=float, default=0.01)
    ap.add_argument("--tests", default="publish,learn,bridge,hints", help="any of publish,learn,bridge,hints")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tests = args.tests.split(",")
    FIG["machine"] = {"load_at_start": Path("/proc/loadavg").read_text().split()[:3], "rtt_ms": args.rtt,
                      "loss": args.loss, "states": args.states}
    p = Pair(args.rtt, args.loss)
    try:
        if "publish" in tests:
            test_publish(p, args.states)
        if "learn" in tests:
            test_learn(p, 2000)
        if "bridge" in tests:
            test_bridge(p, 2000, prefix="P")
            test_bridge(p, 400, rate=20, prefix="S")
            p.wan.set_default(wan.Link(args.rtt / 2, 0.0, 0.0))
            test_bridge(p, 2000, prefix="T")
            p.wan.set_default(wan.Link(args.rtt / 2, 0.0, args.loss))
        if "hints" in tests:
            test_hints(p)
    except BaseException as exc:
        FIG["error"] = f"{type(exc).__name__}: {exc}"[:3000]
        raise
    finally:
        FIG["load_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
        FIG["emulator"] = p.close()
        text = json.dumps(FIG, indent=1, default=str)
        if args.json:
            args.json.write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
