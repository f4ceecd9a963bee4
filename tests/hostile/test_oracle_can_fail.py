"""The suite can fail: its oracle flags the outputs the old defects produced, and with an old rule put back (a
`$`-anchored match, an IPv6 zone accepted by `ipaddress`) the form fuzzer's judge finds the injection."""

from __future__ import annotations

import ipaddress
import re

import pytest

from python_worker.core import fields
from python_worker.core.planner import build_plan
from python_worker.render import hooks as hooks_module
from python_worker.render import records as records_module
from tests.hostile.oracle import Unsafe, check_hooks, check_nothing_lost, check_records
from tests.hostile.test_form_fields import CONFIG, NEW, SNAP, judge_peer


def _good() -> tuple[dict[str, str], dict[str, object]]:
    from python_worker.pipeline import compute

    out = compute(SNAP, CONFIG)
    return out.hooks, dict(out.records)  # type: ignore[arg-type]


def test_the_oracle_flags_a_new_section_a_new_line_and_a_control_character() -> None:
    hooks, records = _good()
    plan = build_plan(SNAP, CONFIG)
    check_hooks(hooks, plan)
    check_records(records)  # type: ignore[arg-type]
    injected = hooks["generatePeersPj"].replace("server_uri = sip:moscow@127.0.0.3:5060",
                                                "server_uri = sip:moscow@[fe80::1%x]\n[evil]\ntype=endpoint]:5060")
    for bad in (injected, hooks["generatePeersPj"] + "\r", hooks["generatePeersPj"] + "x\x1b[31m\n"):
        with pytest.raises(Unsafe):
            check_hooks({**hooks, "generatePeersPj": bad}, plan)
    for mutate in (lambda r: r["providers"][0]["m_Sip"].__setitem__("host", "127.0.0.3\n[x]"),
                   lambda r: r["providers"][0]["m_SipHosts"][0].__setitem__("address", "fe80::1%x"),
                   lambda r: r["network_filters"][0].__setitem__("permit", "fe80::1%x]/128"),
                   lambda r: r["outgoing_routes"][0].__setitem__("rulename", "a\nb")):
        import copy

        broken = copy.deepcopy(records)
        mutate(broken)
        with pytest.raises(Unsafe):
            check_records(broken)  # type: ignore[arg-type]


def test_the_oracle_flags_a_lost_peer() -> None:
    from dataclasses import replace

    before = build_plan(SNAP, CONFIG)
    after = build_plan(SNAP, replace(CONFIG, peers=CONFIG.peers[1:]))
    with pytest.raises(AssertionError, match="lost working peers"):
        check_nothing_lost(before, after)


def test_with_the_old_dollar_anchored_checks_the_judge_finds_the_injection(monkeypatch: pytest.MonkeyPatch) -> None:
    old_name = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    monkeypatch.setattr(fields, "is_valid_name", lambda n: isinstance(n, str) and bool(old_name.match(n)))
    monkeypatch.setattr(fields, "NAME_RE", old_name)

    def old_checked(rx: re.Pattern[str], what: str):  # type: ignore[no-untyped-def]
        loose = re.compile("^" + rx.pattern + "$")
        return lambda value: str(value) if loose.match(str(value)) else (_ for _ in ()).throw(
            hooks_module.RenderError(what))

    with pytest.raises(hooks_module.RenderError):  # the rule alone reverted: the output walls still hold
        judge_peer({**NEW, "name": "kzn\n"}, {"name"}, False)
    env = hooks_module.make_environment()
    env.filters["ident"] = old_checked(hooks_module._IDENT_RE, "identifier")
    monkeypatch.setattr(hooks_module, "_ENV", env)
    monkeypatch.setattr(records_module, "check_records", lambda records: None)
    with pytest.raises(AssertionError):  # every wall reverted: the judge sees "[kzn\n]", not a template line
        judge_peer({**NEW, "name": "kzn\n"}, {"name"}, False)


def test_with_the_old_host_rule_the_judge_finds_the_scoped_ipv6_injection(monkeypatch: pytest.MonkeyPatch) -> None:
    def old_parse(host: object) -> str:
        if not isinstance(host, str) or not host:
            raise fields.HostError("invalid")
        try:
            ipaddress.ip_address(host)  # accepts fe80::1%<anything without %>
            return host
        except ValueError:
            raise fields.HostError("invalid") from None

    def old_uri_host(host: str) -> str:
        return f"[{host}]" if ":" in host else host

    monkeypatch.setattr(fields, "parse_host", old_parse)
    monkeypatch.setattr(hooks_module, "uri_host", old_uri_host)
    env = hooks_module.make_environment()
    env.filters["uri_host"] = old_uri_host
    monkeypatch.setattr(hooks_module, "_ENV", env)
    monkeypatch.setattr(records_module, "check_records", lambda records: None)  # the second wall removed too
    with pytest.raises(AssertionError):
        judge_peer({**NEW, "host": "fe80::1%x]\n[evil]\ntype=endpoint"}, {"host"}, False)
