"""Ten stations over a WAN (issue 14): build the paired full mesh on real Asterisk 22 and measure the targets.

Run as root (needs the chroot of tests/e2e/setup_asterisk.sh; `iptables` is installed on the host if missing):

    .venv/bin/python bench/bench_wan.py [--stations 10] [--phones 200] [--rtt 50] [--loss 0.01]
        [--phases setup,add,lamps,calls,idle,dead,busy,outage] [--busy-seconds 120] [--busy-rate 20]
        [--outage-seconds 300] [--outage-changes 2000] [--json out.json]

What it builds (tests/e2e/wan_mesh.py): N stations st0..st{N-1} on 127.0.1.11.., each with --phones SIP
extensions ([12]kXX), its own mikopbx.db/module.db and the module's `run` worker (with its sync service) inside
the suite's network namespace; the WAN emulator (tests/e2e/wan.py, NFQUEUE) between station addresses only,
--rtt ms round trip and --loss per packet and direction. Stations 0..N-2 are paired by `invite create` /
`invite accept` (full mesh) during `setup`; the last station joins in `add`.

Phases (each prints and stores its figures; times are wall clock, SIPp trace stamps share the host clock):
- setup: build, boot, workers, pair N-1 stations full mesh; setup time and resident memory (Asterisk, workers,
  emulator) once the mesh is live.
- add: the last station's phones register, the N-1 others create an invitation each, the last station accepts
  them back to back; from each accept to the first answered call from that peer (a caller there dials a number
  of the new station 5 times a second until one is answered) and to all the new station's lamps Idle there.
- calls: every station's phones registered; one call per ordered pair (all stations at once): answered count,
  INVITE (with auth) -> 200 OK median/p99.
- lamps: time until every remote lamp on every station shows its phone's state (Idle) after all phones
  registered at once.
- dead: one station's WAN cut (every packet dropped); per other station: cut -> trunk Unavail / sync down ->
  its lamps Unavailable there; a call to it fails how fast; then the link back -> lamps Idle again.
- idle: worker CPU and RSS, Asterisk RSS, over --idle-seconds with nothing happening.
- busy: every station makes --busy-rate device-state changes per second for --busy-seconds (calls between its
  own phones: each call is ~6 changes), a phone on every station watches numbers on every other station (BLF);
  lag = the watched phone's INVITE/BYE at its station -> the NOTIFY at the watcher, per minute of the run
  (growth), PUBLISH per state change, taskprocessor warnings in the Asterisk logs, worker CPU.
- outage: one station's WAN cut for --outage-seconds while --outage-changes device states change on it and on
  the others; then back: time until every lamp on every station is right again (bounded by --heal-timeout;
  beyond that the backlog is extrapolated from the PUBLISH rate, marked as such).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import federation as fd  # noqa: E402
from tests.e2e import harness as hs  # noqa: E402
from tests.e2e import wan  # noqa: E402
from tests.e2e import wan_mesh as wm  # noqa: E402

FIG: dict[str, object] = {}


def say(*a: object) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


def dist(values: list[float]) -> dict[str, object]:
    if not values:
        return {"n": 0}
    # the share over 3 RTT and over TCP's tail-loss recovery with one segment in flight (2 SRTT + 200 ms): tells a
    # tail made by lost segments from one made by a busy CPU
    over = {f"over_{t}ms_pct": round(100 * sum(1 for v in values if v * 1000 > t) / len(values), 2) for t in (150, 250)}
    return {"n": len(values), "p50_ms": ms(statistics.median(values)), "p90_ms": ms(wm.pct(values, 0.90)),
            "p99_ms": ms(wm.pct(values, 0.99)), "max_ms": ms(max(values)), "min_ms": ms(min(values)), **over}


def memory(m: wm.WanMesh) -> dict[str, object]:
    ast = [wm.rss_kb(s.st.pid) for s in m.fed.stations.values() if s.st.proc is not None]
    wk = [wm.rss_kb(s.worker.pid) for s in m.fed.stations.values() if s.worker is not None]
    emu = wm.rss_kb(m.wan.proc.pid) if m.wan is not None and m.wan.proc is not None else 0
    return {"asterisk_mb_each_median": round(statistics.median(ast) / 1024, 1) if ast else None,
            "asterisk_mb_total": round(sum(ast) / 1024, 1), "workers_mb_each_median":
            round(statistics.median(wk) / 1024, 1) if wk else None, "workers_mb_total": round(sum(wk) / 1024, 1),
            "emulator_mb": round(emu / 1024, 1), "load": wm.loadavg()}


# ------------------------------------------------------------------------------------------------ phases
def phase_setup(m: wm.WanMesh) -> None:
    t0 = time.monotonic()
    m.build()
    t_build = time.monotonic() - t0
    m.start_asterisk(range(m.n))
    t_boot = time.monotonic() - t0 - t_build
    for k in range(m.n):
        m.start_worker(k)
    t_workers = time.monotonic() - t0 - t_build - t_boot
    core = list(range(m.n - 1))
    tp = time.monotonic()
    for i, j in itertools.combinations(core, 2):
        m.pair(i, j)
    t_pair = time.monotonic() - tp
    ok = m.wait_mesh(core, 300)
    t_live = time.monotonic() - tp
    FIG["setup"] = {"stations": m.n, "phones_each": m.phones, "pairings": len(core) * (len(core) - 1) // 2,
                    "build_dbs_s": round(t_build, 1), "boot_asterisk_s": round(t_boot, 1),
                    "start_workers_s": round(t_workers, 1), "pairing_commands_s": round(t_pair, 1),
                    "pairing_to_mesh_live_s": round(t_live, 1), "mesh_live": ok,
                    "total_s": round(time.monotonic() - t0, 1), "memory": memory(m)}
    say("setup", FIG["setup"])
    if not ok:
        raise SystemExit("mesh not live: " + json.dumps({s: sorted(m.live_peers(k)) for k, s in
                                                           enumerate(x.name for x in m.specs)}))


def lamps_of(m: wm.WanMesh, k: int, of: int) -> dict[str, str]:
    h = m.hints(k)
    return {n: h.get(n, "") for n in m.specs[of].phones}


def phase_add(m: wm.WanMesh) -> None:
    new = m.n - 1
    others = list(range(m.n - 1))
    assert m.register(new), "registration of the new station's phones failed"
    m.start_uas(new)
    invitations = {j: m.invite(j) for j in others}
    target = m.specs[new].phones[0]
    accepted: dict[int, tuple[float, float]] = {}
    callers = {}
    live_at: dict[int, float] = {}
    accepting = threading.Event()  # set once every accept has returned

    def watch_lamps() -> None:
        """From its accept on, each peer's view of the new station's lamps, while the later accepts go on (a
        look after all nine would make the early ones read late by construction)."""
        deadline = time.time() + 300
        while time.time() < deadline and not (accepting.is_set() and len(live_at) == len(others)):
            for j in list(accepted):
                if j not in live_at and all(v == "Idle" for v in lamps_of(m, j, new).values()):
                    live_at[j] = time.time()
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_lamps, name="lamps", daemon=True)
    watcher.start()
    t_first = time.time()
    for j in others:
        t_a = time.time()
        pairs = [(m.specs[j].phones[0], target)] * 150
        t_b = m.accept(new, invitations[j])
        accepted[j] = (t_a, t_b)
        m.st(j).peers.add(m.specs[new].name)
        m.st(new).peers.add(m.specs[j].name)
        # stopped by its first answered call: nine callers at 5 calls/s each would load the machine like a busy hour
        callers[j] = m.start_calls(j, pairs, rate=5, hold_ms=200, limit=50, timeout=60, stop_at_answer=True)
    accepting.set()
    watcher.join(320)
    answered: dict[int, float | None] = {}
    for j, run in callers.items():
        run.wait(90)
        oks = [t + d for _c, t, d in wm.calls_result(run).values() if d is not None]
        answered[j] = min(oks) if oks else None
    per = {}
    for j in others:
        t_a, t_b = accepted[j]
        per[m.specs[j].name] = {
            "accept_cmd_s": round(t_b - t_a, 2),
            "accept_to_first_answered_s": None if answered[j] is None else round(answered[j] - t_a, 2),
            "accept_to_lamps_live_s": None if j not in live_at else round(live_at[j] - t_a, 2)}
    vals_call = [v["accept_to_first_answered_s"] for v in per.values() if v["accept_to_first_answered_s"] is not None]
    vals_lamp = [v["accept_to_lamps_live_s"] for v in per.values() if v["accept_to_lamps_live_s"] is not None]
    FIG["add"] = {"per_peer": per, "first_accept_to_all_answered_s":
                  round(max(a for a in answered.values() if a) - t_first, 2) if vals_call else None,
                  "first_accept_to_all_lamps_live_s": round(max(live_at.values()) - t_first, 2) if live_at else None,
                  "accept_to_first_answered_median_s": round(statistics.median(vals_call), 2) if vals_call else None,
                  "accept_to_first_answered_max_s": max(vals_call) if vals_call else None,
                  "accept_to_lamps_live_median_s": round(statistics.median(vals_lamp), 2) if vals_lamp else None,
                  "accept_to_lamps_live_max_s": max(vals_lamp) if vals_lamp else None,
                  "peers_never_live_in_120s": [m.specs[j].name for j in others if j not in live_at]}
    say("add", json.dumps(FIG["add"]))
    ok = m.wait_mesh(list(range(m.n)), 120)
    FIG["add"]["full_mesh_live"] = ok  # type: ignore[index]


def ensure_phones(m: wm.WanMesh) -> None:
    """Every station's phones registered at its UAS (which answers every call)."""
    running = {r.name for r in m.sipps if r.proc.poll() is None}
    for k in range(m.n):
        if f"uas{k}" in running:
            continue
        assert m.register(k), f"registration on st{k} failed"
        m.start_uas(k)


