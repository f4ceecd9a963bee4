"""Synced directories as planner input (pure): exact hints, real-number checks, wire validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from python_worker.core.config import DirectoryEntry, ModuleConfig, PeerConfig, RemoteDirectory, Settings
from python_worker.core.directory import (
    DirectoryError,
    build_local_directory,
    clean_name,
    directory_from_wire,
)
from python_worker.core.station import Extension
from python_worker.pipeline import compute
from tests.conftest import make_snapshot
from tests.unit.lint import lint, wrap_dialplan

SECRET = "s3cret-s3cret-s3cret"
KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"


def _dir(*entries: tuple[str, str, str], patterns: str = "3XX") -> RemoteDirectory:
    items = tuple(sorted(DirectoryEntry(*e) for e in entries))
    return RemoteDirectory(peer="spb", version="v1", module_version="0.1.0", patterns=patterns, entries=items)


def _config(directory: RemoteDirectory | None, *, paired: bool = True, **peer: object) -> ModuleConfig:
    p = PeerConfig(name="spb", host="127.0.0.3", patterns="3XX", secret=SECRET, paired=paired, sync_port=7787,
                   public_key=KEY)
    p = replace(p, **peer)  # type: ignore[arg-type]
    return ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"), (p,),
                        (directory,) if directory else ())


SPB = _dir(("301", "Анна Соколова", "SIP"), ("302", "", "SIP"), ("310", "Sales", "QUEUE"))


def test_paired_peer_hints_are_exactly_its_phones_and_its_names_cost_no_dialplan() -> None:
    """The calling station sends its phones' names itself (Core gives every endpoint `callerid = "<name>"
    <number>`): the directory's names add no line to the dialplan, which with thousands of numbers per peer made a
    dialplan reload ten times slower (docs/performance.md)."""
    out = compute(make_snapshot(), _config(SPB))
    peer = out.plan.peers[0]
    assert peer.has_directory
    assert peer.hint_numbers == ("301", "302")  # the queue has no device state
    assert out.hooks["extensionGenHints"] == "exten => 301,hint,PJSIP/301\nexten => 302,hint,PJSIP/302\n"
    ctx = out.hooks["extensionGenContexts"]
    assert "CALLERID(name)" not in ctx and "Анна" not in ctx and "Sales" not in ctx
    assert ctx == compute(make_snapshot(), _config(_dir(("301", "", "SIP"), ("302", "", "SIP"),
                                                        ("310", "", "QUEUE")))).hooks["extensionGenContexts"]


def test_dialplan_of_a_paired_peer_passes_asterisklint(tmp_path: Path) -> None:
    out = compute(make_snapshot(), _config(SPB, overlap_fix=True))
    assert lint(wrap_dialplan(out.hooks), tmp_path) == {}


def test_hand_made_peer_keeps_pattern_expansion_even_with_a_stale_directory_row() -> None:
    peer = compute(make_snapshot(), _config(SPB, paired=False)).plan.peers[0]
    assert len(peer.hint_numbers) == 100 and not peer.has_directory


def test_paired_peer_without_a_directory_yet_falls_back_to_patterns() -> None:
    peer = compute(make_snapshot(), _config(None)).plan.peers[0]
    assert len(peer.hint_numbers) == 100 and not peer.has_directory


def test_overlap_is_checked_on_real_numbers() -> None:
    snap = make_snapshot(("201", "202", "305"))  # 305 is local and inside spb's pattern
    codes = [(p.code, dict(p.params).get("value")) for p in compute(snap, _config(SPB)).plan.problems]
    assert ("W_LOCAL_EXTENSION_IN_PEER_PATTERN", "305") not in codes  # spb has no 305: no clash
    clash = _dir(("301", "A", "SIP"), ("305", "B", "SIP"))
    codes = [(p.code, dict(p.params).get("value")) for p in compute(snap, _config(clash)).plan.problems]
    assert ("W_LOCAL_EXTENSION_IN_PEER_PATTERN", "305") in codes
    # Without a directory every local number inside the pattern is reported, as before.
    codes = [(p.code, dict(p.params).get("value")) for p in compute(snap, _config(None)).plan.problems]
    assert ("W_LOCAL_EXTENSION_IN_PEER_PATTERN", "305") in codes


def test_numbers_outside_the_peers_patterns_are_reported_and_left_out() -> None:
    plan = compute(make_snapshot(), _config(_dir(("301", "A", "SIP"), ("401", "B", "SIP")))).plan
    assert plan.peers[0].hint_numbers == ("301",)
    assert [(p.code, dict(p.params)["count"]) for p in plan.problems] == [("W_REMOTE_EXTENSION_OUTSIDE_PATTERNS", "1")]


def test_local_directory_shows_visible_kinds_within_own_patterns() -> None:
    snap = replace(make_snapshot(("201",)), extensions=(
        Extension("201", "Иван (бух.); \"x\"", "SIP"), Extension("202", "Queue", "QUEUE"),
        Extension("79001234567", "mobile", "EXTERNAL"), Extension("hangup", "System", "SYSTEM"),
        Extension("301", "not ours", "SIP")))
    local = build_local_directory(snap, ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"), ()))
    assert local.station == "moscow" and local.patterns == "2XX"
    assert local.entries == (DirectoryEntry("201", "Иван бух. x", "SIP"), DirectoryEntry("202", "Queue", "QUEUE"))
    assert local.version == build_local_directory(snap, ModuleConfig(Settings(station_name="moscow",
                                                                              own_patterns="2XX"), ())).version


@pytest.mark.parametrize("bad", [
    None, {"entries": "x"}, {"entries": [["30a", "n", "SIP"]]}, {"entries": [["301", "n", "SYSTEM"]]},
    {"entries": [["301", "n"]]}, {"entries": [["1", "n", "SIP"]] * 20_001},
])
def test_received_directories_are_checked(bad: object) -> None:
    with pytest.raises(DirectoryError):
        directory_from_wire("spb", bad)


def test_received_names_are_cleaned_and_the_version_is_recomputed() -> None:
    d = directory_from_wire("spb", {"entries": [["301", "A,B)$x;\n[y]", "SIP"]], "patterns": "3XX",
                                    "module_version": "0.1.0", "version": "forged"})
    assert d.entries == (DirectoryEntry("301", "A B x y", "SIP"),) and d.version != "forged"
    assert clean_name("   ") == ""
