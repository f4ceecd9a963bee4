"""A MikoPBX box as the worker sees it: where the databases and the state live, how Asterisk is reached.

`bin/pbxfed` (the one entry point on a box: PHP, cron and support over SSH use it) sets PBXFED_MODULE_DIR; every
command then defaults to these locations and commands, so no other layer spells the worker's command line.
The shared values come from contract.json, which the PHP host reads too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MODULE_DIR_ENV = "PBXFED_MODULE_DIR"
CONTRACT: dict[str, Any] = json.loads((Path(__file__).resolve().parent / "contract.json").read_text(encoding="utf-8"))
SYNC_PORT = int(CONTRACT["sync_port"])
# The note every fallback route of the module starts with: the PHP host answers Core's per-route hook
# (generateOutRoutContext) only for routes whose note starts with it.
FALLBACK_NOTE_PREFIX = str(CONTRACT["fallback_route_note_prefix"])
# Core stores a module's firewall category upper-cased (its getDefaultFirewallRules key); the sync port rule's
# portFromKey/portToKey.
FIREWALL_CATEGORY = str(CONTRACT["firewall_category"])
SYNC_PORT_KEY = str(CONTRACT["sync_port_key"])
# PBXFED_MIKOPBX_DB: another config DB (test stations); the box's own otherwise.
MIKOPBX_DB = Path(os.environ.get("PBXFED_MIKOPBX_DB") or CONTRACT["mikopbx_db"])
ASTERISK = str(CONTRACT["asterisk"])

# How the worker reads and sets Asterisk (run without a shell, split with shlex).
CONTACTS_CMD = f"{ASTERISK} -rx 'pjsip show contacts'"
HINTS_CMD = f"{ASTERISK} -rx 'core show hints'"
DEVSTATE_CMD = f"{ASTERISK} -rx 'devstate change {{device}} {{state}}'"
CLI_CMD = f"{ASTERISK} -rx {{command}}"
AMI_HOST = "127.0.0.1"  # the worker's AMI account may log in from this station only
SYNC_BIND = "0.0.0.0"  # the firewall opens the sync port to paired peers only


def module_dir() -> Path | None:
    """The module's directory on a box (set by bin/pbxfed), else None."""
    value = os.environ.get(MODULE_DIR_ENV, "")
    return Path(value) if value else None


def module_db(base: Path) -> Path:
    return base / str(CONTRACT["module_db"])


def state_dir(base: Path) -> Path:
    return base / str(CONTRACT["state_dir"])
