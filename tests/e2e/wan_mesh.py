"""N stations federated by PAIRING (full mesh) over an emulated WAN, with many phones each: the ground of issue 14.

Station k (0..N-1) is `st<k>` on 127.0.1.<11+k> with `PHONES` SIP extensions 1k00-1k99, 2k00-2k99 (pattern
`[12]kXX`), its own mikopbx.db and module.db (tests/e2e/federation.py), and the module's `run` worker with its
sync service. The workers run INSIDE the suite's network namespace (`ip netns exec`), so the CurveZMQ sync
channel crosses the emulated WAN like SIP does; pairing is the admin's two commands, `invite create` on one
station and `invite accept` on the other (the accepting one inside the namespace). The WAN (tests/e2e/wan.py)
sits between station addresses only; phones talk to their own station directly.

Phones are SIPp processes that each play many extensions (injection files, one dialog per extension):
per station a UAS on 127.0.2.<11+k>:5060 (every extension registered there answers any call), a caller UAC on
127.0.3.<11+k> and BLF subscribers on 127.0.4.<11+k>. Every process is started here, recorded, and stopped by
its PID in `close()`; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import wan

SYNC_PORT = 7787
# A Custom device's state as the lamp of a hint on it alone reads (main/pbx.c ast_devstate_to_extenstate).
LAMP_OF_DEVICE = {"NOT_INUSE": "Idle", "UNKNOWN": "Idle", "INUSE": "InUse", "BUSY": "Busy",
                  "UNAVAILABLE": "Unavailable", "INVALID": "Unavailable", "RINGING": "Ringing",
                  "RINGINUSE": "InUse&Ringing", "ONHOLD": "Hold"}


def spec(k: int, phones: int = 200) -> fd.Spec:
    numbers = tuple(f"{p}{k}{i:02d}" for p in (1, 2) for i in range(100))[:phones]
    return fd.Spec(f"st{k}", f"127.0.1.{11 + k}", numbers, f"[12]{k}XX", 20000 + 1000 * k, 0)


def uas_ip(k: int) -> str:
    return f"127.0.2.{11 + k}"


def uac_ip(k: int) -> str:
    return f"127.0.3.{11 + k}"


def blf_ip(k: int) -> str:
    return f"127.0.4.{11 + k}"


def station_index(number: str) -> int:
    return int(number[1])


def rss_kb(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def loadavg() -> list[str]:
    """The machine's load average (1, 5, 15 minutes) as /proc/loadavg writes it."""
    return Path("/proc/loadavg").read_text().split()[:3]


def cpu_s(pid: int | None) -> float:
    """utime + stime of one process, seconds (children not included)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# ------------------------------------------------------------------------------------------------ SIPp scenarios
_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
"""


def _xml(name: str, body: str) -> str:
    return (f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f'<scenario name="{name}">\n{body}\n</scenario>\n')


def _send(msg: str, retrans: bool = True) -> str:
    attr = ' retrans="500"' if retrans else ""
    return f"<send{attr}><![CDATA[\n{msg.strip()}\n\n]]></send>\n"


_OK = """<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""


def register_many(expires: int = 3600) -> str:
    """One REGISTER dialog per injection line `number;[authentication ...]`: REGISTER, 401, REGISTER, 200."""
    def req(cseq: int, auth: str) -> str:
        return f"""
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[pid]reg[call_number]
To: <sip:[field0]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: {expires}
User-Agent: SIPp phones
{auth}Content-Length: 0
"""
    body = _send(req(1, "")) + '<recv response="401" auth="true"/>\n'
    body += _send(req(2, "[field1]\n")) + '<recv response="200"/>\n'
    return _xml("register many", body)


def answer_any(ring_ms: int = 0) -> str:
    """UAS for every extension registered at this address: 180, (pause), 200, ACK, then the far end's BYE."""
    pause = f'<pause milliseconds="{ring_ms}"/>\n' if ring_ms else ""
    return _xml("answer any", """<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ans[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:uas@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
""" + pause + """<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ans[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:uas@[local_ip]:[local_port]>
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER
Content-Type: application/sdp
Content-Length: [len]

""" + _SDP + """]]></send>
<recv request="ACK" crlf="true"/>
<recv request="BYE"/>
""" + _OK)


