"""Fixed-length extension patterns (`3XX`, `5[0-4]X`): parsing, regexes, expansion and overlap."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

_CLASS_CHARS = {"X": "0123456789", "Z": "123456789", "N": "23456789"}
_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also accepts '٣', '³', '๓' ...
MAX_PATTERN_LENGTH = 15
MAX_PATTERNS = 64  # patterns in one list (a peer's, the station's own)
MAX_PATTERNS_TEXT = 1024  # characters of one list as written
MAX_NUMBER_LENGTH = 32


def is_number(text: object) -> bool:
    """An extension number: 1 to 32 ASCII digits."""
    return isinstance(text, str) and 0 < len(text) <= MAX_NUMBER_LENGTH and all(c in _DIGITS for c in text)


class PatternError(ValueError):
    """A pattern that cannot be parsed; the message names the problem."""


@dataclass(frozen=True, order=True)
class Pattern:
    """One parsed pattern: the text as normalised, and the digit set of each position."""

    text: str
    positions: tuple[frozenset[str], ...]

    @property
    def length(self) -> int:
        return len(self.positions)

    def size(self) -> int:
        """How many numbers the pattern covers."""
        total = 1
        for pos in self.positions:
            total *= len(pos)
        return total

    def matches(self, number: str) -> bool:
        return len(number) == self.length and all(c in pos for c, pos in zip(number, self.positions, strict=False))

    def expand(self) -> list[str]:
        """Every number the pattern covers, sorted."""
        return ["".join(p) for p in product(*(sorted(pos) for pos in self.positions))]

    def regex(self) -> str:
        """A POSIX/Python regex fragment (no anchors) matching exactly the covered numbers."""
        return "".join(_position_regex(pos) for pos in self.positions)

    def route_parts(self) -> tuple[str, int]:
        """(numberbeginswith, restnumbers) as Core's outgoing REGEX expects: trailing X become the rest."""
        rest = 0
        for pos in reversed(self.positions):
            if len(pos) != 10:
                break
            rest += 1
        head = self.positions[: self.length - rest]
        return "".join(_position_regex(pos) for pos in head), rest

    def asterisk(self) -> str:
        """The pattern as an Asterisk extension pattern, with the leading underscore when needed."""
        if all(len(pos) == 1 for pos in self.positions):
            return self.text
        return "_" + self.text


def _position_regex(pos: frozenset[str]) -> str:
    if len(pos) == 1:
        return next(iter(pos))
    if len(pos) == 10:
        return "[0-9]"
    return "[" + _compact_digits(pos) + "]"


def _compact_digits(pos: frozenset[str]) -> str:
    digits = sorted(int(d) for d in pos)
    out: list[str] = []
    start = prev = digits[0]
    for d in [*digits[1:], None]:
        if d is not None and d == prev + 1:
            prev = d
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}" if prev > start + 1 else f"{start}{prev}")
        if d is not None:
            start = prev = d
    return "".join(out)


def _pattern_text(pos: frozenset[str]) -> str:
    for letter, chars in _CLASS_CHARS.items():
        if pos == frozenset(chars):
            return letter
    if len(pos) == 1:
        return next(iter(pos))
    return "[" + _compact_digits(pos) + "]"


def parse_pattern(raw: str) -> Pattern:
    """Parse one pattern; raises PatternError with a reason the admin can read."""
    text = raw
    if text.startswith("_"):
        text = text[1:]
    if not text:
        raise PatternError("empty pattern")
    positions: list[frozenset[str]] = []
    i = 0
    upper = text.upper()
    while i < len(upper):
        c = upper[i]
        if c in _DIGITS:
            positions.append(frozenset(c))
            i += 1
        elif c in _CLASS_CHARS:
            positions.append(frozenset(_CLASS_CHARS[c]))
            i += 1
        elif c == "[":
            end = upper.find("]", i)
            if end < 0:
                raise PatternError("unclosed '['")
            positions.append(_parse_class(upper[i + 1 : end]))
            i = end + 1
        elif c in ".!":
            raise PatternError(f"'{c}' (variable length) is not allowed: give a fixed-length pattern")
        else:
            raise PatternError(f"unexpected character {c.encode('unicode_escape').decode('ascii')!r}")
        if len(positions) > MAX_PATTERN_LENGTH:
            raise PatternError(f"longer than {MAX_PATTERN_LENGTH} digits")
    normal = "".join(_pattern_text(p) for p in positions)
    return Pattern(text=normal, positions=tuple(positions))


