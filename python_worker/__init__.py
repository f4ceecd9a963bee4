"""ModulePbxFederation worker: plans, renders and applies a federation of MikoPBX stations."""

MODULE_ID = "ModulePbxFederation"
OWNER_MARK = "ModulePbxFederation:"
__version__ = "0.1.0"
