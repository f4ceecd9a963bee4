"""SIPp scenarios that behave like MikoPBX phones: digest auth, REGISTER, calls, BLF SUBSCRIBE."""

from __future__ import annotations

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
"""


_REINVITE_OK = """<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:USER@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

""" + _SDP + """]]></send>
"""


def _xml(name: str, body: str) -> str:
    return (f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f'<scenario name="{name}">\n{body}\n</scenario>\n')


def _send(msg: str, retrans: bool = True) -> str:
    attr = ' retrans="500"' if retrans else ""
    return f"<send{attr}><![CDATA[\n{msg.strip()}\n\n]]></send>\n"


def register(user: str, expires: int = 300) -> str:
    """REGISTER, answer the 401 with digest credentials (-au/-ap), expect 200."""
    def req(cseq: int, auth: str) -> str:
        return f"""
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]reg[call_number]
To: <sip:{user}@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: {expires}
User-Agent: SIPp phone {user}
{auth}Content-Length: 0
"""
    body = _send(req(1, ""))
    body += '<recv response="401" auth="true"/>\n'
    body += _send(req(2, "[authentication]\n"))
    body += '<recv response="200"/>\n'
    return _xml(f"register {user}", body)


def call(user: str, hold_ms: int = 2000, expect: str = "200") -> str:
    """Phone `user` calls [service] through its station with digest auth, waits for `expect`.

    With expect="200": ACK, hold, BYE.  Otherwise (e.g. "404", "480", "486", "603") the final error
    response is ACKed and the scenario ends successfully; expect="failure" takes any of FAILURE_CODES.
    """
    def invite(cseq: int, auth: str) -> str:
        return f"""
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]call[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: SIPp phone {user}
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER
{auth}Content-Type: application/sdp
Content-Length: [len]

{_SDP}"""

    def ack(cseq: int, last_via: bool) -> str:
        via = "[last_Via:]" if last_via else "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
        return f"""
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{via}
From: <sip:{user}@[remote_ip]>;tag=[pid]call[call_number]
To: <sip:[service]@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} ACK
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
"""
    body = _send(invite(1, ""))
    body += '<recv response="100" optional="true"/>\n'
    body += '<recv response="401" auth="true"/>\n'
    body += _send(ack(1, True), retrans=False)
    body += _send(invite(2, "[authentication]\n"))
    body += '<label id="prov"/>\n'
    body += '<recv response="100" optional="true" next="prov"/>\n'
    body += '<recv response="180" optional="true" next="prov"/>\n'
    body += '<recv response="183" optional="true" next="prov"/>\n'
    if expect == "200":
        body += '<recv response="200" rrs="true"/>\n'
        body += _send(ack(2, False).replace("ACK sip:[service]@[remote_ip]:[remote_port]", "ACK [next_url]")
                      .replace("Max-Forwards: 70", "[routes]\nMax-Forwards: 70"), retrans=False)
        # Hold the call; a real phone also accepts the re-INVITEs Asterisk sends meanwhile (connected
        # line updates, e.g. after a transfer), which SIPp would otherwise treat as unexpected and hang up.
        body += '<label id="hold"/>\n'
        body += f'<recv request="INVITE" timeout="{hold_ms}" ontimeout="bye"/>\n'
        body += _REINVITE_OK.replace("USER", user)
        body += '<recv request="ACK"/>\n<nop next="hold"/>\n<label id="bye"/>\n'
        body += _send(f"""
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: <sip:{user}@[remote_ip]>;tag=[pid]call[call_number]
To: <sip:[service]@[remote_ip]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 BYE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
""")
        body += '<recv response="200" crlf="true"/>\n'
    elif expect == "failure":  # any final refusal: what a caller hears when the call does not go through
        for code in FAILURE_CODES[:-1]:
            body += f'<recv response="{code}" optional="true" next="ack"/>\n'
        body += f'<recv response="{FAILURE_CODES[-1]}"/>\n<label id="ack"/>\n'
        body += _send(ack(2, True), retrans=False)
    else:
        body += f'<recv response="{expect}"/>\n'
        body += _send(ack(2, True), retrans=False)
    return _xml(f"call from {user}", body)


FAILURE_CODES = ("403", "404", "408", "480", "484", "486", "487", "488", "500", "502", "503", "600", "603")


def answer(user: str, ring_ms: int = 300) -> str:
    """UAS phone: ring, answer, wait for the BYE (from the far end) and confirm it."""
    body = """<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ans[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:USER@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
<pause milliseconds="RING_MS"/>
<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ans[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:USER@[local_ip]:[local_port]>
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER
Content-Type: application/sdp
Content-Length: [len]

SDP]]></send>
<recv request="ACK" crlf="true"/>
<recv request="BYE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""
    body = body.replace("USER", user).replace("RING_MS", str(ring_ms)).replace("SDP", _SDP)
    return _xml(f"answer as {user}", body)


