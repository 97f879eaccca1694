"""Fixtures for the domain layer's tests: the real core, in-process, on a real socket.

``make_core`` starts ``session_core.app.start_core`` on 127.0.0.1 (SQLite from the
``sqlite_url`` fixture, time from a shared ``ManualClock``) and stops it afterwards;
``make_manager`` builds a ``SessionRecipe`` on the same clock. ``RunningCore.requests``
(requests per path) tells which calls reached the core.
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


@pytest.fixture
def domain_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_core(sqlite_url: str, domain_clock: ManualClock) -> AsyncIterator[MakeCore]:
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
async def core_node(make_core: MakeCore) -> RunningCore:
    return await make_core()


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