_FAIL_CODES = ("403", "404", "408", "480", "484", "486", "488", "500", "503", "603")


def call_many(hold_ms: int = 500, stop_at_answer: bool = False) -> str:
    """One call per injection line `caller;callee;[authentication ...]`: INVITE, 401, ACK, INVITE with auth, then
    200 -> ACK, hold, BYE; or a final error (ACKed, the call ends as failed-but-clean). `stop_at_answer`: the first
    answered call makes SIPp place no more (`stop_gracefully`: the calls under way end, then it exits)."""
    def invite(cseq: int, auth: str) -> str:
        return f"""
INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[pid]call[call_number]
To: <sip:[field1]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: SIPp caller
{auth}Content-Type: application/sdp
Content-Length: [len]

{_SDP}"""

    def ack(cseq: int, uri: str, via: str, to: str) -> str:
        return f"""
ACK {uri} SIP/2.0
{via}
From: <sip:[field0]@[remote_ip]>;tag=[pid]call[call_number]
{to}
Call-ID: [call_id]
CSeq: {cseq} ACK
[routes]
Max-Forwards: 70
Content-Length: 0
"""
    uri1 = "sip:[field1]@[remote_ip]:[remote_port]"
    body = _send(invite(1, ""))
    body += '<recv response="100" optional="true"/>\n<recv response="401" auth="true"/>\n'
    body += _send(ack(1, uri1, "[last_Via:]", "[last_To:]"), retrans=False)
    body += _send(invite(2, "[field2]\n"))
    body += '<label id="prov"/>\n'
    for code in ("100", "180", "183"):
        body += f'<recv response="{code}" optional="true" next="prov"/>\n'
    for code in _FAIL_CODES:
        body += f'<recv response="{code}" optional="true" next="failed"/>\n'
    body += '<recv response="200" rrs="true"/>\n'
    if stop_at_answer:
        body += '<nop><action><exec int_cmd="stop_gracefully"/></action></nop>\n'
    body += _send(ack(2, "[next_url]", "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                      "To: <sip:[field1]@[remote_ip]>[peer_tag_param]"), retrans=False)
    body += f'<pause milliseconds="{hold_ms}"/>\n'
    body += _send("""
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: <sip:[field0]@[remote_ip]>;tag=[pid]call[call_number]
To: <sip:[field1]@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0
""")
    body += '<recv response="200" crlf="true" next="end"/>\n'
    body += '<label id="failed"/>\n'
    body += _send(ack(2, uri1, "[last_Via:]", "[last_To:]"), retrans=False)
    body += '<label id="end"/>\n'
    return _xml("call many", body)


def subscribe_many(expires: int = 3600, idle_ms: int = 600000) -> str:
    """One BLF subscription per injection line `watcher;watched;[authentication ...]` (Event: dialog); every
    NOTIFY is answered 200; a subscription ends after idle_ms without a NOTIFY (or when SIPp is stopped)."""
    def sub(cseq: int, auth: str) -> str:
        return f"""
SUBSCRIBE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[pid]blf[call_number]
To: <sip:[field1]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} SUBSCRIBE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Event: dialog
Accept: application/dialog-info+xml
Expires: {expires}
{auth}Content-Length: 0
"""
    body = _send(sub(1, "")) + '<recv response="401" auth="true"/>\n'
    body += _send(sub(2, "[field2]\n")) + '<recv response="200" rrs="true"/>\n'
    body += f'<label id="loop"/>\n<recv request="NOTIFY" timeout="{idle_ms}" ontimeout="done"/>\n'
    body += _OK + '<nop next="loop"/>\n<label id="done"/>\n'
    return _xml("subscribe many", body)


def auth_field(number: str) -> str:
    return f"[authentication username={number} password={fd.phone_secret(number)}]"


# ------------------------------------------------------------------------------------------------ trace parsing
@dataclass(frozen=True)
class Traced:
    t: float
    sent: bool
    text: str

    @property
    def first(self) -> str:
        return self.text.split("\n", 1)[0]

    def header(self, name: str) -> str:
        m = re.search(rf"^{name}:\s*(.*)$", self.text, re.M | re.I)
        return m.group(1).strip() if m else ""


def trace(path: Path) -> list[Traced]:
    """A SIPp -trace_msg file -> its messages, in order, with SIPp's own timestamps."""
    try:
        raw = path.read_text(errors="replace").replace("\r\n", "\n")
    except FileNotFoundError:
        return []
    out = []
    parts = re.split(r"^-{20,} (\S+)\n", raw, flags=re.M)
    for stamp, block in zip(parts[1::2], parts[2::2], strict=False):
        head, _, text = block.partition("\n")
        if "message sent" in head or "message received" in head:
            with contextlib.suppress(ValueError):
                out.append(Traced(fd.sipp_time(stamp), "message sent" in head, text.lstrip("\n")))
    return out


def by_call(msgs: Iterable[Traced]) -> dict[str, list[Traced]]:
    calls: dict[str, list[Traced]] = {}
    for m in msgs:
        calls.setdefault(m.header("Call-ID"), []).append(m)
    return calls


@dataclass
class Sipp:
    proc: subprocess.Popen[bytes]
    name: str
    trace: Path
    screen: Path
    started: float

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return -1


# ------------------------------------------------------------------------------------------------ the mesh
@dataclass
class WanMesh:
    n: int = 10
    phones: int = 200
    profile: wan.Link = wan.PROFILE
    heartbeat: float = 0.5
    sip_log: bool = False
    ami: bool = True  # False: the design before issue 14 (SIP publications for paired peers too)
    fed: fd.Federation = field(init=False)
    wan: wan.WanEmulator | None = field(init=False, default=None)
    specs: list[fd.Spec] = field(init=False)
    sipps: list[Sipp] = field(init=False, default_factory=list)
    figures: dict[str, object] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.fed = fd.Federation("wan")
        self.specs = [spec(k, self.phones) for k in range(self.n)]

    @property
    def h(self) -> hs.Harness:
        return self.fed.h

    def st(self, k: int) -> fd.ModuleStation:
        return self.fed[self.specs[k].name]

    # ---- building
    def build(self, stations: Sequence[int] | None = None) -> None:
        """Station files, module.db (CLI), Asterisk started; the WAN emulator between all N addresses."""
        t0 = time.monotonic()
        if self.wan is None:
            self.wan = wan.WanEmulator(self.h, [s.address for s in self.specs], self.profile)
            self.wan.start()
        for k in stations if stations is not None else range(self.n):
            self.fed.add(self.specs[k])
        self.figures["build_s"] = round(time.monotonic() - t0, 1)

    def start_asterisk(self, ks: Iterable[int]) -> None:
        """Start the stations; Federation.start turns `pjsip set logger on`, which at this scale costs real CPU
        (every SIP message written to messages.log: ~250 MB per station in a full bench run), so it is turned
        off again unless `sip_log`."""
        for k in ks:
            self.fed.start(self.specs[k].name)
            if not self.sip_log:
                self.st(k).rx("pjsip set logger off")

    def start_worker(self, k: int, *extra: str) -> None:
        """The module's worker in the namespace; with `ami` (the default) device states of paired peers travel
        over the sync channel (AMI at the station's address, the module's own AMI account)."""
        s = self.st(k)
        ami = ["--ami", f"{s.address}:5038", "--cli-cmd", s.status_cmd("{command}")] if self.ami else ["--no-ami"]
        s.start_worker("--sync-bind", s.address, "--sync-port", str(SYNC_PORT),
                       "--sync-heartbeat", str(self.heartbeat), *ami, *extra, netns=True)

    def cli(self, *args: str, netns: bool = False, timeout: float = 60.0,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        pre = ["ip", "netns", "exec", str(self.h.netns)] if netns else []
        proc = subprocess.run([*pre, sys.executable, "-m", "python_worker", *args], cwd=fd.REPO, input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"python_worker {shlex.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def invite(self, host: int) -> str:
        a = self.st(host)
        made = self.cli("invite", "create", *a._db_args(), "--state-dir", str(a.state_dir), "--address", a.address,
                        "--sync-port", str(SYNC_PORT), "--json")
        return str(json.loads(made.stdout)["invitation"])

    def accept(self, guest: int, invitation: str) -> float:
        """`invite accept` on station `guest` (in the namespace: it reaches the host over the WAN); returns the
        wall time at which the command returned."""
        b = self.st(guest)
        self.cli("invite", "accept", *b._db_args(), "--state-dir", str(b.state_dir),  # the invitation on stdin
                 "--address", b.address, "--sync-port", str(SYNC_PORT), "--timeout", "20", netns=True, stdin=invitation)
        return time.time()

    def pair(self, host: int, guest: int) -> float:
        text = self.invite(host)
        done = self.accept(guest, text)
        self.st(host).peers.add(self.specs[guest].name)
        self.st(guest).peers.add(self.specs[host].name)
        return done

    def live_peers(self, k: int) -> set[str]:
        """Peers whose trunk endpoint and incoming context are in station k's Asterisk."""
        s = self.st(k)
        endpoints = s.rx("pjsip show endpoints", )
        return {p for p in s.peers if fd.provider_id(p) in endpoints}

    def wait_mesh(self, ks: Sequence[int], timeout: float) -> bool:
        want = {k: {self.specs[j].name for j in ks if j != k} for k in ks}
        return hs.wait_until(lambda: all(want[k] <= self.live_peers(k) for k in ks), timeout, 0.5)

    # ---- Asterisk views
    def hints(self, k: int) -> dict[str, str]:
        """Station k's lamps, {number: hint state}: its explicit hints (`core show hints`), and for peers whose
        states travel over the sync channel (one pattern hint each) the per-number device the pattern's hint
        reads, `Custom:FED-<hex>-<n>`, as set there (`devstate list`; a device never set is left out: it would
        read Idle without anyone having said so)."""
        out = {}
        for line in self.h.rx(self.st(k).st, "core show hints", timeout=30).splitlines():
            m = re.match(r"^\s*(\d+)@\S+\s*:\s*\S+\s+State:(\w+)", line)
            if m:
                out[m.group(1)] = m.group(2)
        out.update(self.carried_lamps(k))
        return out

    def carried_lamps(self, k: int) -> dict[str, str]:
        out = {}
        for line in self.h.rx(self.st(k).st, "devstate list", timeout=30).splitlines():
            m = re.search(r"Name: 'Custom:FED-[0-9A-F]+-(\d+)'\s+State: '(\w+)'", line)
            if m:
                out[m.group(1)] = LAMP_OF_DEVICE.get(m.group(2), m.group(2))
        return out

    # ---- phones
    def _sipp(self, name: str, scenario: str, *, local_ip: str, remote: str, port: int = 5060,
              inf: Sequence[str] | None = None, args: Sequence[str] = (), timeout: float = 600) -> Sipp:
        hs._loopback_only(local_ip)
        hs._loopback_only(remote)
        if not hs.wait_until(lambda: not self.h.port_busy(local_ip, port), 5.0, 0.2):
            raise hs.HarnessError(f"{local_ip}:{port} still in use before starting SIPp {name}")
        d = self.h.host_run / "sipp"
        d.mkdir(exist_ok=True)
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        (d / f"{tag}.xml").write_text(scenario)
        cd = f"{self.h.chroot_run}/sipp"
        argv = ["/usr/bin/sipp", f"{remote}:5060", "-sf", f"{cd}/{tag}.xml", "-i", local_ip, "-p", str(port),
                "-mi", local_ip, "-nostdin", "-trace_msg", "-message_file", f"{cd}/{tag}.msg",
                "-timeout", f"{int(timeout)}s", "-max_recv_loops", "10000", "-max_sched_loops", "10000",
                "-trace_err", "-error_file", f"{cd}/{tag}.err"]
        if inf is not None:
            (d / f"{tag}.csv").write_text("SEQUENTIAL\n" + "\n".join(inf) + "\n")
            argv += ["-inf", f"{cd}/{tag}.csv"]
        argv += list(args)
        screen = d / f"{tag}.screen"
        with open(screen, "wb") as out:
            proc = subprocess.Popen([*self.h.prefix(), *argv], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        run = Sipp(proc, name, d / f"{tag}.msg", screen, time.time())
        self.sipps.append(run)
        return run

    def register(self, k: int, numbers: Sequence[str] | None = None, rate: int = 50, expires: int = 3600,
                 tries: int = 3) -> bool:
        """Register `numbers` (default: all of station k's) with their contact at the station's UAS address
        (expires 0: unregister). SIPp exits 0 only when every REGISTER got its 200; up to `tries` rounds (a
        REGISTER again is harmless). Must run while the UAS of station k is not bound (same address and port)."""
        s = self.specs[k]
        numbers = list(numbers or s.phones)
        rows = [f"{n};{auth_field(n)}" for n in numbers]
        for _ in range(tries):
            run = self._sipp(f"reg{k}", register_many(expires), local_ip=uas_ip(k), remote=s.address, inf=rows,
                             args=["-m", str(len(rows)), "-r", str(rate), "-l", "20"], timeout=120)
            if run.wait(150) == 0:
                return True
        return False

    def start_uas(self, k: int, ring_ms: int = 0) -> Sipp:
        return self._sipp(f"uas{k}", answer_any(ring_ms), local_ip=uas_ip(k), remote=self.specs[k].address,
                          args=["-m", "1000000", "-l", "5000"], timeout=7200)

    def start_calls(self, k: int, pairs: Sequence[tuple[str, str]], *, rate: float = 5.0, hold_ms: int = 500,
                    limit: int = 200, port: int = 5060, timeout: float = 600, stop_at_answer: bool = False) -> Sipp:
        rows = [f"{a};{b};{auth_field(a)}" for a, b in pairs]
        period = 1000
        r = max(1, round(rate * period / 1000)) if rate >= 1 else 1
        if rate < 1:
            period = int(1000 / rate)
        args = ["-m", str(len(rows)), "-r", str(r), "-rp", str(period), "-l", str(limit)]
        return self._sipp(f"calls{k}", call_many(hold_ms, stop_at_answer), local_ip=uac_ip(k),
                          remote=self.specs[k].address, port=port, inf=rows, args=args, timeout=timeout)

    def start_subscriptions(self, k: int, watches: Sequence[tuple[str, str]], rate: int = 50) -> Sipp:
        rows = [f"{a};{b};{auth_field(a)}" for a, b in watches]
        return self._sipp(f"blf{k}", subscribe_many(), local_ip=blf_ip(k), remote=self.specs[k].address, inf=rows,
                          args=["-m", str(len(rows)), "-r", str(rate), "-l", str(len(rows) + 10)], timeout=7200)

    # ---- teardown
    def close(self) -> dict[str, object]:
        for run in self.sipps:
            with contextlib.suppress(Exception):
                run.stop()
        stats: dict[str, object] = {}
        for s in self.fed.stations.values():
            with contextlib.suppress(Exception):
                s.stop_worker()
        try:
            if self.wan is not None:
                stats = self.wan.stop()
                self.wan = None
        finally:
            self.fed.close()
        return stats


def calls_result(run: Sipp) -> dict[str, tuple[str, float | None, float | None]]:
    """Per call (Call-ID): (callee, time of the authenticated INVITE, seconds until 200 OK or None)."""
    out = {}
    for cid, msgs in by_call(trace(run.trace)).items():
        invites = [m for m in msgs if m.sent and m.first.startswith("INVITE ")]
        if not invites:
            continue
        callee = re.match(r"INVITE sip:(\d+)@", invites[-1].first)
        t_inv = invites[-1].t
        ok = next((m.t for m in msgs if not m.sent and m.first.startswith("SIP/2.0 200")
                   and "INVITE" in m.header("CSeq")), None)
        out[cid] = (callee.group(1) if callee else "", t_inv, None if ok is None else ok - t_inv)
    return out


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))]