def phase_lamps(m: wm.WanMesh) -> None:
    """All phones of stations without phones yet register at once: until every remote lamp is Idle everywhere."""
    t0 = time.time()
    ensure_phones(m)
    t_reg = time.time() - t0
    done: dict[int, float] = {}
    deadline = time.time() + 600
    while len(done) < m.n and time.time() < deadline:
        for k in range(m.n):
            if k in done:
                continue
            h = m.hints(k)
            remote = [n for j in range(m.n) if j != k for n in m.specs[j].phones]
            if all(h.get(n) == "Idle" for n in remote):
                done[k] = time.time()
        time.sleep(1.0)
    FIG["lamps"] = {"register_all_s": round(t_reg, 1),
                    "all_remote_lamps_idle_s": {m.specs[k].name: round(v - t0, 1) for k, v in sorted(done.items())},
                    "max_s": round(max(done.values()) - t0, 1) if done else None,
                    "not_done_in_600s": [m.specs[k].name for k in range(m.n) if k not in done]}
    say("lamps", json.dumps(FIG["lamps"]))


def final_answers(run: wm.Sipp) -> list[str]:
    """The calls of a caller that were not answered: callee and the last answer it got (or none)."""
    out = []
    for msgs in wm.by_call(wm.trace(run.trace)).values():
        invite = next((x for x in msgs if x.sent and x.first.startswith("INVITE ")), None)
        answers = [x.first for x in msgs if not x.sent and x.first.startswith("SIP/2.0 ")
                   and "INVITE" in x.header("CSeq") and not x.first.startswith(("SIP/2.0 1", "SIP/2.0 401"))]
        if invite is not None and not any(a.startswith("SIP/2.0 200") for a in answers):
            out.append(f"{invite.first.split()[1]}: {answers[-1] if answers else 'no final answer'}")
    return out


