"""What to reload after an apply, and the one place that runs reload and status commands (never via a shell).

Reload command scheme (CLI options of apply/run/disable):
- `--reload-cmd php-core`: `php -f <moduleDir>/Lib/ReloadCore.php -- <targets...>` (Core regenerates and reloads).
- `--reload-cmd TEMPLATE`: split with shlex; if a word contains `{what}`, the command runs once per target with
  `{what}` replaced by the target word (pjsip, dialplan, firewall); otherwise it runs once with the target
  words appended as arguments.
- `--reload-pjsip-cmd` / `--reload-dialplan-cmd` / `--reload-firewall-cmd CMD`: the command for that one target
  (taking precedence over --reload-cmd), e.g. `asterisk -C /x/asterisk.conf -rx 'dialplan reload'`.
- `--no-reload`: nothing is run.
A non-zero exit status, a timeout, or a missing program counts as a failed reload.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from python_worker.db.owned import (
    CUSTOM_FILES,
    FILTERS,
    FIREWALL,
    INCOMING,
    OUTGOING,
    PROVIDERS,
    SIP,
    SIP_HOSTS,
    Change,
)

TARGETS = ("pjsip", "dialplan", "firewall")
PHP_CORE = "php-core"
log = logging.getLogger("pbxfed")

# Which reloads a change needs. A provider row created or removed also changes extensions.conf
# (Core renders its `<U>-incoming` and route contexts from it); SipHosts feed both pjsip identify and the firewall.
_TABLE_TARGETS: Mapping[str, tuple[str, ...]] = {
    PROVIDERS: ("pjsip", "dialplan"),
    SIP: ("pjsip",),
    SIP_HOSTS: ("pjsip", "firewall"),
    OUTGOING: ("dialplan",),
    INCOMING: ("dialplan",),
    FILTERS: ("firewall",),
    FIREWALL: ("firewall",),
    # asterisk.conf (the entity ID) is read only when Asterisk starts; never restart it for this.
    CUSTOM_FILES: (),
}
_HOOK_TARGETS: Mapping[str, str] = {
    "generatePeersPj": "pjsip",
    "extensionGenContexts": "dialplan",
    "extensionGenInternalTransfer": "dialplan",
    "extensionGenHints": "dialplan",
}


def reload_targets(
    changes: Iterable[Change], old_hooks: Mapping[str, str], new_hooks: Mapping[str, str]
) -> tuple[str, ...]:
    """The reloads needed, in a fixed order; empty when nothing changed."""
    need: set[str] = set()
    for change in changes:
        need.update(_TABLE_TARGETS[change.table])
    for hook in set(old_hooks) | set(new_hooks):
        if old_hooks.get(hook, "") != new_hooks.get(hook, ""):
            need.add(_HOOK_TARGETS.get(hook, "dialplan"))
    return tuple(t for t in TARGETS if t in need)


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    targets: tuple[str, ...]
    details: tuple[str, ...] = ()


class Reloader(Protocol):
    def reload(self, targets: Sequence[str]) -> ReloadResult: ...


class NoReload:
    """--no-reload: the caller regenerates config itself."""

    def reload(self, targets: Sequence[str]) -> ReloadResult:
        return ReloadResult(True, tuple(targets), ("reload skipped (--no-reload)",))


def run_command(argv: Sequence[str], timeout: float) -> tuple[int, str]:
    """Run argv without a shell; (exit status, last lines of output). 127 when missing, 124 on timeout."""
    try:
        proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              check=False)
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

    def reload(self, targets: Sequence[str]) -> ReloadResult:
        details: list[str] = []
        ok = True
        for argv in self.plan_commands(targets):
            code, output = run_command(argv, self.timeout)
            details.append(f"{shlex.join(argv)} -> {code}" + (f": {output}" if output and code else ""))
            if code != 0:
                ok = False
                log.error("reload command failed (exit %s): %s", code, shlex.join(argv))
        return ReloadResult(ok, tuple(targets), tuple(details))


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
        return CommandReloader(targets, php_core_argv(module_dir), timeout)
    return CommandReloader(targets, shlex.split(reload_cmd) if reload_cmd else [], timeout)


_CONTACT_RE = re.compile(r"^\s*Contact:\s+(?P<aor>[^/\s]+)/\S+\s+(?:\S+\s+)?(?P<status>Avail|Unavail|NonQual|Unknown|"
                         r"Created|Removed|Reachable|Unreachable)\b(?:\s+(?P<rtt>[0-9]+(?:\.[0-9]+)?))?")


def parse_contacts(output: str) -> dict[str, str]:
    """`pjsip show contacts` output -> {aor: reachable|unreachable|unknown}."""
    return {aor: state for aor, (state, _rtt) in parse_contact_details(output).items()}


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


def query_reachability(status_cmd: str | None, timeout: float = 2.0) -> dict[str, str] | None:
    """Trunk reachability from Asterisk via --status-cmd; None when not configured or not answering."""
    details = query_contact_details(status_cmd, timeout)
    return None if details is None else {aor: state for aor, (state, _rtt) in details.items()}


def query_contact_details(status_cmd: str | None, timeout: float = 2.0) -> dict[str, tuple[str, float | None]] | None:
    """Trunk reachability and qualify round trip from Asterisk via --status-cmd; None when unavailable."""
    if not status_cmd:
        return None
    argv = shlex.split(status_cmd)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return parse_contact_details(proc.stdout.decode("utf-8", "replace"))
