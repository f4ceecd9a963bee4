"""End-to-end benchmark on real Asterisk 22 stations federated by the module's worker (needs root, the chroot
of tests/e2e/setup_asterisk.sh, and a network namespace; packets stay on 127.0.0.0/8).

Run: .venv/bin/python bench/bench_e2e.py [--rounds 10] [--json out.json]

Figures (median of --rounds each):
1. peer saved -> first successful call: novosibirsk is removed from moscow's and its own module.db, then
   added back on both (the time of the second commit counts); the running workers apply it; a call
   201 -> 401 is placed as soon as both Asterisks have the trunk live; figure = that call's 200 OK at 201
   minus the commit.
2. BLF propagation: 202 on moscow is subscribed to 301 (Event: dialog); 302 calls 301 on spb; figure = the
   NOTIFY "confirmed" at 202 minus the INVITE arriving at 301 (301's device turns busy as spb sends it),
   and the NOTIFY "terminated" minus the BYE at 301 for the way back.
3. post-dial delay: from 201's authenticated INVITE to the INVITE arriving at the called phone (it rings),
   for 201 -> 202 (local, moscow) and 201 -> 301 (across the trunk); figure = the difference of the medians.
   (The caller's own 180 is no measure: Core's [outgoing] answers Ringing() before it dials the trunk.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e import federation as fd  # noqa: E402
from tests.e2e import harness as hs  # noqa: E402
from tests.e2e import sipp_scenarios as sc  # noqa: E402


def trace(messages: str) -> list[tuple[float, str, str]]:
    """SIPp -trace_msg log -> [(epoch, 'sent'|'received', message text)] (tests/e2e/federation.py parses it)."""
    return [(m.time, m.kind, m.text) for m in fd.sipp_trace(messages) if m.time is not None]


def live(st: fd.ModuleStation, peer: str) -> bool:
    pid = fd.provider_id(peer)
    endpoints = st.rx("pjsip show endpoints")
    return pid in endpoints and "There is no existence" not in st.rx(f"dialplan show {pid}-incoming")


def peer_add_to_call(f: fd.Federation, rounds: int) -> list[float]:
    m, n = f["moscow"], f["novosibirsk"]
    out = []
    for _ in range(rounds):
        m.remove_peer("novosibirsk")
        n.remove_peer("moscow")
        assert hs.wait_until(lambda: not live(m, "novosibirsk") and not live(n, "moscow"), 20, 0.1)
        m.add_peer(fd.NSK)
        n.add_peer(fd.MOSCOW)
        t_commit = time.time()
        assert hs.wait_until(lambda: live(m, "novosibirsk") and live(n, "moscow"), 20, 0.05)
        uac, uas = f.call("201", "401", hold_ms=200)
        assert uac.ok and uas.ok, uac.errors
        answered = fd.first_time(uac.messages, r"^SIP/2\.0 200 OK")
        assert answered is not None
        out.append(answered - t_commit)
    return out


def blf_delay(f: fd.Federation, rounds: int) -> tuple[list[float], list[float]]:
    h, m = f.h, f["moscow"]
    f.register("301")
    assert hs.wait_until(lambda: m.hint_state("301") == "Idle", 10, 0.1)
    blf = h.start_sipp("blf202", sc.blf_subscribe("202", idle_ms=30000, expires=600),
                       local_ip=fd.MOSCOW.phone_ip("202"), remote=m.address, service="301",
                       auth=("202", fd.phone_secret("202")), timeout=600)
    busy, idle = [], []
    try:
        assert hs.wait_until(lambda: "NOTIFY sip:" in blf.messages(), 10, 0.05)
        for _ in range(rounds):
            uac, uas = f.call("302", "301", hold_ms=500, ring_ms=300)
            assert uac.ok and uas.ok
            time.sleep(1.0)
            at_301 = trace(uas.messages)
            t_invite = next(t for t, k, x in at_301 if k == "received" and x.startswith("INVITE "))
            t_bye = next(t for t, k, x in at_301 if k == "received" and x.startswith("BYE "))
            notifies = [(t, x) for t, k, x in trace(blf.messages()) if k == "received" and x.startswith("NOTIFY ")]
            busy.append(next(t for t, x in notifies if t > t_invite and "<state>confirmed</state>" in x) - t_invite)
            idle.append(next(t for t, x in notifies if t > t_bye and "confirmed" not in x) - t_bye)
    finally:
        blf.stop()
    return busy, idle


def pdd(f: fd.Federation, callee: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        uac, uas = f.call("201", callee, hold_ms=100, ring_ms=200)
        assert uac.ok and uas.ok
        invites = [t for t, k, x in trace(uac.messages) if k == "sent" and x.startswith("INVITE ")]
        at_callee = next(t for t, k, x in trace(uas.messages) if k == "received" and x.startswith("INVITE "))
        out.append(at_callee - invites[-1])
    return out


def stats(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"median_ms": round(statistics.median(ms), 1), "min_ms": round(min(ms), 1),
            "max_ms": round(max(ms), 1), "n": len(ms)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    f = fd.Federation()
    try:
        m, s, n = f.add(fd.MOSCOW), f.add(fd.SPB), f.add(fd.NSK)
        m.add_peer(fd.SPB)
        s.add_peer(fd.MOSCOW)
        m.add_peer(fd.NSK)
        n.add_peer(fd.MOSCOW)
        for st in (m, s, n):
            st.apply()
        f.start()
        for st in (m, s, n):
            st.start_worker("--debounce", "0.2")  # the worker's default (the e2e tests use 0.1)
        f.qualify_all()
        t0 = time.monotonic()
        results = {
            "peer_saved_to_first_answer": stats(peer_add_to_call(f, args.rounds)),
        }
        busy, idle = blf_delay(f, args.rounds)
        results["blf_busy_notify"] = stats(busy)
        results["blf_idle_notify"] = stats(idle)
        local, cross = pdd(f, "202", args.rounds), pdd(f, "301", args.rounds)
        results["pdd_local"] = stats(local)
        results["pdd_cross_station"] = stats(cross)
        results["pdd_extra_cross_station_ms"] = {
            "median_ms": round((statistics.median(cross) - statistics.median(local)) * 1000, 1)}
        results["wall_s"] = {"value": round(time.monotonic() - t0, 1)}
    finally:
        f.close()
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