def phase_calls(m: wm.WanMesh) -> None:
    ensure_phones(m)
    rng = random.Random(14)
    runs = {}
    # No phone in two calls at once: callers from the first half of each station's phones, every callee a
    # different phone of the second half (a random plan that made a phone caller and callee at once got a 486
    # Busy Here, counted as a failed pair).
    half = m.phones // 2
    callees = {j: rng.sample(m.specs[j].phones[half:], m.n - 1) for j in range(m.n)}
    for k in range(m.n):
        callers = rng.sample(m.specs[k].phones[:half], m.n - 1)
        pairs = [(callers[i], callees[j].pop()) for i, j in enumerate(j for j in range(m.n) if j != k)]
        runs[k] = m.start_calls(k, pairs, rate=3, hold_ms=300, limit=20, timeout=120)
    answered, setup = {}, []
    for k, run in runs.items():
        run.wait(150)
        for _cid, (callee, _t, d) in wm.calls_result(run).items():
            j = wm.station_index(callee)
            answered[(k, j)] = d is not None
            if d is not None:
                setup.append(d)
    pairs_ok = sum(answered.values())
    FIG["calls"] = {"ordered_pairs": m.n * (m.n - 1), "answered": pairs_ok,
                    "failed_pairs": [f"st{a}->st{b}" for (a, b), ok in sorted(answered.items()) if not ok],
                    "failures": {k: final_answers(run) for k, run in runs.items() if final_answers(run)},
                    "invite_to_200": dist(setup)}
    say("calls", json.dumps(FIG["calls"]))


