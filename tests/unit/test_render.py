"""Rendering: exact hook texts, escaping, strictness, and asterisklint on every dialplan fragment."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from python_worker.core.config import ModuleConfig, PeerConfig, Settings
from python_worker.core.planner import build_plan, provider_id
from python_worker.core.runtime import Runtime
from python_worker.core.station import StationSnapshot
from python_worker.render.hooks import RenderError, escape_conf, make_environment, render_hooks
from python_worker.render.records import build_records
from tests.unit.lint import lint, wrap_dialplan

SECRET = "s3cret-s3cret-s3cret"


def cfg(*peers: PeerConfig) -> ModuleConfig:
    return ModuleConfig(Settings(station_name="moscow", own_patterns="2XX"), peers)


def test_exact_texts_with_overlap_fix_and_tcp(moscow: StationSnapshot) -> None:
    peer = PeerConfig("spb", "pbx.spb.example", 5070, "tcp", "3XX", SECRET, overlap_fix=True, blf=True)
    hooks = render_hooks(build_plan(moscow, cfg(peer)))
    u = "SIP-TRUNK-B4FBFB7E21"
    assert hooks["extensionGenContexts"] == (
        f"[{u}-incoming-custom]\n"
        "; ModulePbxFederation: calls from spb reach only this station's own numbers and end here, never in\n"
        "; the route's Dial or the station's default route action that follow this Gosub\n"
        'exten => _.!,1,ExecIf($["${REGEX("^(2[0-9][0-9])$" ${EXTEN})}" != "1"]?Hangup(1))\n'
        '\tsame => n,ExecIf($["${CALLERID(num):0:1}" == "_"]?Set(CALLERID(num)=${CALLERID(num):1}))\n'
        "\tsame => n,StackPop()\n"
        '\tsame => n,ExecIf($[${DIALPLAN_EXISTS(internal,${EXTEN},1)}]?Goto(internal,${EXTEN},1))\n'
        "\tsame => n,Hangup(1)\n"
        "\n"
        f"[{u}-outgoing-custom]\n"
        "; ModulePbxFederation: mark the caller number so spb never takes it for its own extension\n"
        "exten => _.!,1,Set(CALLERID(num)=_${CALLERID(num)})\n"
        "\tsame => n,Return()\n"
    )
    pj = hooks["generatePeersPj"]
    assert "server_uri = sip:moscow@pbx.spb.example:5070\\;transport=tcp\n" in pj
    assert f"[{u}-FED-PUB]\ntype = outbound-publish\n" in pj
    assert "[spb]\ntype = inbound-publication\nendpoint = " + u + "\nevent_asterisk-devicestate = spb\n" in pj
    assert "@device_state_filter = ^PJSIP/(2[0-9][0-9])$\n" in pj
    assert "device_state_filter = ^PJSIP/(3[0-9][0-9])$\n" in pj
    assert hooks["extensionGenInternalTransfer"] == (
        "exten => _3XX,1,Set(__ISTRANSFER=transfer_)\n\tsame => n,Set(__QUEUE_SRC_CHAN=${EMPTY})\n"
        "\tsame => n,Goto(outgoing,${EXTEN},1)\n")
    hints = hooks["extensionGenHints"].splitlines()
    assert len(hints) == 100 and hints[0] == "exten => 300,hint,PJSIP/300"
    assert all(re.fullmatch(r"exten => (\d+),hint,PJSIP/\1", h) for h in hints)


def test_switches_off_render_nothing_for_them(moscow: StationSnapshot) -> None:
    peer = PeerConfig("spb", "127.0.0.3", patterns="3XX", secret=SECRET, blf=False, transfers=False)
    hooks = render_hooks(build_plan(moscow, cfg(peer)))
    assert hooks["extensionGenHints"] == ""
    assert hooks["extensionGenInternalTransfer"] == ""
    assert "publish" not in hooks["generatePeersPj"] and "FED-IN" in hooks["generatePeersPj"]
    assert "outgoing-custom" not in hooks["extensionGenContexts"]


def test_no_peers_renders_empty_hooks(moscow: StationSnapshot) -> None:
    assert render_hooks(build_plan(moscow, cfg())) == {
        "generatePeersPj": "", "extensionGenContexts": "", "extensionGenInternalTransfer": "",
        "extensionGenHints": ""}


def test_manual_attributes_single_set_var(moscow: StationSnapshot) -> None:
    peer = PeerConfig("spb", "127.0.0.3", patterns="3XX", secret=SECRET)
    rec = build_records(build_plan(moscow, cfg(peer)))
    ini = base64.b64decode(rec["providers"][0]["m_Sip"]["manualattributes"]).decode()
    assert ini == ("[endpoint]\nidentify_by = ip\nauth = SIP-TRUNK-B4FBFB7E21-FED-IN\n"
                   "outbound_auth = SIP-TRUNK-B4FBFB7E21-FED-OUT\nset_var = IGNORE_TIME=1\n")
    assert ini.count("set_var") == 1


@pytest.mark.parametrize("value", ["a\nb", "a;b", "a\r\n[evil]\ntype=endpoint", "x\x00y\x1b", "back\\slash"])
def test_escape_conf_never_breaks_a_line_or_starts_a_comment(value: str) -> None:
    out = escape_conf(value)
    assert "\n" not in out and "\r" not in out
    assert re.search(r"(?<!\\);", out) is None
    assert all(ord(c) >= 0x20 for c in out)


def test_strict_undefined_and_identifier_guard() -> None:
    env = make_environment()
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()
    with pytest.raises(RenderError):
        env.from_string("{{ v | ident }}").render(v="spb]\n[evil")
    with pytest.raises(RenderError):
        env.from_string("{{ v | regex }}").render(v="2XX)$|.*")


def test_note_and_hostile_text_never_reach_config(moscow: StationSnapshot) -> None:
    note = "x\n[evil]\ntype=endpoint ; comment"
    peer = PeerConfig("spb", "127.0.0.3", patterns="3XX", secret=SECRET, note=note)
    hooks = render_hooks(build_plan(moscow, cfg(peer)))
    assert all("evil" not in text for text in hooks.values())


def test_every_dialplan_fragment_passes_asterisklint(moscow: StationSnapshot, tmp_path: Path) -> None:
    peers = (
        PeerConfig("spb", "127.0.0.3", patterns="3XX", secret=SECRET, overlap_fix=True),
        PeerConfig("kzn", "127.0.0.4", patterns="4XXX,5[0-4]X", secret=SECRET),
    )
    hooks = render_hooks(build_plan(moscow, cfg(*peers)))
    assert lint(wrap_dialplan(hooks), tmp_path) == {}


def test_lint_wrapper_catches_errors(tmp_path: Path) -> None:
    bad = {"extensionGenInternalTransfer": "exten => _3XX,1,Goto(outgoing,${EXTEN},1\n",
           "extensionGenHints": "", "extensionGenContexts": "[x]\nexten => s,1,return\n"}
    assert lint(wrap_dialplan(bad), tmp_path) != {}


def test_unreachable_peer_hints_read_unavailable(moscow: StationSnapshot) -> None:
    """With lamps (the worker sets them): up `PJSIP/n&Custom:FED-<hex>` (INVALID then, which every other state
    outweighs), down the lamp device alone (UNAVAILABLE then). Without: up `PJSIP/n`, down a PJSIP device that
    does not exist. The peer that is still up is untouched either way, and nothing but the hints changes."""
    peers = (PeerConfig("spb", "127.0.0.3", patterns="30X", secret=SECRET),
             PeerConfig("kzn", "127.0.0.4", patterns="40X", secret=SECRET))
    kzn = provider_id("kzn")[10:]
    up = render_hooks(build_plan(moscow, cfg(*peers), Runtime(drives_lamps=True)))
    down = render_hooks(build_plan(moscow, cfg(*peers), Runtime.of(down={"spb"}, drives_lamps=True)))
    assert "exten => 300,hint,Custom:FED-B4FBFB7E21\n" in down["extensionGenHints"]
    assert f"exten => 400,hint,PJSIP/400&Custom:FED-{kzn}\n" in down["extensionGenHints"]
    assert "exten => 300,hint,PJSIP/300&Custom:FED-B4FBFB7E21\n" in up["extensionGenHints"]
    plain_up = render_hooks(build_plan(moscow, cfg(*peers)))
    plain_down = render_hooks(build_plan(moscow, cfg(*peers), Runtime.of(down={"spb"})))
    assert "exten => 300,hint,PJSIP/300\n" in plain_up["extensionGenHints"]
    assert "exten => 300,hint,PJSIP/FED-B4FBFB7E21\n" in plain_down["extensionGenHints"]
    assert "exten => 400,hint,PJSIP/400\n" in plain_down["extensionGenHints"]
    assert "Custom:" not in plain_up["extensionGenHints"] + plain_down["extensionGenHints"]
    for hooks in (up, down, plain_up, plain_down):
        assert {k: v for k, v in hooks.items() if k != "extensionGenHints"} == {
            k: v for k, v in down.items() if k != "extensionGenHints"}
