"""Small helpers shared by the CLI commands and the demo."""

from __future__ import annotations

from pathlib import Path

from python_worker.pipeline import Outputs
from python_worker.render.hooks import to_json


def write_outputs(out: Outputs, directory: Path) -> None:
    """Write hooks.json and records.json (plain writes: the apply step owns atomic state files)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hooks.json").write_text(to_json(out.hooks), encoding="utf-8")
    (directory / "records.json").write_text(to_json(out.records), encoding="utf-8")