def phase_idle(m: wm.WanMesh, seconds: float) -> None:
    pids = {s.name: s.worker.pid for s in m.fed.stations.values() if s.worker is not None}
    before = {n: wm.cpu_s(p) for n, p in pids.items()}
    ast_before = {s.name: wm.cpu_s(s.st.pid) for s in m.fed.stations.values()}
    time.sleep(seconds)
    cpu = {n: wm.cpu_s(p) - before[n] for n, p in pids.items()}
    ast = {s.name: wm.cpu_s(s.st.pid) - ast_before[s.name] for s in m.fed.stations.values()}
    FIG["idle"] = {"seconds": seconds,
                   "worker_cpu_pct_median": round(statistics.median(cpu.values()) / seconds * 100, 2),
                   "worker_cpu_pct_max": round(max(cpu.values()) / seconds * 100, 2),
                   "asterisk_cpu_pct_median": round(statistics.median(ast.values()) / seconds * 100, 2),
                   "memory": memory(m)}
    say("idle", json.dumps(FIG["idle"]))


def trunk_state(m: wm.WanMesh, k: int, peer: str) -> str:
    mm = re.search(r"Contact:\s+" + re.escape(fd.provider_id(peer)) + r"/\S+\s+\S+\s+(\w+)", m.st(k).contacts())
    return mm.group(1) if mm else ""


