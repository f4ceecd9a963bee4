"""Two federated stations built BY HAND, following docs/design.md to the letter.

Later the module's worker writes these records and hooks itself; until then this is the
reference the e2e infrastructure is proven with (and what the worker's output can be compared to).
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.e2e import mikopbx_station as ms

SECRET = "fed-e2e-secret-7Qx"
PHONE_SECRET = "phone-secret-"


def provider_id(peer_name: str) -> str:
    digest = hashlib.sha256(f"ModulePbxFederation:{peer_name.lower()}".encode()).hexdigest()
    return "SIP-TRUNK-" + digest[:10].upper()


def entity_id(station_name: str) -> str:
    digest = hashlib.sha256(f"ModulePbxFederation:entity:{station_name.lower()}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


@dataclass(frozen=True)
class StationSpec:
    name: str
    address: str
    phones: tuple[str, ...]
    prefix: str  # numberbeginswith of this station's 3-digit range, e.g. '2' for 2XX
    rtp_start: int

    @property
    def pattern(self) -> str:
        return f"{self.prefix}XX"

    @property
    def regex(self) -> str:
        return f"{self.prefix}[0-9]{{2}}"


MOSCOW = StationSpec("moscow", "127.0.0.2", ("201", "202"), "2", 20000)
SPB = StationSpec("spb", "127.0.0.3", ("301", "302"), "3", 21000)


def phone_secret(number: str) -> str:
    return f"{PHONE_SECRET}{number}"


# Test phones are SIPp instances that cannot answer qualify OPTIONS between scenarios; a per-phone
# manual attribute (an ordinary MikoPBX setting) turns the phone AOR's qualify off.
PHONE_MANUAL = base64.b64encode(b"[aor]\nqualify_frequency = 0\n").decode()


def trunk_manual_attributes(peer: StationSpec) -> str:
    u = provider_id(peer.name)
    text = (f"[endpoint]\nidentify_by = ip\nauth = {u}-FED-IN\noutbound_auth = {u}-FED-OUT\n"
            "set_var = IGNORE_TIME=1\n")
    return text


def build_db(path: Path, me: StationSpec, peer: StationSpec) -> sqlite3.Connection:
    db = ms.create_db(path)
    db.execute("UPDATE m_PbxSettings SET value=? WHERE key='Name'", (f"MikoPBX {me.name}",))
    for number in me.phones:
        ms.add_phone(db, number, phone_secret(number))
    db.execute("UPDATE m_Sip SET manualattributes=? WHERE type='peer'", (PHONE_MANUAL,))
    u = provider_id(peer.name)
    mark = f"ModulePbxFederation: peer {peer.name}"
    db.execute("INSERT INTO m_Providers (uniqid, type, sipuid, iaxuid, note) VALUES (?, 'SIP', ?, '', ?)",
               (u, u, mark))
    db.execute(
        "INSERT INTO m_Sip (uniqid, disabled, extension, type, registration_type, host, port, username, secret,"
        " transport, outbound_proxy, fromuser, fromdomain, nat, dtmfmode, qualifyfreq, qualify,"
        " networkfilterid, manualattributes, disablefromuser, noregister, description, enableRecording,"
        " weakSecret) VALUES (?, '0', '', 'friend', 'none', ?, 5060, ?, ?, 'udp', '', '', '',"
        " 'force_rport,comedia', 'auto', 30, '1', NULL, ?, '1', '1', ?, 1, 0)",
        (u, peer.address, me.name, SECRET,
         base64.b64encode(trunk_manual_attributes(peer).encode()).decode(), f"Federation: {peer.name}"),
    )
    db.execute("INSERT INTO m_SipHosts (provider_id, address) VALUES (?, ?)", (u, peer.address))
    db.execute(
        "INSERT INTO m_OutgoingRoutingTable (rulename, providerid, priority, numberbeginswith, restnumbers,"
        " trimfrombegin, prepend, note) VALUES (?, ?, '1', ?, '2', '0', '', ?)",
        (f"Federation: {peer.name} {peer.pattern}", u, peer.prefix, f"{mark} pattern {peer.pattern}"),
    )
    db.execute(
        "INSERT INTO m_IncomingRoutingTable (rulename, number, extension, provider, priority, timeout, action,"
        " note, audio_message_id) VALUES (?, '', 'did2user', ?, 1, 120, 'extension', ?, '')",
        (f"Federation: {peer.name}", u, mark),
    )
    db.commit()
    return db


def hooks(me: StationSpec, peer: StationSpec) -> dict[str, str]:
    u = provider_id(peer.name)
    peers_pj = f"""; ModulePbxFederation: peer {peer.name} ({u})
[{u}-FED-IN]
type = auth
auth_type = userpass
username = {peer.name}
password = {SECRET}

[{u}-FED-OUT]
type = auth
auth_type = userpass
username = {me.name}
password = {SECRET}

[{u}-FED-PUB]
type = outbound-publish
server_uri = sip:{me.name}@{peer.address}:5060
event = asterisk-devicestate
outbound_auth = {u}-FED-OUT
@device_state_filter = ^PJSIP/({me.regex})$

[{peer.name}]
type = asterisk-publication
device_state = yes
device_state_filter = ^PJSIP/({peer.regex})$
devicestate_publish = {u}-FED-PUB

[{peer.name}]
type = inbound-publication
endpoint = {u}
event_asterisk-devicestate = {peer.name}
"""
    contexts = f"""[{u}-incoming-custom]
; ModulePbxFederation: calls from {peer.name} reach only this station's own numbers
exten => _.!,1,ExecIf($["${{REGEX("^({me.regex})$" ${{EXTEN}})}}" != "1"]?Hangup(1))
	same => n,Return()
"""
    transfer = f"""exten => _{peer.pattern},1,Set(__ISTRANSFER=transfer_)
	same => n,Goto(outgoing,${{EXTEN}},1)
"""
    hints = "".join(f"exten => {n},hint,PJSIP/{n}\n" for n in peer.phones)
    return {
        ms.HOOK_PEERS_PJ: peers_pj,
        ms.HOOK_CONTEXTS: contexts,
        ms.HOOK_TRANSFER: transfer,
        ms.HOOK_HINTS: hints,
    }


def station_net(spec: StationSpec) -> ms.StationNet:
    return ms.StationNet(spec.name, spec.address, entity_id(spec.name), 5060, spec.rtp_start,
                         spec.rtp_start + 999)