def blf_subscribe(user: str, expires: int = 120, idle_ms: int = 30000) -> str:
    """BLF key: SUBSCRIBE Event: dialog (digest auth), then answer every NOTIFY with 200 until no
    NOTIFY arrives for idle_ms (then the scenario ends).  Bodies end up in the message log."""
    def sub(cseq: int, auth: str) -> str:
        return f"""
SUBSCRIBE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]blf[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} SUBSCRIBE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Event: dialog
Accept: application/dialog-info+xml
Expires: {expires}
User-Agent: SIPp phone {user}
{auth}Content-Length: 0
"""
    body = _send(sub(1, ""))
    body += '<recv response="401" auth="true"/>\n'
    body += _send(sub(2, "[authentication]\n"))
    body += '<recv response="200" rrs="true"/>\n'
    body += '<label id="loop"/>\n'
    body += f'<recv request="NOTIFY" timeout="{idle_ms}" ontimeout="done"/>\n'
    body += """<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<nop next="loop"/>
<label id="done"/>
"""
    return _xml(f"blf {user}", body)


def answer_then_refer(user: str, target: str, domain: str, talk_ms: int = 500) -> str:
    """UAS phone `user`: answer a call, then blind-transfer it (REFER, Refer-To: sip:<target>@<domain>),
    answer every NOTIFY (sipfrag progress) with 200; 1.5 s after the last NOTIFY hang up our leg with BYE, as
    phones do (Asterisk 22 does not end the transferor's dialog itself), or accept Asterisk's BYE.
    The timeout sits on the first (optional) recv: SIPp only times the step it is waiting at."""
    ok = """<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""
    body = f"""<recv request="INVITE" crlf="true" rrs="true">
  <action>
    <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
    <ereg regexp=".*" search_in="hdr" header="Call-ID:" assign_to="dialog_id"/>
  </action>
</recv>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]xfer[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]xfer[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:{user}@[local_ip]:[local_port]>
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER
Content-Type: application/sdp
Content-Length: [len]

{_SDP}]]></send>
<recv request="ACK" crlf="true"/>
<pause milliseconds="{talk_ms}"/>
<send retrans="500"><![CDATA[
REFER [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]xfer[call_number]
To: [$remote_from]
Call-ID: [$dialog_id]
CSeq: 101 REFER
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Refer-To: <sip:{target}@{domain}>
Referred-By: <sip:{user}@{domain}>
Content-Length: 0

]]></send>
<recv response="202"/>
<label id="loop"/>
<recv request="BYE" optional="true" next="gotbye" timeout="1500" ontimeout="sendbye"/>
<recv request="NOTIFY"/>
{ok}<nop next="loop"/>
<label id="gotbye"/>
{ok}<nop next="done"/>
<label id="sendbye"/>
<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]xfer[call_number]
To: [$remote_from]
Call-ID: [$dialog_id]
CSeq: 102 BYE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="481" optional="true" next="done"/>
<recv response="200"/>
<label id="done"/>
"""
    return _xml(f"answer and transfer as {user}", body)


def publish_devicestate(user: str, target: str, device: str, state: str, eid: str, expect: str = "401") -> str:
    """An unsolicited asterisk-devicestate PUBLISH (what a peer station sends for BLF), with digest auth
    from -au/-ap when challenged; expects `expect` as the final answer."""
    body_json = (f'{{"type":"devicestate","device":"{device}","state":"{state}","cachable":1,'
                 f'"eid":"{eid}"}}')

    def pub(cseq: int, auth: str) -> str:
        return f"""
PUBLISH sip:{target}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]>;tag=[pid]pub[call_number]
To: <sip:{target}@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} PUBLISH
Max-Forwards: 70
Event: asterisk-devicestate
Expires: 3600
{auth}Content-Type: application/json
Content-Length: [len]

{body_json}"""
    body = _send(pub(1, ""))
    if expect == "401":
        body += '<recv response="401" auth="true"/>\n'
        body += _send(pub(2, "[authentication]\n"))
        body += '<recv response="401"/>\n'
    else:
        body += '<recv response="401" auth="true" optional="true" next="again"/>\n'
        body += f'<recv response="{expect}" next="end"/>\n<label id="again"/>\n'
        body += _send(pub(2, "[authentication]\n"))
        body += f'<recv response="{expect}"/>\n<label id="end"/>\n'
    return _xml(f"publish from {user}", body)


def refuse(user: str, code: str = "486", reason: str = "Busy Here", ring_ms: int = 0) -> str:
    """UAS phone that does not take the call: rings `ring_ms` (0: not at all), then answers `code` (486 busy,
    480 no answer: what a phone sends when its own no-answer timer or its user rejects), and takes the ACK."""
    ring = """<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ref[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:USER@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
<pause milliseconds="RING_MS"/>
""" if ring_ms else ""
    body = '<recv request="INVITE" crlf="true"/>\n' + ring + """<send retrans="500"><![CDATA[
SIP/2.0 CODE REASON
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ref[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<recv request="ACK"/>
"""
    body = body.replace("USER", user).replace("RING_MS", str(ring_ms)).replace("CODE", code).replace("REASON", reason)
    return _xml(f"{code} from {user}", body)


def ring(user: str) -> str:
    """UAS phone that rings and never answers: it waits for the CANCEL, answers it 200 and the INVITE 487."""
    body = """<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ring[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:USER@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
<recv request="CANCEL"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ring[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ring[call_number]
[last_Call-ID:]
CSeq: [cseq] INVITE
Content-Length: 0

]]></send>
<recv request="ACK"/>
"""
    return _xml(f"ring as {user}", body.replace("USER", user))
