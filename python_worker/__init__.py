"""ModulePbxFederation worker: plans, renders and applies a federation of MikoPBX stations."""

MODULE_ID = "ModulePbxFederation"
OWNER_MARK = "ModulePbxFederation:"
__version__ = "0.1.0"

from python_worker.box import SYNC_PORT  # noqa: E402  (TCP port of directory sync; shared with PHP in contract.json)

__all__ = ["MODULE_ID", "OWNER_MARK", "SYNC_PORT", "__version__"]
