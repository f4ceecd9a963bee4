"""ModulePbxFederation worker: plans, renders and applies a federation of MikoPBX stations."""

import json as _json
from pathlib import Path as _Path

MODULE_ID = "ModulePbxFederation"
OWNER_MARK = "ModulePbxFederation:"


def _version() -> str:
    """The module's version has one source, module.json (what Core reads); CHANGELOG.md records each one."""
    try:
        return str(_json.loads((_Path(__file__).resolve().parent.parent / "module.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        pass
    try:  # installed as a wheel (built from the same module.json)
        from importlib.metadata import version

        return version("pbxfed-worker")
    except Exception:  # any failure means: unknown
        return "0+unknown"


__version__ = _version()

# TCP port of directory sync, the firewall category and its port key, the fallback routes' note prefix: shared
# with PHP in contract.json
from python_worker.box import FALLBACK_NOTE_PREFIX, FIREWALL_CATEGORY, SYNC_PORT, SYNC_PORT_KEY  # noqa: E402

__all__ = ["FALLBACK_NOTE_PREFIX", "FIREWALL_CATEGORY", "MODULE_ID", "OWNER_MARK", "SYNC_PORT", "SYNC_PORT_KEY",
           "__version__"]
