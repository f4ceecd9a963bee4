"""The worker's own AMI account: its name, and its secret, generated once and kept in the state dir (mode 0600).

Core writes manager.conf from m_AsteriskManagerUsers (docs/platform.md#ami), so the account reaches Asterisk as a
module-owned row of that table (render/records.py); the worker logs in with the same secret (service/devstate.py).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from python_worker.core.runtime import AmiAccount
from python_worker.statedir import file_lock, write_atomic

AMI_ACCOUNT_FILE = "ami-account.json"
AMI_USERNAME = "ModulePbxFederation"


def read_ami_account(state_dir: Path) -> AmiAccount | None:
    """The account kept in the state dir, or None (never made, or unreadable)."""
    try:
        data = json.loads((state_dir / AMI_ACCOUNT_FILE).read_text(encoding="utf-8"))
        secret = str(data["secret"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(secret) < 32 or not secret.isalnum():
        return None
    return AmiAccount(str(data.get("username") or AMI_USERNAME), secret)


def load_or_create_ami_account(state_dir: Path) -> AmiAccount:
    """The account, made at first use: 32 hex digits of secret, written 0600 before anyone can read it."""
    found = read_ami_account(state_dir)
    if found is not None:
        return found
    state_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(state_dir / f"{AMI_ACCOUNT_FILE}.lock", timeout=10.0):
        found = read_ami_account(state_dir)  # another process may have made it meanwhile
        if found is not None:
            return found
        account = AmiAccount(AMI_USERNAME, secrets.token_hex(16))
        write_atomic(state_dir / AMI_ACCOUNT_FILE,
                     json.dumps({"username": account.username, "secret": account.secret}).encode(), 0o600)
        return account
