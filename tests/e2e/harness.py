"""Run several MikoPBX-shaped Asterisk stations and SIPp phones side by side.

Everything runs inside the Debian sid chroot made by setup_asterisk.sh and, when possible, inside a
network namespace that has only `lo`, so no packet can leave 127.0.0.0/8.  Every process is
started by this module and stopped by its own PID; every wait is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e import mikopbx_station as ms

DEFAULT_CHROOT = "/var/cache/pbxfed/sid"
RUN_ROOT_IN_CHROOT = "/pbxfed-run"


class HarnessError(RuntimeError):
    pass


def chroot_dir() -> Path:
    return Path(os.environ.get("PBXFED_CHROOT", DEFAULT_CHROOT))


def chroot_ready(root: Path | None = None) -> bool:
    root = root or chroot_dir()
    return (root / ".pbxfed-ready").is_file() and (root / "usr/sbin/asterisk").exists()


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `pred` until it is true; bounded by `timeout` seconds and a matching number of tries."""
    deadline = time.monotonic() + timeout
    tries = max(1, int(timeout / interval) + 1)
    for _ in range(tries):
        if pred():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return pred()


def _loopback_only(address: str) -> str:
    if not re.fullmatch(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}", address):
        raise HarnessError(f"refusing non-loopback address {address!r}")
    return address


@dataclass
class Station:
    net: ms.StationNet
    host_dir: Path
    chroot_path: str
    db: sqlite3.Connection
    hooks: dict[str, str]
    out_of_hours: bool = False
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def name(self) -> str:
        return self.net.name

    @property
    def address(self) -> str:
        return self.net.address

    @property
    def conf(self) -> str:
        return f"{self.chroot_path}/asterisk.conf"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


@dataclass
class SippResult:
    returncode: int
    messages: str
    errors: str
    screen: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class SippRun:
    proc: subprocess.Popen[bytes]
    name: str
    message_file: Path
    error_file: Path
    screen_file: Path
    started: float
    timeout: float
    _result: SippResult | None = field(default=None, repr=False)

    def messages(self) -> str:
        try:
            return self.message_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait(self, extra: float = 5.0) -> SippResult:
        if self._result is not None:
            return self._result
        try:
            rc = self.proc.wait(timeout=self.timeout + extra)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=5)
        self._result = self._collect(rc)
        return self._result

    def stop(self) -> SippResult:
        """Stop this SIPp (SIGTERM, then SIGKILL to its own PID) and collect its logs."""
        if self._result is not None:
            return self._result
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._result = self._collect(self.proc.returncode if self.proc.returncode is not None else -1)
        return self._result

    def _collect(self, rc: int) -> SippResult:
        def read(p: Path) -> str:
            try:
                return p.read_text(errors="replace")
            except FileNotFoundError:
                return ""
        return SippResult(rc, read(self.message_file), read(self.error_file), read(self.screen_file),
                          time.monotonic() - self.started)


