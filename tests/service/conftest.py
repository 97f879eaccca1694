"""Fixtures for the gRPC service's end-to-end tests.

``core_url`` is the URL of the project's real core (``start_core``, SQLite, the
``ManualClock`` ``clock``); ``make_service`` starts the real service in-process on
127.0.0.1:0 pointed at it (the same clock, so expiry is under test control); ``client`` is
the typed client over a real channel; ``proxy`` is a ``FaultProxy`` in front of the core.
Every service started here must end with no RPC answered INTERNAL.

The tests of a module share one core (``shared_core``), which each gets as a new core would
be. A test that takes ``core`` (to stop it, read its requests or storage) gets a core of its
own on its own database and clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest
from session_client import SessionClient

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from session_service.server import RunningService, start_service
from session_service.settings import Settings
from tests.faults import FaultProxy
from tests.reliability import STATS
from tests.shared_core import SharedCore

MakeService = Callable[..., Awaitable[RunningService]]


@pytest.fixture
def clock(shared_core: SharedCore | None) -> ManualClock:
    """The clock of the test's core and services: the test may move it."""
    return ManualClock() if shared_core is None else shared_core.clock


@pytest.fixture
async def core(sqlite_url: str, clock: ManualClock) -> AsyncIterator[RunningCore]:
    """A core of the test's own."""
    running = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url), clock=clock
    )
    yield running
    await running.stop()


@pytest.fixture
def core_url(shared_core: SharedCore | None, request: pytest.FixtureRequest) -> str:
    """The URL of the test's core: the module's, or the test's own ``core``."""
    if shared_core is not None:
        return shared_core.running.url
    own: RunningCore = request.getfixturevalue("core")
    return own.url


def service_settings(core_url: str, **overrides: Any) -> Settings:
    """Settings for a test service: loopback, free port, fast readiness probes."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "core_url": core_url,
        "health_check_interval_seconds": 0.05,
        "grace_period_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def make_service(core_url: str, clock: ManualClock) -> AsyncIterator[MakeService]:
    started: list[RunningService] = []

    async def make(**overrides: Any) -> RunningService:
        overrides.setdefault("core_url", core_url)
        service = await start_service(service_settings(**overrides), clock=clock)
        started.append(service)
        return service

    yield make
    for service in started:
        await service.stop(grace=1.0)
    assert [s.servicer.internal_errors for s in started] == [0] * len(started)


@pytest.fixture
async def service(make_service: MakeService) -> RunningService:
    return await make_service()


@pytest.fixture
async def proxy(core_url: str) -> AsyncIterator[FaultProxy]:
    running = FaultProxy(core_url)
    await running.start()
    yield running
    STATS["faults injected"] += running.total_injected
    await running.stop()


@pytest.fixture
async def channel(service: RunningService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(service.address) as ch:
        yield ch


@pytest.fixture
async def client(channel: grpc.aio.Channel) -> SessionClient:
    return SessionClient(channel)


@pytest.fixture
async def core_http(core_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The core's CDI API, as another backend sharing the core uses it."""
    async with httpx.AsyncClient(
        base_url=core_url, headers={"cdi-version": "2.21"}, timeout=10
    ) as http:
        yield http