def _parse_class(body: str) -> frozenset[str]:
    if not body:
        raise PatternError("empty '[]'")
    digits: set[str] = set()
    i = 0
    while i < len(body):
        c = body[i]
        if c not in _DIGITS:
            raise PatternError(f"only digits and ranges are allowed inside '[]', not {c!r}")
        if i + 2 < len(body) and body[i + 1] == "-":
            hi = body[i + 2]
            if hi not in _DIGITS or hi < c:
                raise PatternError(f"bad range '{c}-{hi}'")
            digits.update(str(d) for d in range(int(c), int(hi) + 1))
            i += 3
        else:
            digits.add(c)
            i += 1
    return frozenset(digits)


def parse_pattern_list(raw: str) -> list[Pattern]:
    """Parse a comma/space separated list; duplicates removed, order kept sorted by text."""
    if not isinstance(raw, str):
        raise PatternError("not a text")
    if len(raw) > MAX_PATTERNS_TEXT:
        raise PatternError(f"longer than {MAX_PATTERNS_TEXT} characters")
    items = [p for p in re.split(r"[, \t]+", raw.strip(" \t")) if p]
    if not items:
        raise PatternError("no pattern given")
    if len(items) > MAX_PATTERNS:
        raise PatternError(f"more than {MAX_PATTERNS} patterns")
    return sorted({parse_pattern(p) for p in items}, key=lambda p: (p.length, p.text))


def patterns_overlap(a: Pattern, b: Pattern) -> bool:
    """True when some number matches both patterns."""
    return a.length == b.length and all(pa & pb for pa, pb in zip(a.positions, b.positions, strict=False))


def patterns_regex(patterns: list[Pattern]) -> str:
    """One alternation regex fragment (no anchors) for a list of patterns."""
    return "|".join(p.regex() for p in patterns)


def numbers_regex(numbers: set[str] | frozenset[str]) -> str:
    """An alternation of character-class sequences (no groups, no anchors) matching exactly `numbers`.

    Used where a peer's range must leave out some numbers (POSIX regexes have no look-ahead): digits whose
    remaining numbers are the same set share one class, e.g. 200-299 without 250 is
    `2[0-46-9][0-9]|25[0-46-9]`."""
    def branches(strings: frozenset[str], memo: dict[frozenset[str], tuple[str, ...]]) -> tuple[str, ...]:
        if strings in memo:
            return memo[strings]
        if strings == frozenset({""}):
            return ("",)
        tails: dict[str, set[str]] = {}
        for s in strings:
            tails.setdefault(s[0], set()).add(s[1:])
        by_tail: dict[frozenset[str], list[str]] = {}
        for digit, rest in sorted(tails.items()):
            by_tail.setdefault(frozenset(rest), []).append(digit)
        out: list[str] = []
        for tail, digits in by_tail.items():
            head = _digit_class(digits)
            out += [head + b for b in branches(tail, memo)]
        memo[strings] = tuple(out)
        return memo[strings]

    memo: dict[frozenset[str], tuple[str, ...]] = {}
    out: list[str] = []
    for length in sorted({len(n) for n in numbers}):
        out += branches(frozenset(n for n in numbers if len(n) == length), memo)
    return "|".join(out)


def _digit_class(digits: list[str]) -> str:
    if len(digits) == 1:
        return digits[0]
    values = sorted(int(d) for d in digits)
    parts: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], -9]:
        if v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}" if prev > start + 1 else f"{start}{prev}")
        start = prev = v
    return "[" + "".join(parts) + "]"


def derive_patterns(numbers: list[str]) -> list[Pattern]:
    """Patterns for a station's own extensions: one `<first digit>X…` per (length, first digit) group."""
    groups = {(len(n), n[0]) for n in numbers if is_number(n) and 2 <= len(n) <= MAX_PATTERN_LENGTH}
    return [parse_pattern(first + "X" * (length - 1)) for length, first in sorted(groups)]
