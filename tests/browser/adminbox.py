"""Stations with their admin pages: real Asterisk (tests/e2e), real MikoPBX Core 2026.1 serving the module's pages.

Each station of the e2e federation gets, in its directory inside the sid chroot, a MikoPBX runtime tree as
tests/realcore builds it (settings.json with every directory moved into the station, Core's migrated
mikopbx.db with the station's phones, the module installed by Core's installer into custom_modules/), and a
mount namespace of its own (held by one `sleep` process) in which:
- the station's settings.json lies over the chroot's /etc/inc/mikopbx-settings.json (the path Core reads),
- per-station directories lie over the places of Core's tree its module installer writes (asset/view links),
- the repository and the Python its .venv was made from are bind-mounted read-only at their own paths, so
  bin/pbxfed runs the worker with PBXFED_PYTHON = the repository's .venv python;
- redis-server, beanstalkd and `php -S <station address>:8080` (tests/browser/lib/router.php in front of Core's
  sites/admin-cabinet/index.php and Core's PbxExtensionsProcessor::callBack) run,
- the worker runs as `bin/pbxfed run` with the e2e station's Asterisk commands.
The whole suite runs inside its own network namespace (tests/browser/run.sh: only lo), like the stations.
Every process is started here and stopped by its own PID; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from python_worker.demo import stationdb
from tests.browser.frontend import Frontend
from tests.e2e import federation as fd
from tests.e2e import harness as hs
from tests.e2e import mikopbx_station as ms

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MODULE_ID = "ModulePbxFederation"
WEB_PORT = 8080  # the station's front (tests/browser/frontend.py, nginx's part)
PHP_PORT = 8081  # php -S behind it
RC_ENV = "opt/pbxfed-realcore/current.env"
CORE_WRITABLE = ("sites/admin-cabinet/assets/img/cache", "sites/admin-cabinet/assets/css/cache",
                 "sites/admin-cabinet/assets/js/cache", "src/AdminCabinet/Views/Modules")
VENV_PYTHON = REPO / ".venv" / "bin" / "python"


class BoxError(RuntimeError):
    pass


def realcore_env(root: Path) -> dict[str, str]:
    """What tests/realcore/setup.sh prepared (Core's tree, PHP's conf dir, the migrated DB), as seen in the chroot."""
    env: dict[str, str] = {}
    path = root / RC_ENV
    if not path.exists():
        raise BoxError(f"{path} missing: run tests/realcore/setup.sh")
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    return env


def python_prefix() -> Path:
    """The installation the repository's venv runs on (pyvenv.cfg's home, one level up)."""
    cfg = (REPO / ".venv" / "pyvenv.cfg").read_text()
    home = next(line.split("=", 1)[1].strip() for line in cfg.splitlines() if line.startswith("home"))
    return Path(home).resolve().parent


def tcp_open(address: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.5)
        return s.connect_ex((address, port)) == 0


@dataclass
class AdminStation:
    """One station's admin side: its Core runtime, namespaces, services, worker."""

    mst: fd.ModuleStation
    root: Path  # the chroot
    rc: dict[str, str]
    index: int
    rt_in: str  # the station's dir as seen in the chroot (the Core runtime)
    module_dir: Path  # host path of custom_modules/ModulePbxFederation
    holder: subprocess.Popen[bytes] | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    language: str = "en"
    frontend: Frontend | None = None

    # ------------------------------------------------------------------ paths
    @property
    def name(self) -> str:
        return self.mst.name

    @property
    def address(self) -> str:
        return self.mst.address

    @property
    def host_dir(self) -> Path:
        return self.root / self.rt_in.lstrip("/")

    def in_chroot(self, host_path: Path) -> str:
        return "/" + str(host_path.relative_to(self.root))

    @property
    def base_url(self) -> str:
        return f"http://{self.address}:{WEB_PORT}"

    def url(self, page: str = "index") -> str:
        return f"{self.base_url}/admin-cabinet/module-pbx-federation/module-pbx-federation/{page}"

    @property
    def redis_port(self) -> int:
        return 16300 + 10 * self.index

    @property
    def beanstalk_port(self) -> int:
        return self.redis_port + 1

    @property
    def router_log(self) -> Path:
        return self.host_dir / "router.log"

    # ------------------------------------------------------------------ namespaces and processes
    def _mounts(self) -> list[tuple[str, str, bool]]:
        """(source on the host, target on the host, read-only) for the station's mount namespace."""
        core = self.root / self.rc["CORE_DIR"].lstrip("/")
        out = [(str(self.host_dir / "settings.json"), str(self.root / "etc/inc/mikopbx-settings.json"), False)]
        for d in CORE_WRITABLE:
            src = self.host_dir / "core-writable" / d
            src.mkdir(parents=True, exist_ok=True)
            out.append((str(src), str(core / d), False))
        for path in (REPO, python_prefix()):
            target = self.root / str(path).lstrip("/")
            target.mkdir(parents=True, exist_ok=True)  # an empty mount point in the shared chroot
            out.append((str(path), str(target), True))
        return out

    def start_namespace(self) -> None:
        settings_target = self.root / "etc/inc/mikopbx-settings.json"
        if not settings_target.exists():
            settings_target.parent.mkdir(parents=True, exist_ok=True)
            settings_target.write_text('{"_comment": "tests/browser and tests/realcore bind their own settings '
                                       'over this file in private mount namespaces"}\n')
        script = " && ".join(
            f"mount --bind {shlex.quote(s)} {shlex.quote(t)}"
            + (f" && mount -o remount,bind,ro {shlex.quote(t)}" if ro else "")
            for s, t, ro in self._mounts())
        self.holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                        script + " && exec sleep 86400"], stdin=subprocess.DEVNULL)
        ok = hs.wait_until(lambda: self._mounted() or (self.holder is not None and self.holder.poll() is not None),
                           10.0, 0.05)
        if not ok or self.holder.poll() is not None:
            raise BoxError(f"{self.name}: mount namespace did not come up")

    def _mounted(self) -> bool:
        assert self.holder is not None
        try:
            mounts = Path(f"/proc/{self.holder.pid}/mountinfo").read_text()
        except OSError:
            return False
        return str(python_prefix()) in mounts and "mikopbx-settings.json" in mounts

    def env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8",
            "PBXFED_CORE_DIR": self.rc["CORE_DIR"], "PBXFED_RUNTIME": self.rt_in,
            "PHP_INI_SCAN_DIR": ":" + self.rc["PHP_CONF_DIR"],
            "PBXFED_PYTHON": str(VENV_PYTHON),
            "PBXFED_MIKOPBX_DB": self.in_chroot(self.mst.mikopbx_db),
            "PHP_CLI_SERVER_WORKERS": "4",
        }

    def argv_in_box(self, argv: list[str]) -> list[str]:
        """argv run in the station's mount namespace, inside the chroot, with the box's environment."""
        assert self.holder is not None
        env = [f"{k}={v}" for k, v in self.env().items()]
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--", "chroot", str(self.root), "env", "-i", *env, *argv]

    def run_in_box(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv_in_box(argv), capture_output=True, text=True, timeout=timeout, check=False)

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.host_dir / f"{name}.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(self.argv_in_box(argv), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.procs[name] = proc
        return proc

    def stop_proc(self, name: str, timeout: float = 10.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    # ------------------------------------------------------------------ services
    def start_services(self) -> None:
        services = self.host_dir / "services"
        services.mkdir(exist_ok=True)
        self.spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
                             "--appendonly", "no", "--dir", f"{self.rt_in}/services"])
        self.spawn("beanstalkd", ["beanstalkd", "-l", "127.0.0.1", "-p", str(self.beanstalk_port)])
        if not hs.wait_until(lambda: tcp_open("127.0.0.1", self.redis_port)
                             and tcp_open("127.0.0.1", self.beanstalk_port), 10.0, 0.1):
            raise BoxError(f"{self.name}: redis/beanstalkd did not start")

    def start_web(self) -> None:
        core = self.rc["CORE_DIR"]
        router = f"{self.rt_in}/harness/router.php"
        self.spawn("php", ["php", "-S", f"{self.address}:{PHP_PORT}", "-t", f"{core}/sites", router])
        if not hs.wait_until(lambda: tcp_open(self.address, PHP_PORT), 15.0, 0.1):
            raise BoxError(f"{self.name}: php -S did not start: {(self.host_dir / 'php.out').read_text()[-2000:]}")
        if self.frontend is None:
            self.frontend = Frontend(self.address, WEB_PORT, PHP_PORT)
            self.frontend.start()

    def flush_cache(self) -> None:
        """Core caches settings and model metadata in redis: after the suite writes mikopbx.db, forget them."""
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=5) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(64)

    def set_language(self, lang: str) -> None:
        """The admin's language: Core's WebAdminLanguage setting (what the admin picks in Core's settings)."""
        db = sqlite3.connect(self.mst.mikopbx_db, timeout=10)
        try:
            db.execute("UPDATE m_PbxSettings SET value=? WHERE key='WebAdminLanguage'", (lang,))
            if db.total_changes == 0:
                db.execute("INSERT INTO m_PbxSettings (key, value) VALUES ('WebAdminLanguage', ?)", (lang,))
            db.commit()
        finally:
            db.close()
        self.flush_cache()
        self.language = lang

    @staticmethod
    def translate(key: str, lang: str) -> str:
        """The module's own text (Messages/<lang>.php) for module_pbx_federation_<key>."""
        text = (REPO / "Messages" / f"{lang}.php").read_text(encoding="utf-8")
        m = re.search(r"'module_pbx_federation_" + re.escape(key) + r"'\s*=>\s*'((?:[^'\\]|\\.)*)'", text)
        if not m:
            raise KeyError(key)
        return m.group(1).replace("\\'", "'").replace("\\\\", "\\")

    # ------------------------------------------------------------------ the worker
    def worker_argv(self) -> list[str]:
        st = self.mst.st
        ast = ["/usr/sbin/asterisk", "-C", st.conf, "-rx"]
        station_json = self.in_chroot(self.host_dir / "station-box.json")
        return [f"{self.in_chroot(self.module_dir)}/bin/pbxfed", "run",
                "--reload-cmd", shlex.join([str(VENV_PYTHON), str(REPO / "tests/e2e/station_reload.py"), station_json]),
                "--status-cmd", shlex.join([*ast, "pjsip show contacts"]),
                "--hints-cmd", shlex.join([*ast, "core show hints"]),
                "--devstate-cmd", shlex.join([*ast, "devstate change {device} {state}"]),
                "--sync-bind", self.address, "--sync-heartbeat", "0.5", "--debounce", "0.1",
                # Paired peers' device states over the sync channel, through this station's AMI (as on a box,
                # where the worker's default is the station's own AMI).
                "--ami", f"{self.address}:5038", "--cli-cmd", shlex.join([*ast, "{command}"])]

    def start_worker(self) -> None:
        """`bin/pbxfed run` with this station's Asterisk commands; its PID in db/state/worker.pid, as
        `bin/pbxfed start` records it."""
        if "worker" in self.procs and self.procs["worker"].poll() is None:
            return
        state = self.module_dir / "db" / "state"
        state.mkdir(parents=True, exist_ok=True)
        proc = self.spawn("worker", self.worker_argv())
        (state / "worker.pid").write_text(f"{proc.pid}\n")
        ok = hs.wait_until(lambda: (state / "status.json").exists() or proc.poll() is not None, 30.0, 0.1)
        if not ok or proc.poll() is not None:
            raise BoxError(f"{self.name}: worker did not start: {self.worker_output()[-3000:]}")

    def stop_worker(self) -> None:
        self.stop_proc("worker")

    def worker_output(self) -> str:
        p = self.host_dir / "worker.out"
        return p.read_text(errors="replace") if p.exists() else ""

    def status(self) -> dict[str, object]:
        p = self.module_dir / "db" / "state" / "status.json"
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return {}

    def close(self) -> None:
        if self.frontend is not None:
            self.frontend.stop()
            self.frontend = None
        for name in ("worker", "php", "beanstalkd", "redis"):
            with contextlib.suppress(Exception):
                self.stop_proc(name)
        for name in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop_proc(name)
        if self.holder is not None and self.holder.poll() is None:
            self.holder.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.holder.wait(timeout=5)
        self.holder = None


