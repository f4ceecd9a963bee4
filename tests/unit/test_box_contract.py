"""What the PHP host and the worker share lives in python_worker/contract.json; on a box every command defaults to
it (bin/pbxfed sets PBXFED_MODULE_DIR), so no caller spells the worker's command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from python_worker import SYNC_PORT, box
from python_worker.cli.parser import build_parser

REPO = Path(__file__).resolve().parents[2]
CONTRACT = json.loads((REPO / "python_worker" / "contract.json").read_text())


def test_bin_pbxfed_uses_the_contracts_state_dir() -> None:
    script = (REPO / "bin" / "pbxfed").read_text()
    state = re.search(r'^STATE_DIR="\$MODULE_DIR/([^"]+)"$', script, re.M)
    assert state is not None and state.group(1) == CONTRACT["state_dir"]


def test_php_reads_the_contract_instead_of_its_own_constants() -> None:
    paths = (REPO / "Lib" / "WorkerPaths.php").read_text()
    assert "python_worker/contract.json" in paths
    for php in (REPO / "Lib").glob("*.php"):
        assert "7787" not in php.read_text(), php.name  # the sync port is the contract's
    assert CONTRACT["sync_port"] == SYNC_PORT


def test_on_a_box_every_command_defaults_to_the_box(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(box.MODULE_DIR_ENV, str(tmp_path))
    run = build_parser().parse_args(["run"])
    assert (run.mikopbx_db, run.module_db, run.state_dir) == (
        box.MIKOPBX_DB, tmp_path / CONTRACT["module_db"], tmp_path / CONTRACT["state_dir"])
    assert run.reload_cmd == "php-core" and run.module_dir == tmp_path
    assert run.status_cmd == f"{CONTRACT['asterisk']} -rx 'pjsip show contacts'"
    assert run.hints_cmd == f"{CONTRACT['asterisk']} -rx 'core show hints'"
    assert run.devstate_cmd == f"{CONTRACT['asterisk']} -rx 'devstate change {{device}} {{state}}'"
    assert (run.sync_bind, run.sync_port) == ("0.0.0.0", CONTRACT["sync_port"])
    preview = build_parser().parse_args(["apply", "--dry-run", "--json"])
    assert preview.devstate_cmd == run.devstate_cmd  # the preview renders the hints as the worker does
    for words in (["status"], ["check-peer", "spb"], ["invite", "list"], ["peers", "validate", "{}"]):
        args = build_parser().parse_args(words)
        assert getattr(args, "state_dir", tmp_path / CONTRACT["state_dir"]) == tmp_path / CONTRACT["state_dir"]


def test_off_a_box_the_locations_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(box.MODULE_DIR_ENV, raising=False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run"])
    args = build_parser().parse_args(["run", "--module-db", "m.db", "--state-dir", "st"])
    assert args.status_cmd is None and args.sync_bind is None and args.reload_cmd is None