def phase_dead(m: wm.WanMesh) -> None:
    ensure_phones(m)
    dead = m.n - 1
    name = m.specs[dead].name
    others = list(range(m.n - 1))
    probe = m.specs[dead].phones[:5]
    assert m.wan is not None
    # Start from lamps that are live (Idle) everywhere, or an Unavailable seen at once would be the old one.
    live = hs.wait_until(lambda: all(all(m.hints(j).get(n) == "Idle" for n in probe) for j in others),
                         300, 1.0)
    t0 = time.time()
    m.wan.cut(m.specs[dead].address)
    unavailable: dict[int, float] = {}
    trunk_down: dict[int, float] = {}
    deadline = time.time() + 90
    while len(unavailable) < len(others) and time.time() < deadline:
        for j in others:
            if j not in trunk_down and trunk_state(m, j, name) == "Unavail":
                trunk_down[j] = time.time()
            if j not in unavailable:
                h = m.hints(j)
                if all(h.get(n) == "Unavailable" for n in probe):
                    unavailable[j] = time.time()
        time.sleep(0.2)
    # A call to the dead station from st0.
    run = m.start_calls(0, [(m.specs[0].phones[0], probe[0])], rate=1, hold_ms=100, timeout=60, port=5062)
    run.wait(70)
    msgs = wm.trace(run.trace)
    t_inv = next((x.t for x in msgs if x.sent and x.first.startswith("INVITE") and "Authorization" in x.text), None)
    t_fin = next((x.t for x in msgs if not x.sent and re.match(r"SIP/2\.0 [3-6]\d\d", x.first)
                  and "INVITE" in x.header("CSeq") and not x.first.startswith("SIP/2.0 401")), None)
    final = next((x.first for x in msgs if not x.sent and re.match(r"SIP/2\.0 [2-6]\d\d", x.first)
                  and not x.first.startswith("SIP/2.0 401")), "")
    t_back = time.time()
    m.wan.cut(m.specs[dead].address, cut=False)
    back: dict[int, float] = {}
    deadline = time.time() + 120
    while len(back) < len(others) and time.time() < deadline:
        for j in others:
            if j not in back:
                h = m.hints(j)
                if all(h.get(n) == "Idle" for n in m.specs[dead].phones):
                    back[j] = time.time()
        time.sleep(0.5)
    FIG["dead"] = {"lamps_idle_before_the_cut": live,
                   "cut_to_lamps_unavailable": dist([v - t0 for v in unavailable.values()]),
                   "cut_to_trunk_unavail": dist([v - t0 for v in trunk_down.values()]),
                   "stations_not_unavailable_in_90s": [m.specs[j].name for j in others if j not in unavailable],
                   "call_to_dead_peer": {"final": final, "invite_to_final_s":
                                         None if t_inv is None or t_fin is None else round(t_fin - t_inv, 2)},
                   "link_back_to_all_lamps_idle": dist([v - t_back for v in back.values()]),
                   "stations_not_back_in_120s": [m.specs[j].name for j in others if j not in back]}
    say("dead", json.dumps(FIG["dead"]))


def _notifies(run: wm.Sipp, t_from: float) -> dict[str, list[tuple[float, str]]]:
    """NOTIFYs a BLF subscriber got after t_from: watched number -> [(time, dialog state)]."""
    out: dict[str, list[tuple[float, str]]] = {}
    for m in wm.trace(run.trace):
        if m.sent or not m.first.startswith("NOTIFY ") or m.t < t_from:
            continue
        ent = re.search(r'entity="sip:(\d+)@', m.text)
        st = re.search(r"<state[^>]*>([a-z]+)</state>", m.text)
        if ent:
            out.setdefault(ent.group(1), []).append((m.t, st.group(1) if st else "terminated"))
    return out


def _uas_events(run: wm.Sipp, t_from: float) -> dict[str, dict[str, list[float]]]:
    """At a station's UAS: number -> {"ring": INVITE arrivals, "end": BYE arrivals} after t_from."""
    out: dict[str, dict[str, list[float]]] = {}
    for m in wm.trace(run.trace):
        if m.sent or m.t < t_from:
            continue
        if m.first.startswith("INVITE ") or m.first.startswith("BYE "):
            num = re.search(r"^To:.*?sip:(\d+)@", m.text, re.M)
            if num:
                kind = "ring" if m.first.startswith("INVITE ") else "end"
                out.setdefault(num.group(1), {"ring": [], "end": []})[kind].append(m.t)
    return out


def _pair_lags(events: list[float], notes: list[float]) -> tuple[list[tuple[float, float]], int]:
    """k-th event <-> k-th NOTIFY of the matching state (states travel in order); (event time, lag) pairs and
    the count difference (lost or merged NOTIFYs)."""
    n = min(len(events), len(notes))
    return [(events[i], notes[i] - events[i]) for i in range(n)], len(events) - len(notes)


