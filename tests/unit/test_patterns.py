"""Patterns: parsing, regexes, route parts, expansion, overlap."""

from __future__ import annotations

import re

import pytest

from python_worker.core.patterns import (
    PatternError,
    derive_patterns,
    parse_pattern,
    parse_pattern_list,
    patterns_overlap,
)


@pytest.mark.parametrize(
    ("raw", "text", "regex", "route", "size", "asterisk"),
    [
        ("3XX", "3XX", "3[0-9][0-9]", ("3", 2), 100, "_3XX"),
        ("_4xxx", "4XXX", "4[0-9][0-9][0-9]", ("4", 3), 1000, "_4XXX"),
        ("5[0-4]X", "5[0-4]X", "5[0-4][0-9]", ("5[0-4]", 1), 50, "_5[0-4]X"),
        ("[135-7]2X", "[135-7]2X", "[135-7]2[0-9]", ("[135-7]2", 1), 50, "_[135-7]2X"),
        ("Z1N", "Z1N", "[1-9]1[2-9]", ("[1-9]1[2-9]", 0), 72, "_Z1N"),
        ("301", "301", "301", ("301", 0), 1, "301"),
        ("[0-9]X", "XX", "[0-9][0-9]", ("", 2), 100, "_XX"),
        ("[12]X", "[12]X", "[12][0-9]", ("[12]", 1), 20, "_[12]X"),
    ],
)
def test_parse(raw: str, text: str, regex: str, route: tuple[str, int], size: int, asterisk: str) -> None:
    p = parse_pattern(raw)
    assert (p.text, p.regex(), p.route_parts(), p.size(), p.asterisk()) == (text, regex, route, size, asterisk)
    numbers = p.expand()
    assert len(numbers) == size == len(set(numbers))
    rx = re.compile(f"^{p.regex()}$")
    core_rx = re.compile(f"^{route[0]}[0-9]{{{route[1]}}}$")  # what Core's [outgoing] REGEX does
    assert all(rx.match(n) and core_rx.match(n) and p.matches(n) for n in numbers)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty pattern"),
        ("3X.", "'.' (variable length) is not allowed: give a fixed-length pattern"),
        ("3X!", "'!' (variable length) is not allowed: give a fixed-length pattern"),
        ("3[0-", "unclosed '['"),
        ("3[]X", "empty '[]'"),
        ("3[a-c]", "only digits and ranges are allowed inside '[]', not 'A'"),
        ("3[5-1]", "bad range '5-1'"),
        ("3;X", "unexpected character ';'"),
        ("3XXXXXXXXXXXXXXXX", "longer than 15 digits"),
    ],
)
def test_parse_errors(raw: str, reason: str) -> None:
    with pytest.raises(PatternError) as err:
        parse_pattern(raw)
    assert str(err.value) == reason


def test_list_dedupes_and_sorts() -> None:
    assert [p.text for p in parse_pattern_list(" 4XXX, 3XX 3xx,5[0-4]X")] == ["3XX", "5[0-4]X", "4XXX"]
    with pytest.raises(PatternError):
        parse_pattern_list(" , ")


def test_overlap() -> None:
    assert patterns_overlap(parse_pattern("2XX"), parse_pattern("25X"))
    assert patterns_overlap(parse_pattern("5[0-4]X"), parse_pattern("54X"))
    assert not patterns_overlap(parse_pattern("5[0-4]X"), parse_pattern("55X"))
    assert not patterns_overlap(parse_pattern("2XX"), parse_pattern("2XXX"))


def test_derive() -> None:
    assert [p.text for p in derive_patterns(["201", "250", "301", "1001", "9", "abc"])] == ["2XX", "3XX", "1XXX"]