class Harness:
    """Stations and phones in one chroot (and one network namespace when available)."""

    def __init__(self, work_name: str | None = None, *, use_netns: bool = True) -> None:
        self.root = chroot_dir()
        if not chroot_ready(self.root):
            raise HarnessError(f"chroot {self.root} not ready: run tests/e2e/setup_asterisk.sh")
        self.run_id = work_name or f"r{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.chroot_run = f"{RUN_ROOT_IN_CHROOT}/{self.run_id}"
        self.host_run = self.root / self.chroot_run.lstrip("/")
        self.host_run.mkdir(parents=True, exist_ok=True)
        self.stations: dict[str, Station] = {}
        self.sipps: list[SippRun] = []
        self._mounted_proc = False
        self.netns: str | None = None
        self.netns_note = ""
        moddirs = sorted(self.root.glob("usr/lib/*/asterisk/modules"))
        if not moddirs:
            raise HarnessError("no Asterisk module directory in the chroot")
        self.module_dir = "/" + str(moddirs[0].relative_to(self.root))
        self._mount_proc()
        if use_netns:
            self._make_netns()

    # ---------------------------------------------------------------- environment
    def _mount_proc(self) -> None:
        proc = self.root / "proc"
        if subprocess.run(["mountpoint", "-q", str(proc)], check=False).returncode != 0:
            subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True, timeout=10)
            self._mounted_proc = True

    def _make_netns(self) -> None:
        name = f"pbxfed-{self.run_id}"[:30]
        try:
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=10, capture_output=True)
        except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired) as exc:
            self.netns_note = f"network namespace unavailable ({exc}); using host loopback"
            return
        self.netns = name
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True, timeout=10)
        links = subprocess.run(["ip", "netns", "exec", name, "ip", "-o", "link"], check=True,
                               timeout=10, capture_output=True, text=True).stdout
        if [ln for ln in links.splitlines() if ln.strip() and ": lo:" not in ln]:
            raise HarnessError(f"network namespace {name} has interfaces besides lo: {links}")
        self.netns_note = f"network namespace {name} (only lo)"

    def prefix(self) -> list[str]:
        base = ["chroot", str(self.root)]
        if self.netns:
            return ["ip", "netns", "exec", self.netns, *base]
        return base

    def run(self, argv: Sequence[str], timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix(), *argv], capture_output=True, text=True, timeout=timeout,
                              check=False)

    # ---------------------------------------------------------------- stations
    def add_station(self, net: ms.StationNet, db: sqlite3.Connection, hooks: Mapping[str, str],
                    *, out_of_hours: bool = False) -> Station:
        _loopback_only(net.address)
        host_dir = self.host_run / net.name
        chroot_path = f"{self.chroot_run}/{net.name}"
        st = Station(net, host_dir, chroot_path, db, dict(hooks), out_of_hours)
        ms.write_station(host_dir, db, hooks, net, base_as_seen_by_asterisk=chroot_path,
                         module_dir=self.module_dir, out_of_hours=out_of_hours)
        self.stations[net.name] = st
        return st

    def rerender(self, st: Station) -> None:
        ms.rerender_dialplan_and_pjsip(st.host_dir, st.db, st.hooks, st.net, out_of_hours=st.out_of_hours)

    def start(self, st: Station, boot_timeout: float = 30.0) -> float:
        """Start one station; return seconds until `core waitfullybooted` answered."""
        if st.proc is not None and st.proc.poll() is None:
            return 0.0
        t0 = time.monotonic()
        st.log_path = st.host_dir / "log" / "console.log"
        log = open(st.log_path, "ab")  # noqa: SIM115 - handed to the child process
        try:
            st.proc = subprocess.Popen([*self.prefix(), "/usr/sbin/asterisk", "-f", "-n", "-C", st.conf],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

        def booted() -> bool:
            if st.proc is not None and st.proc.poll() is not None:
                raise HarnessError(f"asterisk {st.name} exited with {st.proc.returncode}: "
                                   f"{self._tail(st.log_path)}")
            r = self.run(["/usr/sbin/asterisk", "-C", st.conf, "-rx", "core waitfullybooted"], timeout=10)
            return r.returncode == 0 and "fully booted" in r.stdout.lower()

        if not wait_until(booted, boot_timeout, 0.2):
            raise HarnessError(f"asterisk {st.name} did not boot in {boot_timeout}s")
        return time.monotonic() - t0

    @staticmethod
    def _tail(path: Path | None, n: int = 20) -> str:
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])

    def rx(self, st: Station, cmd: str, timeout: float = 15.0) -> str:
        r = self.run(["/usr/sbin/asterisk", "-C", st.conf, "-rx", cmd], timeout=timeout)
        if r.returncode != 0:
            raise HarnessError(f"rx {cmd!r} on {st.name} failed ({r.returncode}): {r.stderr or r.stdout}")
        # The remote console itself prints this before it reads the station's entityid.
        return "\n".join(ln for ln in r.stdout.splitlines() if not ln.startswith("No ethernet interface found"))

    def dialplan_reload(self, st: Station) -> str:
        return self.rx(st, "dialplan reload")

    def pjsip_reload(self, st: Station) -> str:
        """Reload pjsip.conf, device-state publication objects included.

        Measured on Asterisk 22.10: `module reload res_pjsip.so` re-reads endpoints, auths, AORs
        and identifies but leaves an existing outbound-publish untouched (it keeps publishing to
        the old server_uri); `module reload res_pjsip_outbound_publish.so` (or `core reload`)
        applies it and re-sends the current states at once.  `pjsip reload` is no CLI command.
        """
        return "".join(self.rx(st, f"module reload {mod}") for mod in (
            "res_pjsip.so", "res_pjsip_outbound_publish.so", "res_pjsip_publish_asterisk.so"))

    def core_reload(self, st: Station) -> str:
        """What MikoPBX's PJSIP reload does: `module reload acl` + `core reload`."""
        return self.rx(st, "module reload acl") + self.rx(st, "core reload")

    def stop(self, st: Station, timeout: float = 10.0) -> None:
        if st.proc is None:
            return
        if st.proc.poll() is None:
            with contextlib.suppress(HarnessError, subprocess.TimeoutExpired):
                self.rx(st, "core stop now", timeout=5)
            try:
                st.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                st.proc.kill()  # only this PID
                st.proc.wait(timeout=5)
        st.proc = None

    def log(self, st: Station) -> str:
        p = st.host_dir / "log" / "messages.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # ---------------------------------------------------------------- SIPp
    def port_busy(self, address: str, port: int = 5060) -> bool:
        r = subprocess.run([*(["ip", "netns", "exec", self.netns] if self.netns else []),
                            "ss", "-Hlun", f"src {address}:{port}"],
                           capture_output=True, text=True, timeout=10, check=False)
        return bool(r.stdout.strip())

    def sipp(self, name: str, scenario: str, *, local_ip: str, remote: str, service: str = "s",
             port: int = 5060, remote_port: int = 5060, timeout: float = 20.0,
             auth: tuple[str, str] | None = None, extra: Sequence[str] = ()) -> SippResult:
        """Run one SIPp scenario to its end (bounded by -timeout) and return its result."""
        return self.start_sipp(name, scenario, local_ip=local_ip, remote=remote, service=service, port=port,
                               remote_port=remote_port, timeout=timeout, auth=auth, extra=extra).wait()

    def start_sipp(self, name: str, scenario: str, *, local_ip: str, remote: str, service: str = "s",
                   port: int = 5060, remote_port: int = 5060, timeout: float = 20.0,
                   auth: tuple[str, str] | None = None, extra: Sequence[str] = ()) -> SippRun:
        """Start one SIPp scenario (-m 1, bounded by -timeout) from local_ip:port to remote."""
        _loopback_only(local_ip)
        _loopback_only(remote)
        if not wait_until(lambda: not self.port_busy(local_ip, port), 5.0, 0.2):
            raise HarnessError(f"{local_ip}:{port} still in use before starting SIPp {name}")
        d = self.host_run / "sipp"
        d.mkdir(exist_ok=True)
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        (d / f"{tag}.xml").write_text(scenario)
        cd = f"{self.chroot_run}/sipp"
        argv = ["/usr/bin/sipp", f"{remote}:{remote_port}", "-sf", f"{cd}/{tag}.xml",
                "-i", local_ip, "-p", str(port), "-mi", local_ip, "-s", service,
                "-m", "1", "-timeout", f"{int(timeout)}s", "-timeout_error", "-nostdin", "-aa",
                "-trace_msg", "-message_file", f"{cd}/{tag}.msg",
                "-trace_err", "-error_file", f"{cd}/{tag}.err", "-max_recv_loops", "1000"]
        if auth:
            argv += ["-au", auth[0], "-ap", auth[1]]
        argv += list(extra)
        screen = d / f"{tag}.screen"
        with open(screen, "wb") as out:
            proc = subprocess.Popen([*self.prefix(), *argv], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        run = SippRun(proc, name, d / f"{tag}.msg", d / f"{tag}.err", screen, time.monotonic(), timeout)
        self.sipps.append(run)
        return run

    # ---------------------------------------------------------------- teardown
    def close(self) -> None:
        for run in self.sipps:
            if run.proc.poll() is None:
                run.stop()
        for st in self.stations.values():
            self.stop(st)
        if self.netns:
            subprocess.run(["ip", "netns", "del", self.netns], check=False, timeout=10)
            self.netns = None
        # /proc stays mounted: another run (a parallel suite, a bench) may be using the same chroot.
        self._mounted_proc = False
        if os.environ.get("PBXFED_KEEP_RUN") != "1":
            shutil.rmtree(self.host_run, ignore_errors=True)


# ------------------------------------------------------------------------ SIP trace analysis
@dataclass(frozen=True)
class SipMessage:
    direction: str  # "rx" or "tx", as seen by the station
    remote: str  # "UDP:127.0.0.3:5060"
    first_line: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def header(self, name: str) -> str:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return ""

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        """The request method, or for a response the method in CSeq."""
        if self.is_request:
            return self.first_line.split(" ", 1)[0]
        return self.header("CSeq").split(" ")[-1]

    @property
    def status(self) -> int:
        return int(self.first_line.split(" ")[1]) if not self.is_request else 0


_SIP_HDR = re.compile(r"<--- (Received|Transmitting) SIP (?:request|response) \(\d+ bytes\) (?:from|to) (\S+) --->")


def sip_messages(log: str) -> list[SipMessage]:
    """Parse `pjsip set logger on` output from a station's messages.log."""
    out: list[SipMessage] = []
    lines = log.splitlines()
    i = 0
    while i < len(lines):
        m = _SIP_HDR.search(lines[i])
        i += 1
        if not m:
            continue
        block: list[str] = []
        while i < len(lines) and not lines[i].startswith("[20"):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        if not block:
            continue
        try:
            sep = block.index("")
        except ValueError:
            sep = len(block)
        headers = tuple((k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in block[1:sep]))
        out.append(SipMessage("rx" if m.group(1) == "Received" else "tx", m.group(2).rstrip(">").strip(),
                              block[0].strip(), headers, "\n".join(block[sep + 1:])))
    return out


def auth_exchange(messages: Sequence[SipMessage], method: str, remote_ip: str, direction: str) -> dict[str, int]:
    """Count, for requests of `method` exchanged with `remote_ip` in `direction` ("rx": the station
    received them, "tx": it sent them): requests without/with Authorization and the final codes."""
    req_dir, resp_dir = direction, ("tx" if direction == "rx" else "rx")
    result = {"requests": 0, "with_auth": 0, "401": 0, "2xx": 0, "other": 0}
    for msg in messages:
        if f":{remote_ip}:" not in f"{msg.remote}:":
            continue
        if msg.is_request and msg.direction == req_dir and msg.method == method:
            result["requests"] += 1
            if msg.header("Authorization"):
                result["with_auth"] += 1
        elif not msg.is_request and msg.direction == resp_dir and msg.method == method:
            if msg.status == 401:
                result["401"] += 1
            elif 200 <= msg.status < 300:
                result["2xx"] += 1
            elif msg.status >= 300:
                result["other"] += 1
    return result