def phase_busy(m: wm.WanMesh, seconds: float, rate: float, watched_per_station: int = 4) -> None:
    """--busy-rate state changes/s per station for --busy-seconds; lamp lag at BLF subscribers elsewhere."""
    ensure_phones(m)
    rng = random.Random(20)
    half = m.phones // 2
    watched = {j: list(m.specs[j].phones[half:half + watched_per_station]) for j in range(m.n)}
    subs = {}
    for k in range(m.n):
        watcher = m.specs[k].phones[0]
        pairs = [(watcher, w) for j in range(m.n) if j != k for w in watched[j]]
        subs[k] = m.start_subscriptions(k, pairs)
    time.sleep(10)  # initial NOTIFYs
    calls_per_s = rate / 5.0  # a call: caller busy + idle, callee ringing + busy + idle
    n_calls = int(calls_per_s * seconds)
    w_pids = {s.name: s.worker.pid for s in m.fed.stations.values() if s.worker is not None}
    cpu0 = {n: wm.cpu_s(p) for n, p in w_pids.items()}
    logs0 = {s.name: len(m.h.log(s.st)) for s in m.fed.stations.values()}
    t0 = time.time()
    assert m.wan is not None
    links0 = m.wan.stats().get("links", {})
    runs = {}
    for k in range(m.n):
        callers = m.specs[k].phones[1:half]
        callees = m.specs[k].phones[half:]
        pairs = []
        for i in range(n_calls):
            callee = watched[k][i % len(watched[k])] if i % 3 == 0 else rng.choice(callees[len(watched[k]):])
            pairs.append((rng.choice(callers), callee))
        runs[k] = m.start_calls(k, pairs, rate=calls_per_s, hold_ms=1000, limit=50, timeout=seconds + 120)
    for run in runs.values():
        run.wait(seconds + 150)
    t_load_end = time.time()
    # Let the backlog drain (bounded), then read every trace.
    drain = min(600.0, max(60.0, seconds * 2))
    time.sleep(min(drain, 30))
    deadline = time.time() + drain
    uas = {k: next(r for r in m.sipps if r.name == f"uas{k}") for k in range(m.n)}
    while time.time() < deadline:
        ends = {k: _uas_events(uas[k], t0) for k in range(m.n)}
        total_end = sum(len(v["end"]) for k in range(m.n) for w, v in ends[k].items() if w in watched[k])
        got = 0
        for k in range(m.n):
            notes = _notifies(subs[k], t0)
            got += sum(sum(1 for _t, st in notes.get(w, []) if st == "terminated")
                       for j in range(m.n) if j != k for w in watched[j])
        if got >= total_end * (m.n - 1):
            break
        time.sleep(10)
    t_drained = time.time()
    cpu = {n: wm.cpu_s(p) - cpu0[n] for n, p in w_pids.items()}
    for r in subs.values():
        r.stop()
    ring_lags, end_lags, mismatch = [], [], 0
    for k in range(m.n):
        notes = _notifies(subs[k], t0)
        for j in range(m.n):
            if j == k:
                continue
            ev = _uas_events(uas[j], t0)
            for w in watched[j]:
                e = ev.get(w, {"ring": [], "end": []})
                nn = notes.get(w, [])
                lags, d1 = _pair_lags(e["ring"], [t for t, st in nn if st in ("early", "confirmed")][::1])
                # early and confirmed can both follow one ring: keep the first NOTIFY of each call
                firsts = []
                prev = "terminated"
                for t, st in nn:
                    if st != "terminated" and prev == "terminated":
                        firsts.append(t)
                    prev = st
                lags, d1 = _pair_lags(e["ring"], firsts)
                ring_lags += lags
                lags2, d2 = _pair_lags(e["end"], [t for t, st in nn if st == "terminated"])
                end_lags += lags2
                mismatch += abs(d1) + abs(d2)
    all_lags = ring_lags + end_lags

    def window(a: float, b: float) -> dict[str, object]:
        return dist([lag for t, lag in all_lags if a <= t - t0 < b])

    warn = {}
    for s in m.fed.stations.values():
        text = m.h.log(s.st)[logs0[s.name]:]
        warn[s.name] = len(re.findall(r"taskprocessor|task processor", text))
    pub: dict[str, object] = {}
    for s in list(m.fed.stations.values())[:2] if m.sip_log else []:
        msgs = hs.sip_messages(m.h.log(s.st)[logs0[s.name]:])
        sent = [x for x in msgs if x.direction == "tx" and x.is_request and x.method == "PUBLISH"]
        pub[s.name] = {"publish_sent": len(sent), "with_auth": sum(1 for x in sent if x.header("Authorization")),
                       "answered_200": sum(1 for x in msgs if x.direction == "rx" and not x.is_request
                                           and x.method == "PUBLISH" and x.status == 200)}
    links1 = m.wan.stats().get("links", {})
    a, b = m.specs[0].address, m.specs[1].address
    pk = {key: int(links1.get(key, {}).get("packets", 0)) - int(links0.get(key, {}).get("packets", 0))  # type: ignore[union-attr]
          for key in (f"{a}>{b}", f"{b}>{a}")}
    pub["packets_st0_st1_both_ways_during_run"] = pk
    calls = {k: wm.calls_result(r) for k, r in runs.items()}
    answered = sum(1 for c in calls.values() for v in c.values() if v[2] is not None)
    minutes = int(seconds // 60) or 1
    FIG["busy"] = {"seconds": seconds, "rate_per_station": rate, "calls_per_station_per_s": round(calls_per_s, 2),
                   "calls_placed": sum(len(c) for c in calls.values()), "calls_answered": answered,
                   "lag_ring_and_end": dist([lag for _t, lag in all_lags]),
                   "lag_ring": dist([lg for _t, lg in ring_lags]),
                   "lag_end": dist([lg for _t, lg in end_lags]),
                   "lag_by_window": {f"{i * 60}-{(i + 1) * 60}s": window(i * 60, (i + 1) * 60) for i in range(minutes)},
                   "lag_after_load": window(t_load_end - t0, 1e9), "unmatched_events_or_notifies": mismatch,
                   "load_end_to_drained_s": round(t_drained - t_load_end, 1),
                   "taskprocessor_warnings": warn, "publish_counts_first_two_stations": pub,
                   "worker_cpu_pct_median": round(statistics.median(cpu.values()) / (t_drained - t0) * 100, 1),
                   "worker_cpu_pct_max": round(max(cpu.values()) / (t_drained - t0) * 100, 1),
                   "memory": memory(m)}
    say("busy", json.dumps(FIG["busy"]))


def _expected(m: wm.WanMesh, down: dict[int, set[str]]) -> dict[int, dict[str, str]]:
    return {k: {n: ("Unavailable" if n in down.get(j, set()) else "Idle")
                for j in range(m.n) if j != k for n in m.specs[j].phones} for k in range(m.n)}


def phase_outage(m: wm.WanMesh, seconds: float, changes: int, heal_timeout: float) -> None:
    """Station X (the last) loses its WAN for `seconds`; meanwhile ~`changes` device states change on X
    (registrations toggled: unregister all / register all, cycles) and 20 on each other station; X ends with 50
    phones unregistered, each other station with 20. Then the link is back: until every lamp everywhere is
    right (Idle / Unavailable as its phone), bounded by heal_timeout."""
    ensure_phones(m)
    assert m.wan is not None
    x = m.n - 1
    uas = {k: next(r for r in m.sipps if r.name == f"uas{k}" and r.proc.poll() is None) for k in range(m.n)}
    t0 = time.time()
    m.wan.cut(m.specs[x].address)
    time.sleep(min(15.0, seconds / 4))
    # Registrations need the UAS port: stop X's UAS while we toggle (its calls are not needed meanwhile).
    uas[x].stop()
    phones = list(m.specs[x].phones)
    done = 0
    cycles = max(1, changes // (2 * len(phones)))
    for _ in range(cycles):
        m.register(x, phones, expires=0, rate=100)
        m.register(x, phones, rate=100)
        done += 2 * len(phones)
    m.register(x, phones[-50:], expires=0, rate=100)
    done += 50
    down = {x: set(phones[-50:])}
    for j in range(m.n - 1):
        uas[j].stop()
        m.register(j, m.specs[j].phones[-20:], expires=0, rate=100)
        down[j] = set(m.specs[j].phones[-20:])
        m.start_uas(j)
    m.start_uas(x)
    rest = seconds - (time.time() - t0)
    if rest > 0:
        time.sleep(rest)
    t_back = time.time()
    m.wan.cut(m.specs[x].address, cut=False)
    want = _expected(m, down)
    right: dict[int, float] = {}
    wrong_last: dict[int, int] = {}
    deadline = time.time() + heal_timeout
    samples = []
    while len(right) < m.n and time.time() < deadline:
        for k in range(m.n):
            if k in right:
                continue
            h = m.hints(k)
            bad = sum(1 for n, st in want[k].items() if h.get(n) != st)
            wrong_last[k] = bad
            if bad == 0:
                right[k] = time.time()
        samples.append((round(time.time() - t_back, 1), sum(wrong_last.values())))
        time.sleep(1.0)
    FIG["outage"] = {"outage_s": round(t_back - t0, 1), "state_changes_on_x": done,
                     "changes_on_each_other": 20,
                     "back_to_all_lamps_right_s": {m.specs[k].name: round(v - t_back, 1)
                                                   for k, v in sorted(right.items())},
                     "max_s": round(max(right.values()) - t_back, 1) if len(right) == m.n else None,
                     "still_wrong_after_timeout": {m.specs[k].name: wrong_last.get(k) for k in range(m.n)
                                                   if k not in right},
                     "wrong_lamps_over_time": samples[:: max(1, len(samples) // 30)],
                     "heal_timeout_s": heal_timeout}
    say("outage", json.dumps(FIG["outage"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=10)
    ap.add_argument("--phones", type=int, default=200)
    ap.add_argument("--rtt", type=float, default=50.0)
    ap.add_argument("--loss", type=float, default=0.01)
    ap.add_argument("--phases", default="setup,add,lamps,calls,idle,dead")
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--busy-seconds", type=float, default=120)
    ap.add_argument("--busy-rate", type=float, default=20)
    ap.add_argument("--outage-seconds", type=float, default=300)
    ap.add_argument("--outage-changes", type=int, default=2000)
    ap.add_argument("--heal-timeout", type=float, default=600)
    ap.add_argument("--sip-log", action="store_true",
                    help="keep `pjsip set logger on` (PUBLISH counts from the logs; costs CPU at this scale)")
    ap.add_argument("--asterisk-verbose", type=int, default=3,
                    help="Asterisk's verbose level on every station after setup (the stations boot with 3, which "
                         "logs every dialplan step: at 40 calls/s on 2 cores that is a cost of the shared machine)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    phases = args.phases.split(",")
    m = wm.WanMesh(args.stations, args.phones, wan.Link(args.rtt / 2, 0.0, args.loss), sip_log=args.sip_log)
    FIG["machine"] = {"load_at_start": wm.loadavg(), "rtt_ms": args.rtt,
                      "loss": args.loss, "asterisk_verbose": args.asterisk_verbose}
    t0 = time.monotonic()
    try:
        phase_setup(m)
        if args.asterisk_verbose != 3:
            for k in range(m.n):
                m.st(k).rx(f"core set verbose {args.asterisk_verbose}")
        if "add" in phases:
            phase_add(m)
        else:
            for j in range(m.n - 1):
                m.pair(j, m.n - 1)
            m.wait_mesh(list(range(m.n)), 120)
        if "lamps" in phases:
            phase_lamps(m)
        if "calls" in phases:
            phase_calls(m)
        if "idle" in phases:
            phase_idle(m, args.idle_seconds)
        if "dead" in phases:
            phase_dead(m)
        if "busy" in phases:
            phase_busy(m, args.busy_seconds, args.busy_rate)
        if "outage" in phases:
            phase_outage(m, args.outage_seconds, args.outage_changes, args.heal_timeout)
    except BaseException as exc:
        FIG["error"] = f"{type(exc).__name__}: {exc}"[:3000]
        raise
    finally:
        FIG["wall_s"] = round(time.monotonic() - t0, 1)
        FIG["load_at_end"] = wm.loadavg()
        FIG["emulator"] = m.close()
        text = json.dumps(FIG, indent=1, default=str)
        if args.json:
            args.json.write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
