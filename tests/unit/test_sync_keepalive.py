"""Liveness on a link (sync/links.py): libzmq's ZMTP heartbeats tell whether the peer is there (a frozen peer is read
down at their timeout: tests/unit/test_sync_worker.py); our own pings go only every `keepalive` seconds while it
answers, and a peer whose pongs stop for keepalive + heartbeat_timeout reads down too, with the backoff starting
again from `heartbeat`. The link's bookkeeping with a recording socket and an explicit clock."""

from __future__ import annotations

from python_worker.core.directory import LocalDirectory
from python_worker.sync.links import Link, SyncOptions
from tests.unit.test_sync_watch import RecordingSocket

OPTS = SyncOptions(heartbeat=0.5, heartbeat_timeout=1.5, keepalive=5.0, backoff_max=30.0)
LOCAL = LocalDirectory("moscow", "1.0.0", "2XX", ())


def _pings(sock: RecordingSocket) -> int:
    n = sum(1 for f in sock.frames if f["type"] == "ping")
    sock.frames = []
    return n


def test_an_answering_peer_is_pinged_every_keepalive_and_read_down_when_its_pongs_stop() -> None:
    sock = RecordingSocket()
    link = Link(name="spb", host="127.0.0.3", port=7787, key="k", sock=sock, mon=None, created=0.0,
                counters={"bytes_sent": 0}, connected=True)
    link._pong({"stored": ""}, None, OPTS, 1.0)
    assert link.state == "up" and link.next_ping == 6.0 and link.interval == 5.0
    link.heartbeat(LOCAL, OPTS, 6.0)
    assert _pings(sock) == 1 and link.state == "up" and link.next_ping == 11.0
    link._pong({"stored": ""}, None, OPTS, 6.05)
    link.heartbeat(LOCAL, OPTS, 11.05)
    assert link.state == "up"  # 5 s since its last pong: the next one is on its way
    link.heartbeat(LOCAL, OPTS, 12.6)  # 6.55 s without a pong: more than keepalive + heartbeat_timeout
    assert link.state == "down" and link.interval == 0.5 and link.next_ping == 13.1
    for t, interval in ((13.1, 1.0), (14.1, 2.0), (16.1, 4.0)):  # then the backoff, from heartbeat again
        link.heartbeat(LOCAL, OPTS, t)
        assert link.interval == interval
    assert _pings(sock) == 5


def test_a_peer_not_answering_yet_reads_down_at_the_heartbeat_timeout() -> None:
    sock = RecordingSocket()
    link = Link(name="spb", host="127.0.0.3", port=7787, key="k", sock=sock, mon=None, created=0.0,
                counters={"bytes_sent": 0}, connected=True)
    link.heartbeat(LOCAL, OPTS, 1.4)
    assert link.state == "connecting"
    link.heartbeat(LOCAL, OPTS, 1.6)
    assert link.state == "down"
