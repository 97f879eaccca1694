"""Test helpers for the service's end-to-end tests: ports, health waits, metrics scrapes,
a forwarding proxy and a gated one.

Nothing here replaces a component we own: the service and the core are always the real
ones on real sockets. ``GatedProxy`` only sits between them (a real HTTP hop) so a test can
hold one core call in flight or observe that it happened.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import httpx
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HealthWatch:
    """One ``grpc.health.v1.Health/Watch`` stream; ``wait_for`` consumes updates until the
    wanted status arrives (the server pushes every change, so no polling is needed)."""

    def __init__(self, channel: grpc.aio.Channel, service: str) -> None:
        stub = health_pb2_grpc.HealthStub(channel)
        self._call = stub.Watch(health_pb2.HealthCheckRequest(service=service))
        self.seen: list[int] = []

    async def wait_for(self, status: int, within_seconds: float = 20.0) -> None:
        async with asyncio.timeout(within_seconds):
            while not self.seen or self.seen[-1] != status:
                response = await self._call.read()
                assert response is not grpc.aio.EOF, "health Watch stream ended"
                self.seen.append(response.status)

    async def follow(self) -> None:
        """Record every update until the stream ends (run it as a task; cancel to stop)."""
        while (response := await self._call.read()) is not grpc.aio.EOF:
            self.seen.append(response.status)

    def cancel(self) -> None:
        self._call.cancel()


@asynccontextmanager
async def health_watch(channel: grpc.aio.Channel, service: str = "") -> AsyncIterator[HealthWatch]:
    watch = HealthWatch(channel, service)
    try:
        yield watch
    finally:
        watch.cancel()


async def scrape(url: str) -> Samples:
    """A Prometheus endpoint's samples, parsed by prometheus-client as Prometheus would."""
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


class ForwardingProxy:
    """A real HTTP hop on 127.0.0.1 in front of ``upstream``: every request is passed on as
    it came (bar its Host header) and the upstream's status, body and Content-Type come
    back. Subclasses override ``handle`` to observe, hold or answer a request, calling
    ``forward`` to pass it on."""

    def __init__(self, upstream: str, timeout_seconds: float = 5.0) -> None:
        self.upstream = upstream
        self._http = httpx.AsyncClient(timeout=timeout_seconds)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        return await self.forward(request)

    async def forward(self, request: web.Request, upstream: str | None = None) -> web.Response:
        """``request`` sent to ``upstream`` (by default the proxy's) and its answer."""
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        answer = await self._http.request(
            request.method,
            (upstream or self.upstream) + request.path_qs,
            content=await request.read(),
            headers=headers,
        )
        return web.Response(
            status=answer.status_code,
            body=answer.content,
            headers={"Content-Type": answer.headers.get("content-type", "text/plain")},
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._http.aclose()


class GatedProxy(ForwardingProxy):
    """A ``ForwardingProxy`` in front of a core. Requests to ``gated_path`` wait for
    ``release`` (after setting ``arrived``); everything else passes straight through."""

    def __init__(self, upstream: str, gated_path: str) -> None:
        super().__init__(upstream)
        self.gated_path = gated_path
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == self.gated_path:
            self.arrived.set()
            await self.release.wait()
        return await self.forward(request)

    async def stop(self) -> None:
        self.release.set()
        await super().stop()
