"""The station's front web server, reduced: what nginx does on a MikoPBX station in front of PHP.

On a station nginx serves the admin cabinet and Core's REST API through PHP, and its nchan module serves the
event-bus WebSocket (`/pbxcore/api/nchan/sub/...`) that Core's admin layout opens on every page (no WebSocket:
Core's connection-check dims the page with "Connection lost to PBX core"). Here one asyncio TCP server per
station listens on <station address>:8080: a WebSocket upgrade under /pbxcore/api/nchan/ is accepted and held
open (no event is ever published: the suite has no Core workers that would publish them); every other
connection is piped byte for byte to the station's `php -S` on port 8081. Loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import threading

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Frontend:
    def __init__(self, address: str, port: int, backend_port: int) -> None:
        if not address.startswith("127."):
            raise ValueError(f"refusing non-loopback address {address!r}")
        self.address, self.port, self.backend_port = address, port, backend_port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=f"frontend-{address}", daemon=True)
        self.server: asyncio.base_events.Server | None = None
        self.ready = threading.Event()
        self.websockets = 0

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError(f"frontend {self.address}:{self.port} did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, self.address, self.port))
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        def _close() -> None:
            if self.server is not None:
                self.server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.stop()
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(_close)
            self.thread.join(timeout=5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            writer.close()
            return
        first, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ":" in ln)}
        parts = first.split(" ")
        path = parts[1] if len(parts) > 1 else ""
        if path.startswith("/pbxcore/api/nchan/") and headers.get("upgrade", "").lower() == "websocket":
            await self._websocket(reader, writer, headers.get("sec-websocket-key", ""))
            return
        await self._pipe(reader, writer, head)

    async def _websocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str) -> None:
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.websockets += 1
        with contextlib.suppress(Exception):
            await writer.drain()
            while await reader.read(4096):  # the client's frames (pings, close) are read and dropped
                pass
        writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        try:
            b_reader, b_writer = await asyncio.wait_for(
                asyncio.open_connection(self.address, self.backend_port), 10)
        except (OSError, asyncio.TimeoutError):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        b_writer.write(head)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(copy(reader, b_writer), copy(b_reader, writer))
