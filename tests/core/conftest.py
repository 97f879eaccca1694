"""Fixtures for the core's tests: a real core on a real socket, time under test control.

``core`` starts ``start_core`` on 127.0.0.1 port 0 over the parametrised ``database_url``
(SQLite and PostgreSQL, from tests/conftest.py) with a ``ManualClock``, and talks to it
with httpx over TCP. ``make_core`` does the same with config overrides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig

CDI = {"cdi-version": "2.21"}


@dataclasses.dataclass
class CoreClient:
    """A running core plus an HTTP client bound to its URL."""

    core: RunningCore
    clock: ManualClock
    http: httpx.AsyncClient
    headers: dict[str, str]

    @property
    def url(self) -> str:
        return self.core.url

    async def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return await self.http.post(path, json=body, headers={**self.headers, **kw})

    async def put(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return await self.http.put(path, json=body, headers={**self.headers, **kw})

    async def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers)

    async def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Call and require HTTP 200 JSON; return the parsed body."""
        if method == "GET":
            r = await self.get(path, body)
        elif method == "PUT":
            r = await self.put(path, body)
        else:
            r = await self.post(path, body)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["content-type"] == "application/json; charset=UTF-8"
        assert r.text.endswith("\n")
        result: dict[str, Any] = r.json()
        return result

    # -- shorthands for the session endpoints --------------------------------------------------
    async def create(
        self,
        user_id: str = "user-1",
        jwt: dict[str, Any] | None = None,
        db: dict[str, Any] | None = None,
        anti_csrf: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "userId": user_id,
            "userDataInJWT": {} if jwt is None else jwt,
            "userDataInDatabase": {} if db is None else db,
            "enableAntiCsrf": anti_csrf,
            **extra,
        }
        return await self.ok("POST", "/recipe/session", body)

    async def verify(
        self,
        token: str,
        *,
        anti_csrf: bool = False,
        check: bool = False,
        csrf_token: str | None = None,
        check_database: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "accessToken": token,
            "enableAntiCsrf": anti_csrf,
            "doAntiCsrfCheck": check,
            "checkDatabase": check_database,
        }
        if csrf_token is not None:
            body["antiCsrfToken"] = csrf_token
        return await self.ok("POST", "/recipe/session/verify", body)

    async def refresh(
        self, token: str, *, anti_csrf: bool = False, csrf_token: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"refreshToken": token, "enableAntiCsrf": anti_csrf}
        if csrf_token is not None:
            body["antiCsrfToken"] = csrf_token
        return await self.ok("POST", "/recipe/session/refresh", body)


CoreFactory = Callable[..., Awaitable[CoreClient]]


@pytest.fixture
async def make_core(database_url: str) -> AsyncIterator[CoreFactory]:
    """Start cores on the test's database; every one is stopped at teardown."""
    started: list[CoreClient] = []

    async def factory(
        *,
        clock: ManualClock | None = None,
        headers: dict[str, str] | None = None,
        url: str | None = None,
        **overrides: Any,
    ) -> CoreClient:
        config = CoreConfig(
            host="127.0.0.1",
            port=0,
            database=url or database_url,
            **overrides,
        )
        clock = clock or ManualClock()
        core = await start_core(config, clock=clock)
        http = httpx.AsyncClient(base_url=core.url, timeout=30)
        client = CoreClient(core, clock, http, dict(CDI if headers is None else headers))
        started.append(client)
        return client

    yield factory
    for client in started:
        await client.http.aclose()
        await client.core.stop()


@pytest.fixture
async def core(make_core: CoreFactory) -> CoreClient:
    return await make_core()