class AdminFederation(fd.Federation):
    """The e2e federation (stations, phones, Asterisk) whose stations carry MikoPBX Core's admin side."""

    def __init__(self, name: str = "browser") -> None:
        # The suite already runs in a network namespace of its own (run.sh): the harness uses it as it is.
        self.h = hs.Harness(use_netns=False)
        self.stations: dict[str, fd.ModuleStation] = {}
        self.name = name
        self.rc = realcore_env(self.h.root)
        self.admins: dict[str, AdminStation] = {}

    def add(self, spec: fd.Spec, *, extra_phones: tuple[str, ...] = (), pstn: bool = False,
            settings: tuple[str, ...] = (), configure: bool = True) -> fd.ModuleStation:
        h = self.h
        host_dir = h.host_run / spec.name
        rt_in = f"{h.chroot_run}/{spec.name}"
        index = len(self.admins)
        redis_port = 16300 + 10 * index
        self._bash("rc_write_settings", rt_in, str(redis_port), str(redis_port + 1))
        mikopbx_db = host_dir / "cf" / "conf" / "mikopbx.db"
        shutil.copy(self.h.root / self.rc["MIGRATED_DB"].lstrip("/"), mikopbx_db)
        self._prepare_station_db(mikopbx_db, spec, extra_phones)
        if pstn:
            fd.add_pstn_provider(mikopbx_db)
        self._bash("rc_install_module_files", rt_in)
        module_dir = host_dir / "custom_modules" / MODULE_ID
        (module_dir / "python_worker").mkdir(exist_ok=True)
        shutil.copy(REPO / "python_worker" / "contract.json", module_dir / "python_worker" / "contract.json")
        # The module's venv (built from the zip's wheels on a station) is the repository's .venv here.
        (module_dir / "venv" / "bin").mkdir(parents=True, exist_ok=True)
        (module_dir / "venv" / "bin" / "python").symlink_to(VENV_PYTHON)
        harness = host_dir / "harness"
        harness.mkdir(exist_ok=True)
        for f in (HERE / "lib").iterdir():
            shutil.copy(f, harness / f.name)
        module_db = module_dir / "db" / "module.db"
        state_dir = module_dir / "db" / "state"
        state_dir.mkdir(parents=True, exist_ok=True)
        net = ms.StationNet(spec.name, spec.address, fd.entity_id(spec.name), 5060, spec.rtp_start,
                            spec.rtp_start + 999)
        conn = sqlite3.connect(f"file:{mikopbx_db}?mode=ro", uri=True)
        st = h.add_station(net, conn, {}, out_of_hours=True)
        conn.close()
        mst = fd.ModuleStation(spec, h, st, mikopbx_db, module_db, state_dir, host_dir / "station.json",
                               fd.extra_phone_ips(spec, extra_phones))
        self.stations[spec.name] = mst
        admin = AdminStation(mst, h.root, self.rc, index, rt_in, module_dir)
        self.admins[spec.name] = admin
        # station_reload.py's view of the station, from inside the chroot (the worker runs there).
        (host_dir / "station-box.json").write_text(json.dumps({
            "name": spec.name, "address": spec.address, "entity_id": net.entity_id, "sip_port": 5060,
            "rtp_start": net.rtp_start, "rtp_end": net.rtp_end, "host_dir": rt_in,
            "chroot_path": st.chroot_path, "chroot_root": "/", "netns": "",
            "db": admin.in_chroot(mikopbx_db), "hooks": admin.in_chroot(state_dir / "hooks.json"),
            "out_of_hours": True}, indent=1))
        admin.start_namespace()
        admin.start_services()
        r = admin.run_in_box(["php", f"{rt_in}/harness/install_module.php"], timeout=120)
        if r.returncode != 0:
            raise BoxError(f"{spec.name}: module install failed: {r.stdout}{r.stderr}")
        fd.worker_cli("init", "--module-db", str(module_db))
        if configure:
            fd.worker_cli("settings", "set", "--mikopbx-db", str(mikopbx_db), "--module-db", str(module_db),
                          "--station-name", spec.name, "--own-patterns", spec.patterns, *settings)
        admin.flush_cache()
        admin.start_web()
        return mst

    @staticmethod
    def _prepare_station_db(path: Path, spec: fd.Spec, extra_phones: tuple[str, ...]) -> None:
        """Core's migrated default DB as a station's: its name, its LAN address, the phones.

        Core's default DB is a demo: phones 201-203 with their users and mobile numbers, and a provider that
        registers to a public host with its routes. Both go (the provider's host must never be a target; the
        phones would be this station's own 2XX); queues, IVR, conference, parking and applications stay."""
        db = sqlite3.connect(path)
        try:
            demo_users = [r[0] for r in db.execute("SELECT userid FROM m_Extensions WHERE type IN ('SIP', 'EXTERNAL')"
                                                   " AND userid IS NOT NULL")]
            db.execute("DELETE FROM m_ExternalPhones") if _has_table(db, "m_ExternalPhones") else None
            db.execute("DELETE FROM m_Extensions WHERE type IN ('SIP', 'EXTERNAL')")
            db.executemany("DELETE FROM m_Users WHERE id = ?", [(u,) for u in demo_users])
            providers = [r[0] for r in db.execute("SELECT uniqid FROM m_Providers")]
            for uniqid in providers:
                db.execute("DELETE FROM m_OutgoingRoutingTable WHERE providerid = ?", (uniqid,))
                db.execute("DELETE FROM m_IncomingRoutingTable WHERE provider = ?", (uniqid,))
                db.execute("DELETE FROM m_SipHosts WHERE provider_id = ?", (uniqid,))
            db.execute("DELETE FROM m_Providers")
            db.execute("DELETE FROM m_Sip")
            db.execute("UPDATE m_PbxSettings SET value=? WHERE key='Name'", (f"MikoPBX {spec.name}",))
            db.execute("UPDATE m_LanInterfaces SET ipaddr=?, subnet='8', dhcp='0'", (spec.address,))
            for number in (*spec.phones, *extra_phones):
                stationdb.insert_phone(db, stationdb.Phone(number, number, fd.phone_secret(number)), qualify=False)
            db.execute("UPDATE m_Sip SET manualattributes=? WHERE type='peer'", (fd.PHONE_MANUAL,))
            db.commit()
            db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()

    def _bash(self, fn: str, *args: str) -> None:
        lib = REPO / "tests" / "realcore" / "lib.sh"
        env = dict(os.environ, PBXFED_CHROOT=str(self.h.root))
        subprocess.run(["bash", "-c", f'. {shlex.quote(str(lib))} && {fn} "$@"', "_", *args], check=True,
                       env=env, timeout=60)

    def admin(self, name: str) -> AdminStation:
        return self.admins[name]

    def close(self) -> None:
        for a in self.admins.values():
            with contextlib.suppress(Exception):
                a.close()
        super().close()


def _has_table(db: sqlite3.Connection, table: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None


def venv_ready() -> str:
    """Why the suite cannot run, or ''."""
    if not VENV_PYTHON.exists():
        return "no .venv (scripts/setup.sh)"
    if sys.prefix == sys.base_prefix:
        return "run with the repository's .venv python"
    return ""


def skip_unless_ready() -> None:
    """Skips the calling test module when its stations cannot run here (no .venv, no sid chroot)."""
    import pytest

    why = venv_ready() or ("" if hs.chroot_ready() else
                           "sid chroot missing: tests/browser/run.sh runs tests/realcore/setup.sh")
    if why:
        pytest.skip(why)
