"""ModulePbxFederation worker: plans, renders and applies a federation of MikoPBX stations."""

MODULE_ID = "ModulePbxFederation"
OWNER_MARK = "ModulePbxFederation:"
SYNC_PORT = 7787  # TCP port of directory sync; Lib/PbxFederationConf::SYNC_PORT
__version__ = "0.1.0"
