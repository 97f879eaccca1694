"""Fixtures for the domain layer's tests: the real core, in-process, on a real socket.

``core_node`` is a real core (``session_core.app.start_core`` on 127.0.0.1, SQLite, the
``ManualClock`` ``domain_clock``); ``make_manager`` builds a ``SessionRecipe`` on the same
clock. ``RunningCore.requests`` (requests per path, from the test's start) tells which calls
reached the core.

The tests of a module share one core (``shared_core``), which each gets as a new core would
be. A test that starts cores itself (takes ``make_core``) gets a clock, a database and cores
of its own, ``core_node`` included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from session_service.domain.api import SessionRecipe
from tests.service.domain.domain_helpers import MakeCore, MakeManager, domain_config
from tests.shared_core import SharedCore


@pytest.fixture
def domain_clock(shared_core: SharedCore | None) -> ManualClock:
    """The clock of the test's cores and managers: the test may move it."""
    return ManualClock() if shared_core is None else shared_core.clock


@pytest.fixture
async def cores(sqlite_url: str, domain_clock: ManualClock) -> AsyncIterator[MakeCore]:
    """Starts cores of the test's own on its database and clock; stops them at the end."""
    started: list[RunningCore] = []

    async def make(**overrides: Any) -> RunningCore:
        values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "database": sqlite_url}
        values.update(overrides)
        running = await start_core(CoreConfig(**values), clock=domain_clock)
        started.append(running)
        return running

    yield make
    for running in started:
        await running.stop()


@pytest.fixture
def make_core(cores: MakeCore) -> MakeCore:
    """Cores of the test's own (with overrides, or restarted on its database)."""
    return cores


@pytest.fixture
async def core_node(shared_core: SharedCore | None, cores: MakeCore) -> RunningCore:
    if shared_core is not None:
        return shared_core.running
    return await cores()


@pytest.fixture
async def make_manager(domain_clock: ManualClock) -> AsyncIterator[MakeManager]:
    managers: list[SessionRecipe] = []

    async def make(connection_uri: str, **overrides: Any) -> SessionRecipe:
        manager = SessionRecipe(domain_config(connection_uri, **overrides), clock=domain_clock)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        await manager.close()


@pytest.fixture
async def manager(make_manager: MakeManager, core_node: RunningCore) -> SessionRecipe:
    return await make_manager(core_node.url)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def fake_http_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """A tiny aiohttp server answering every path with ``handler`` (for misbehaving-core
    cases the real core never produces). Returns its base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()
