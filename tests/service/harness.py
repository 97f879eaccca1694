"""Test helpers for the service's end-to-end tests: ports, health waits, metrics scrapes,
a gated proxy.

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


class GatedProxy:
    """An HTTP reverse proxy in front of a core. Requests to ``gated_path`` wait for
    ``release`` (after setting ``arrived``); everything else passes straight through."""

    def __init__(self, upstream: str, gated_path: str) -> None:
        self.upstream = upstream
        self.gated_path = gated_path
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self._http = httpx.AsyncClient()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _forward(self, request: web.Request) -> web.Response:
        if request.path == self.gated_path:
            self.arrived.set()
            await self.release.wait()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        upstream = await self._http.request(
            request.method,
            self.upstream + request.path_qs,
            content=await request.read(),
            headers=headers,
        )
        return web.Response(
            status=upstream.status_code,
            body=upstream.content,
            headers={"Content-Type": upstream.headers.get("content-type", "text/plain")},
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
        await self._http.aclose()
