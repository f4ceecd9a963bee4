"""Which reloads a change needs: Core regenerates and reloads pjsip, dialplan, the firewall or manager.conf per table
changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from python_worker.core.records import (
    AMI_USERS,
    CUSTOM_FILES,
    FILTERS,
    FIREWALL,
    INCOMING,
    OUTGOING,
    PROVIDERS,
    SIP,
    SIP_HOSTS,
)
from python_worker.db.owned import OUT_WORK_TIMES_ROUTES, Change

TARGETS = ("pjsip", "dialplan", "firewall", "manager")

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
    OUT_WORK_TIMES_ROUTES: ("dialplan",),  # deleted with our incoming route (Core's cascade)
    # The worker's AMI account: Core writes manager.conf from this table (docs/platform.md#ami).
    AMI_USERS: ("manager",),
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
    need: set[str] = set(hook_targets(old_hooks, new_hooks))
    for change in changes:
        need.update(_TABLE_TARGETS[change.table])
    return tuple(t for t in TARGETS if t in need)


def hook_targets(old_hooks: Mapping[str, str], new_hooks: Mapping[str, str]) -> tuple[str, ...]:
    """The reloads the hook texts alone need. No row change tells Core of them (Core plans reloads from model
    events only), so on a station these are asked for as Core's actions (Lib/ReloadCore.php)."""
    need = {_HOOK_TARGETS.get(h, "dialplan") for h in set(old_hooks) | set(new_hooks)
            if old_hooks.get(h, "") != new_hooks.get(h, "")}
    return tuple(t for t in TARGETS if t in need)
