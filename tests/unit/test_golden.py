"""Golden files: the two- and three-station demos and the breakout demo (PSTN fallback, transit) rendered byte
for byte, and linted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from python_worker.core.runtime import Runtime
from python_worker.demo.example import build_demo
from python_worker.pipeline import compute_from_files, write_outputs
from tests.unit.lint import lint, wrap_dialplan

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.mark.parametrize("variant", ["two", "three", "breakout"])
def test_demo_matches_golden_files(variant: str, tmp_path: Path) -> None:
    built = build_demo(tmp_path / "demo", three=variant == "three", breakout=variant == "breakout")
    assert [st.name for st, _, _ in built] == ["moscow", "spb", "novosibirsk"][: 3 if variant == "three" else 2]
    for st, mikopbx, module in built:
        out = tmp_path / "out" / st.name
        write_outputs(compute_from_files(mikopbx, module, Runtime(drives_lamps=True)), out)  # what run_demo writes
        for name in ("hooks.json", "records.json"):
            golden = GOLDEN / variant / st.name / name
            actual = (out / name).read_bytes()
            if os.environ.get("UPDATE_GOLDEN") == "1":
                golden.parent.mkdir(parents=True, exist_ok=True)
                golden.write_bytes(actual)
            assert actual == golden.read_bytes(), f"{golden} differs (UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize("variant", ["two", "three", "breakout"])
def test_golden_dialplans_pass_asterisklint(variant: str, tmp_path: Path) -> None:
    stations = sorted((GOLDEN / variant).iterdir())
    assert stations
    for station in stations:
        hooks = json.loads((station / "hooks.json").read_text(encoding="utf-8"))
        assert lint(wrap_dialplan(hooks), tmp_path) == {}, station.name


def test_three_station_mesh_is_complete() -> None:
    """Every station publishes to and accepts from every other one (state is never relayed)."""
    names = ["moscow", "novosibirsk", "spb"]
    for me in names:
        hooks = json.loads((GOLDEN / "three" / me / "hooks.json").read_text(encoding="utf-8"))
        pj = hooks["generatePeersPj"]
        for other in names:
            if other == me:
                continue
            assert f"[{other}]\ntype = inbound-publication\n" in pj
            assert f"server_uri = sip:{me}@" in pj
        assert pj.count("type = outbound-publish") == 2
