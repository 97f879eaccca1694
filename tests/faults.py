"""A fault-injecting HTTP proxy for putting a real core behind a misbehaving network.

``FaultProxy`` listens on 127.0.0.1 (optionally with TLS), reads each HTTP/1.1 request off
the socket itself and, depending on the current ``fault``, forwards it to the real core or
misbehaves: answers 500 or garbage, delays, hangs until the client gives up, closes the
connection without an answer, or cuts the core's answer off halfway. ``go_down``/``come_back``
close and reopen the listening port, so the service sees a refused connection exactly as
when the core process is gone. It is test infrastructure in front of the real core, not a
stand-in for it: every request that is not faulted is answered by the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import Counter
from enum import StrEnum

import httpx

_HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}


class Fault(StrEnum):
    NONE = "none"  # forward to the core
    SLOW = "slow"  # forward after ``delay`` seconds
    HANG = "hang"  # never answer; notice when the client closes the connection
    DROP = "drop"  # close the connection without answering
    HTTP_500 = "http_500"  # 500 Internal Error
    GARBAGE = "garbage"  # 200 with a body that is not JSON
    WRONG_JSON = "wrong_json"  # 200 with JSON of the wrong shape
    TRUNCATE = "truncate"  # forward, then send half of the core's answer and close


class FaultProxy:
    """See the module docstring. ``paths`` limits the fault to those request paths
    (None: every path). ``injected`` counts faulted requests per fault."""

    def __init__(self, upstream: str, *, server_ssl: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault = Fault.NONE
        self.paths: set[str] | None = None
        self.delay = 0.0
        self.injected: Counter[Fault] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.hung_requests_abandoned = 0
        self.hang_abandoned = asyncio.Event()
        self._ssl = server_ssl
        self._http = httpx.AsyncClient(timeout=30, trust_env=False)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    def set_fault(self, fault: Fault, *, paths: set[str] | None = None, delay: float = 0.0) -> None:
        self.fault, self.paths, self.delay = fault, paths, delay

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection, "127.0.0.1", self.port, ssl=self._ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def go_down(self) -> None:
        """Stop listening and cut every open connection: the core is gone."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def come_back(self) -> None:
        """Listen again on the same port."""
        await self.start()

    async def stop(self) -> None:
        await self.go_down()
        await self._http.aclose()

    # -- one connection ---------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections.add(writer)
        try:
            while await self._serve_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _serve_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Handle one request; False when the connection is to be closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        path = target.split("?", 1)[0]

        fault = self.fault if self.paths is None or path in self.paths else Fault.NONE
        if fault is not Fault.NONE:
            self.injected[fault] += 1
        if fault is Fault.DROP:
            return False
        if fault is Fault.HANG:
            # The service must give up (deadline) and close the connection: EOF here.
            await reader.read()
            self.hung_requests_abandoned += 1
            self.hang_abandoned.set()
            return False
        if fault is Fault.HTTP_500:
            await _respond(writer, 500, b"Internal Error\n", "text/plain")
            return True
        if fault is Fault.GARBAGE:
            await _respond(writer, 200, b"\x00\xffnot json{", "application/json")
            return True
        if fault is Fault.WRONG_JSON:
            await _respond(writer, 200, b'{"status":"OK","keys":"nope"}', "application/json")
            return True
        if fault is Fault.SLOW:
            await asyncio.sleep(self.delay)

        forwarded = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
        upstream = await self._http.request(
            method, self.upstream + target, content=body, headers=forwarded
        )
        self.forwarded[path] += 1
        extra = {k: v for k, v in upstream.headers.items() if k.lower() in ("cache-control",)}
        content_type = upstream.headers.get("content-type", "text/plain")
        if fault is Fault.TRUNCATE:
            cut = upstream.content[: len(upstream.content) // 2]
            await _respond(
                writer,
                upstream.status_code,
                cut,
                content_type,
                extra,
                content_length=len(upstream.content),
            )
            return False
        await _respond(writer, upstream.status_code, upstream.content, content_type, extra)
        return True


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str,
    extra: dict[str, str] | None = None,
    *,
    content_length: int | None = None,
) -> None:
    head = [
        f"HTTP/1.1 {status} X",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body) if content_length is None else content_length}",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
