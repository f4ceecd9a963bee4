"""The version has one source (module.json); the worker reports it and CHANGELOG.md records it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import python_worker

REPO = Path(__file__).resolve().parents[2]


def test_worker_version_is_module_json_version() -> None:
    assert python_worker.__version__ == json.loads((REPO / "module.json").read_text())["version"]


def test_changelog_records_the_current_version() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$", changelog, re.M)
    assert released and released[0] == python_worker.__version__
    assert "## [Unreleased]" in changelog
