"""The one place that runs commands on the system (never via a shell): reloads, and reading and setting Asterisk.

Reload command scheme (CLI options of apply/run/disable):
- `--reload-cmd php-core` (the default on a station): `php -f <moduleDir>/Lib/ReloadCore.php -- --events - <hook
  targets...>` with the model-change messages of the rows written as JSON on its standard input: ReloadCore.php
  publishes them to Core's WorkerModelsEvents (which then plans, refreshes and reloads as after its own saves) and asks
  Core's reload actions for what only the hook texts changed (apply/core_events.py).
- `--reload-cmd TEMPLATE`: split with shlex; if a word contains `{what}`, the command runs once per target with
  `{what}` replaced by the target word (pjsip, dialplan, firewall, manager); otherwise it runs once with the target
  words appended as arguments.
- `--reload-pjsip-cmd` / `--reload-dialplan-cmd` / `--reload-firewall-cmd CMD`: the command for that one target
  (taking precedence over --reload-cmd), e.g. `asterisk -C /x/asterisk.conf -rx 'dialplan reload'`.
- `--no-reload`: nothing is run.
A non-zero exit status, a timeout, or a missing program counts as a failed reload.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PHP_CORE = "php-core"
log = logging.getLogger("pbxfed")

@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    targets: tuple[str, ...]
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReloadRequest:
    """What a change needs: `targets` (pjsip, dialplan, firewall: what a command reloader reloads), Core's
    model-change messages for the rows written (`events`, apply/core_events.py) and the targets only the hook texts
    need (`hook_targets`: no row change tells Core of them)."""

    targets: tuple[str, ...]
    events: tuple[dict[str, Any], ...] = ()
    hook_targets: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.targets and not self.events and not self.hook_targets


class Reloader(Protocol):
    def reload(self, request: ReloadRequest) -> ReloadResult: ...


class NoReload:
    """--no-reload: the caller regenerates config itself."""

    def reload(self, request: ReloadRequest) -> ReloadResult:
        return ReloadResult(True, request.targets, ("reload skipped (--no-reload)",))


def run_command(argv: Sequence[str], timeout: float, stdin: bytes | None = None) -> tuple[int, str]:
    """Run argv without a shell (`stdin` fed to it); (exit status, last lines of output). 127 when missing, 124 on
    timeout."""
    try:
        proc = subprocess.run(list(argv), input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]}: no answer within {timeout:.0f}s"
    except OSError as exc:
        return 126, f"{argv[0]}: {exc}"
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
    return proc.returncode, " | ".join(out[-5:])


@dataclass
class CommandReloader:
    """Runs configured commands; `commands` maps a target to its argv, `grouped` takes all targets at once."""

    per_target: dict[str, list[str]] = field(default_factory=dict)
    template: list[str] = field(default_factory=list)
    timeout: float = 60.0

    def plan_commands(self, targets: Sequence[str]) -> list[list[str]]:
        commands: list[list[str]] = []
        rest: list[str] = []
        for target in targets:
            if target in self.per_target:
                commands.append(list(self.per_target[target]))
            elif self.template:
                rest.append(target)
        if rest:
            if any("{what}" in word for word in self.template):
                commands += [[w.replace("{what}", t) for w in self.template] for t in rest]
            else:
                commands.append([*self.template, *rest])
        return commands

    def reload(self, request: ReloadRequest) -> ReloadResult:
        return _run_all([(argv, None) for argv in self.plan_commands(request.targets)], request.targets,
                        self.timeout)


def _run_all(commands: Sequence[tuple[list[str], bytes | None]], targets: tuple[str, ...],
             timeout: float) -> ReloadResult:
    details: list[str] = []
    ok = True
    for argv, stdin in commands:
        code, output = run_command(argv, timeout, stdin)
        details.append(f"{shlex.join(argv)} -> {code}" + (f": {output}" if output and code else ""))
        if code != 0:
            ok = False
            log.error("reload command failed (exit %s): %s", code, shlex.join(argv))
    return ReloadResult(ok, targets, tuple(details))


@dataclass
class PhpCoreReloader:
    """`--reload-cmd php-core`: Core is told of the rows written as its own models tell it (Lib/ReloadCore.php
    publishes `request.events` to WorkerModelsEvents, which plans Core's reloads) and asked for the reloads only the
    hook texts need. A target with a command of its own (`per_target`) runs that command instead."""

    argv: list[str]
    per_target: dict[str, list[str]] = field(default_factory=dict)
    timeout: float = 60.0

    def plan_commands(self, request: ReloadRequest) -> list[tuple[list[str], bytes | None]]:
        commands: list[tuple[list[str], bytes | None]] = [
            (list(self.per_target[t]), None) for t in request.targets if t in self.per_target]
        asked = [t for t in request.hook_targets if t not in self.per_target]
        if request.events or asked:
            payload = json.dumps(list(request.events), separators=(",", ":")).encode()
            commands.append(([*self.argv, "--events", "-", *asked], payload))
        return commands

    def reload(self, request: ReloadRequest) -> ReloadResult:
        return _run_all(self.plan_commands(request), request.targets, self.timeout)


def php_core_argv(module_dir: Path) -> list[str]:
    php = shutil.which("php") or "/usr/bin/php"
    return [php, "-f", str(module_dir / "Lib" / "ReloadCore.php"), "--"]


def make_reloader(
    reload_cmd: str | None,
    *,
    no_reload: bool = False,
    per_target: Mapping[str, str | None] | None = None,
    module_dir: Path | None = None,
    timeout: float = 60.0,
) -> Reloader:
    """Build the reloader from CLI options (see the module docstring for the scheme)."""
    targets = {t: shlex.split(c) for t, c in (per_target or {}).items() if c}
    if no_reload or (not reload_cmd and not targets):
        return NoReload()
    if reload_cmd == PHP_CORE:
        if module_dir is None:
            raise ValueError("--reload-cmd php-core needs the module directory")
        return PhpCoreReloader(php_core_argv(module_dir), targets, timeout)
    return CommandReloader(targets, shlex.split(reload_cmd) if reload_cmd else [], timeout)


_CONTACT_RE = re.compile(r"^\s*Contact:\s+(?P<aor>[^/\s]+)/\S+\s+(?:\S+\s+)?(?P<status>Avail|Unavail|NonQual|Unknown|"
                         r"Created|Removed|Reachable|Unreachable)\b(?:\s+(?P<rtt>[0-9]+(?:\.[0-9]+)?))?")
_HINT_RE = re.compile(r"^\s*(?P<exten>[^@\s]+)@\S+\s*:\s*(?P<app>\S+)\s+State:(?P<state>\w+)")
# Asterisk's CLI answers a refused `devstate change` (e.g. state UNKNOWN, a non-Custom device) with its usage
# text; `asterisk -rx` still exits 0.
_DEVSTATE_REFUSED = ("Usage:", "can only be used")


def parse_contact_details(output: str) -> dict[str, tuple[str, float | None]]:
    """`pjsip show contacts` output -> {aor: (reachable|unreachable|unknown, qualify round trip in ms)}."""
    status: dict[str, tuple[str, float | None]] = {}
    for line in output.splitlines():
        m = _CONTACT_RE.match(line)
        if not m:
            continue
        word = m.group("status")
        state = {"Avail": "reachable", "Reachable": "reachable", "Unavail": "unreachable",
                 "Unreachable": "unreachable"}.get(word, "unknown")
        if status.get(m.group("aor"), ("",))[0] != "reachable":
            rtt = float(m.group("rtt")) if m.group("rtt") and state == "reachable" else None
            status[m.group("aor")] = (state, rtt)
    return status


def parse_contacts(output: str) -> dict[str, str]:
    """`pjsip show contacts` output -> {aor: reachable|unreachable|unknown}."""
    return {aor: state for aor, (state, _rtt) in parse_contact_details(output).items()}


def parse_hints(output: str) -> dict[str, tuple[str, str]]:
    """`core show hints` output -> {extension: (devices as shown, state)}; Asterisk shows at most 60 characters
    of the device list."""
    out: dict[str, tuple[str, str]] = {}
    for line in output.splitlines():
        m = _HINT_RE.match(line)
        if m:
            out[m.group("exten")] = (m.group("app"), m.group("state"))
    return out


def _output_of(cmd: str, timeout: float) -> str | None:
    """The standard output of `cmd` (split like a shell would, never run by one); None when it fails."""
    try:
        proc = subprocess.run(shlex.split(cmd), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else None


@dataclass(frozen=True)
class AsteriskCli:
    """How the worker reads and sets Asterisk: each a command template (e.g. `asterisk -rx 'pjsip show contacts'`);
    None when not configured. Every query answers None when Asterisk does not answer."""

    contacts_cmd: str | None = None  # trunk reachability and qualify round trip
    hints_cmd: str | None = None  # the hints in force: their devices and states
    devstate_cmd: str | None = None  # sets a Custom device: `{device}` and `{state}` are replaced
    cli_cmd: str | None = None  # any CLI command: `{command}` is replaced (one word: never split)
    timeout: float = 5.0

    def contacts(self) -> dict[str, tuple[str, float | None]] | None:
        out = _output_of(self.contacts_cmd, min(self.timeout, 2.0)) if self.contacts_cmd else None
        return None if out is None else parse_contact_details(out)

    def hints(self) -> dict[str, tuple[str, str]] | None:
        out = _output_of(self.hints_cmd, self.timeout) if self.hints_cmd else None
        return None if out is None else parse_hints(out)

    def forget_devices(self, devices: Sequence[str]) -> bool:
        """Remove Custom devices no longer used from Asterisk's database (AstDB keeps every one it ever saw):
        `database query` with one DELETE per 200 devices. True when done (or nothing to do)."""
        names = [d.removeprefix("Custom:") for d in devices if d.startswith("Custom:")]
        if not names:
            return True
        if not self.cli_cmd:
            return False
        ok = True
        for i in range(0, len(names), 200):
            keys = ",".join(f"'/CustomDevstate/{n}'" for n in names[i:i + 200] if re.fullmatch(r"[A-Za-z0-9_-]+", n))
            command = f'database query "DELETE FROM astdb WHERE key IN ({keys})"'
            argv = [command if w == "{command}" else w for w in shlex.split(self.cli_cmd)]
            code, out = run_command(argv, self.timeout)
            if code != 0:
                log.error("database query failed (exit %s): %s", code, out.strip())
                ok = False
        return ok

    def set_device(self, device: str, state: str) -> bool:
        """Set a Custom device's state; False (logged) when the command fails or Asterisk refuses it."""
        if not self.devstate_cmd:
            return False
        argv = [w.replace("{device}", device).replace("{state}", state) for w in shlex.split(self.devstate_cmd)]
        code, out = run_command(argv, self.timeout)
        if code != 0 or any(word in out for word in _DEVSTATE_REFUSED):
            log.error("devstate command failed (exit %s): %s %s", code, shlex.join(argv), out.strip())
            return False
        return True
