"""A WAN between stations inside the suite's network namespace (delay and loss per link), for benches and tests.

Why NFQUEUE and not a relay per link: trunks are identified by the peer's IP and a pairing invitation carries
the station's own address, so the address a station sees must be the peer's configured one. A relay would put
its own address in between (identify, Contact and Via headers, RTP and the sync channel would all need
rewriting or per-pair alias addresses); NFQUEUE leaves every packet as it is and only holds it. iptables
(legacy backend, Debian package `iptables`, installed on the host by `ensure_iptables()`) in the namespace sends
every packet from one station address to another (each ordered pair, never a phone and its own station, never a
station to itself) to queue `queue`; bench/wan_emulator.py holds it for the link's delay, then accepts it or drops
it. Rules and program are removed/stopped (by PID) in `stop()`; nothing leaves the namespace.

    wan = WanEmulator(harness, ["127.0.1.11", "127.0.1.12"], Link(delay_ms=25, loss=0.01))
    wan.start(); ...; wan.set_link("127.0.1.11", "127.0.1.12", Link(loss=1.0)); ...; wan.stop()
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.e2e import harness as hs

REPO = Path(__file__).resolve().parents[2]
EMULATOR = REPO / "bench" / "wan_emulator.py"
IPTABLES = "iptables-legacy"
CHAIN = "PBXFED-WAN"
LOCAL = "127.0.0.1/32"


@dataclass(frozen=True)
class Link:
    """One direction of a link: one-way delay, uniform extra jitter, drop probability."""

    delay_ms: float = 25.0
    jitter_ms: float = 0.0
    loss: float = 0.01


PROFILE = Link(25.0, 0.0, 0.01)  # 50 ms RTT, 1 % loss each way
ZERO = Link(0.0, 0.0, 0.0)


def ensure_iptables() -> str:
    """The legacy iptables binary on the host (installed from Debian's mirror when missing; idempotent)."""
    found = shutil.which(IPTABLES)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "install", "-y", "--no-install-recommends", "iptables"],
                 ["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "iptables"]):
        subprocess.run(argv, env=env, capture_output=True, timeout=300, check=False)
        found = shutil.which(IPTABLES)
        if found:
            return found
    raise hs.HarnessError("iptables-legacy not available (apt-get install iptables failed)")


class WanEmulator:
    def __init__(self, h: hs.Harness, stations: list[str], default: Link = PROFILE, *, queue: int = 7,
                 links: dict[tuple[str, str], Link] | None = None, sync_port: int | None = 7787) -> None:
        if not h.netns:
            raise hs.HarnessError("the WAN emulator needs the harness's own network namespace")
        for a in stations:
            hs._loopback_only(a)
        self.h = h
        self.stations = list(stations)
        self.default = default
        self.links: dict[tuple[str, str], Link] = dict(links or {})
        self.queue = queue
        self.sync_port = sync_port
        self.dir = h.host_run / "wan"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "wan.json"
        self.stats_file = self.dir / "wan-stats.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.rules = False

    def _ns(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", str(self.h.netns), *argv], capture_output=True, text=True,
                              timeout=30, check=False)

    def write_config(self) -> None:
        data = {"default": asdict(self.default), "seed": 1,
                "links": {f"{a}>{b}": asdict(link) for (a, b), link in sorted(self.links.items())}}
        tmp = self.config.with_name("wan.json.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.config)

    def install_rules(self) -> None:
        ensure_iptables()
        self._ns(IPTABLES, "-N", CHAIN)
        self._ns(IPTABLES, "-F", CHAIN)
        for a, b in itertools.permutations(self.stations, 2):
            r = self._ns(IPTABLES, "-A", CHAIN, "-s", f"{a}/32", "-d", f"{b}/32", "-j", "NFQUEUE",
                         "--queue-num", str(self.queue))
            if r.returncode != 0:
                raise hs.HarnessError(f"iptables in {self.h.netns}: {r.stderr}")
        if self.sync_port:
            # The worker's sync client connects without binding its station address, so on loopback its packets
            # leave from 127.0.0.1: they are told apart by the server's port and take the link "127.0.0.1>B" /
            # "B>127.0.0.1" (the default profile; `cut(B)` cuts them too). A client's own outage cannot be seen
            # this way: a cut station's outgoing sync connections still pass (its SIP does not).
            for b in self.stations:
                for argv in (["-s", LOCAL, "-d", f"{b}/32", "-p", "tcp", "--dport", str(self.sync_port)],
                             ["-s", f"{b}/32", "-d", LOCAL, "-p", "tcp", "--sport", str(self.sync_port)]):
                    r = self._ns(IPTABLES, "-A", CHAIN, *argv, "-j", "NFQUEUE", "--queue-num", str(self.queue))
                    if r.returncode != 0:
                        raise hs.HarnessError(f"iptables in {self.h.netns}: {r.stderr}")
        if self._ns(IPTABLES, "-C", "OUTPUT", "-j", CHAIN).returncode != 0:
            self._ns(IPTABLES, "-A", "OUTPUT", "-j", CHAIN)
        self.rules = True

    def remove_rules(self) -> None:
        if not self.rules:
            return
        for _ in range(5):  # bounded: one -D per copy of the jump
            if self._ns(IPTABLES, "-D", "OUTPUT", "-j", CHAIN).returncode != 0:
                break
        self._ns(IPTABLES, "-F", CHAIN)
        self._ns(IPTABLES, "-X", CHAIN)
        self.rules = False

    def start(self, max_seconds: float = 4 * 3600) -> None:
        """Start the emulator (by PID, in the namespace), then the rules that feed it."""
        self.write_config()
        log = open(self.dir / "wan-emulator.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", str(self.h.netns), sys.executable, str(EMULATOR), "--queue", str(self.queue),
                 "--config", str(self.config), "--stats", str(self.stats_file), "--max-seconds", str(max_seconds)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        if not hs.wait_until(lambda: self.stats_file.exists() or self.proc.poll() is not None, 10.0, 0.05) \
                or self.proc.poll() is not None:
            raise hs.HarnessError("WAN emulator did not start: "
                                  + (self.dir / "wan-emulator.log").read_text(errors="replace")[-2000:])
        self.install_rules()

    def set_default(self, link: Link) -> None:
        self.default = link
        self.reload()

    def set_link(self, a: str, b: str, link: Link | None, both: bool = True) -> None:
        for key in ((a, b), (b, a)) if both else ((a, b),):
            if link is None:
                self.links.pop(key, None)
            else:
                self.links[key] = link
        self.reload()

    def cut(self, station: str, cut: bool = True) -> None:
        """All of `station`'s links lose every packet (an outage of its WAN), or get their profile back."""
        others = [o for o in self.stations if o != station] + (["127.0.0.1"] if self.sync_port else [])
        dead = Link(self.default.delay_ms, 0.0, 1.0)
        for other in others:
            for key in ((station, other), (other, station)):
                if cut:
                    self.links[key] = dead
                else:
                    self.links.pop(key, None)
        self.reload()

    def reload(self) -> None:
        self.write_config()
        if self.proc is not None and self.proc.poll() is None:
            before = self.stats()
            self.proc.send_signal(signal.SIGHUP)
            # The program re-reads on its next wake-up (at least once a second): wait for a fresh stats write.
            hs.wait_until(lambda: self.stats().get("uptime_s", 0) != before.get("uptime_s", 0), 3.0, 0.05)

    def stats(self) -> dict[str, object]:
        try:
            return json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return {}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> dict[str, object]:
        """Rules out first (so nothing waits on a queue nobody reads), then the program by its PID."""
        with contextlib.suppress(Exception):
            self.remove_rules()
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return self.stats()

