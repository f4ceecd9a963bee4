"""The local station as plain frozen data: what the planner knows of mikopbx.db (read by db/snapshot.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Extension:
    number: str
    display_name: str
    kind: str  # m_Extensions.type: SIP, QUEUE, IVR MENU, ...


@dataclass(frozen=True, order=True)
class Provider:
    uniqid: str
    host: str
    port: int
    registration_type: str
    description: str
    disabled: bool
    is_owned: bool


@dataclass(frozen=True, order=True)
class OutgoingRoute:
    id: int
    rulename: str
    providerid: str
    priority: int
    numberbeginswith: str
    restnumbers: int
    is_owned: bool
    note: str = ""
    trimfrombegin: int = 0
    prepend: str = ""

    def matches(self, number: str) -> bool:
        """Whether Core's [outgoing] sends `number` down this route: `REGEX("^<begins><rest>" number)` with
        `numberbeginswith`'s `*` and `+` escaped, rest `[0-9]{n}$` (n > 0), `$` (0) or nothing (-1)
        (OutgoingContext `generateOutgoingRegexPattern`)."""
        begins = self.numberbeginswith.replace("*", "\\*").replace("+", "\\+")
        rest = f"[0-9]{{{self.restnumbers}}}$" if self.restnumbers > 0 else ("$" if self.restnumbers == 0 else "")
        try:
            return re.match("^" + begins + rest, number) is not None
        except re.error:
            return False

    def rewrite(self, number: str) -> str:
        """The number this route dials: `prepend` + the number without its first `trimfrombegin` digits."""
        return self.prepend + number[max(self.trimfrombegin, 0):]

    def after(self, trim: int, prepend: str) -> tuple[int, str]:
        """The one (trimfrombegin, prepend) that rewrites a number as `trim`/`prepend` would and then, the result
        dialled here (a leading + dropped, as Core's [outgoing] does), as this route would."""
        head = prepend.removeprefix("+")
        own = max(self.trimfrombegin, 0)
        if own <= len(head):
            return trim, self.prepend + head[own:]
        return trim + own - len(head), self.prepend


@dataclass(frozen=True)
class StationSnapshot:
    """Everything the planner needs to know about the local station."""

    name: str
    sip_port: int
    tls_port: int
    language: str
    version: str
    own_addresses: tuple[str, ...]
    extensions: tuple[Extension, ...]
    providers: tuple[Provider, ...]
    outgoing_routes: tuple[OutgoingRoute, ...]
    sip_columns: frozenset[str]
    # The address other stations reach this one at: the external SIP address or host name (Core's NAT
    # settings), else the LAN address; '' when none is known.
    reachable_address: str = ""
    ami_port: int = 5038  # PbxSettings AMIPort: where Core's manager.conf listens

    @property
    def sip_extension_numbers(self) -> tuple[str, ...]:
        return tuple(e.number for e in self.extensions if e.kind == "SIP")
