"""A minimal Asterisk Manager Interface client: one TCP connection, login, actions out, messages in.

AMI speaks `Key: Value` lines, a blank line ending each message (main/manager.c). The banner is one line. Actions
are written without waiting (pipelined); responses and events are read as they come and told apart by `ActionID`
and `Event`. Every blocking call has a timeout; the parser bounds what it buffers.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping

MAX_BUFFER = 16 * 1024 * 1024  # an AMI peer that never ends a message is cut off here
CHUNK = 262144  # bytes per recv


class AmiError(RuntimeError):
    """The connection failed or was closed."""


class AmiRefused(AmiError):
    """Asterisk refused the login (no such user, wrong secret, or not from this address)."""


def encode_action(fields: Mapping[str, str]) -> bytes:
    for key, value in fields.items():
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key or ":" in key:
            raise ValueError(f"AMI field {key!r} cannot carry a line break")
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"


def parse_messages(buf: bytearray) -> list[dict[str, str]]:
    """Cut the complete messages off the front of `buf` (in place)."""
    out: list[dict[str, str]] = []
    start = 0
    while True:
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            break
        msg: dict[str, str] = {}
        for line in bytes(buf[start:end]).decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                msg.setdefault(key.strip(), value.strip())
        if msg:
            out.append(msg)
        start = end + 4
    del buf[:start]
    return out


class AmiConnection:
    def __init__(self, host: str, port: int, username: str, secret: str, *, events: str = "call,system",
                 timeout: float = 3.0) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.events = events
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.banner = ""

    def connect(self) -> list[dict[str, str]]:
        """Connect and log in; returns the messages that arrived with the login's answer (events, in order)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise AmiError(f"{self.host}:{self.port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, bytearray()
        try:
            self.banner = self._read_line()
            if not self.banner.startswith("Asterisk Call Manager"):
                raise AmiError(f"{self.host}:{self.port} is no AMI ({self.banner[:40]!r})")
            self.send({"Action": "Login", "Username": self.username, "Secret": self.secret, "Events": self.events,
                       "ActionID": "login"})
            early: list[dict[str, str]] = []
            for _ in range(1000):  # bounded: the answer comes within a few messages
                for msg in self._read_blocking():
                    if msg.get("ActionID") == "login" and "Response" in msg:
                        if msg["Response"] != "Success":
                            raise AmiRefused(msg.get("Message") or "login refused")
                        sock.setblocking(False)
                        return early
                    early.append(msg)
            raise AmiError("no answer to the login")
        except BaseException:
            self.close()
            raise

    def _read_line(self) -> str:
        assert self.sock is not None
        for _ in range(64):
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[:end]).decode("utf-8", "replace")
                del self.buf[:end + 2]
                return line
            self._recv_into()
        raise AmiError("no banner")

    def _recv_into(self) -> int:
        """Read what has arrived (at most one chunk) into the buffer; the bytes read, 0 when nothing was waiting."""
        assert self.sock is not None
        try:
            chunk = self.sock.recv(CHUNK)
        except TimeoutError as exc:
            raise AmiError("AMI timed out") from exc
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise AmiError(str(exc)) from exc
        if not chunk:
            raise AmiError("AMI closed the connection")
        self.buf += chunk
        if len(self.buf) > MAX_BUFFER:
            raise AmiError("AMI message too long")
        return len(chunk)

    def _read_blocking(self) -> list[dict[str, str]]:
        self._recv_into()
        return parse_messages(self.buf)

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def send(self, fields: Mapping[str, str]) -> None:
        """Write one action (blocking up to the timeout while the kernel buffer is full)."""
        if self.sock is None:
            raise AmiError("not connected")
        data = encode_action(fields)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise AmiError(str(exc)) from exc
        finally:
            if self.sock is not None and self.buf is not None:
                self.sock.setblocking(False)

    def read_available(self) -> list[dict[str, str]]:
        """Every complete message that has arrived, without waiting; AmiError when the connection is gone."""
        if self.sock is None:
            raise AmiError("not connected")
        for _ in range(64):  # bounded: at most 16 MB per call
            if self._recv_into() < CHUNK:
                break
        return parse_messages(self.buf)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
