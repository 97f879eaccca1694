"""Core throughput over HTTP: create, verify with checkDatabase, refresh, per backend.

The load generator is this process (asyncio + aiohttp's client, keep-alive,
as the service's own core client); the core is a separate
``session-core serve`` process, so the two share the machine's cores as real deployments
on one host would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bench.harness import Result, core_process, database, run_load

HEADERS = {"cdi-version": "2.21", "rid": "session"}


async def _post(client: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with client.post(path, json=body) as response:
        answer: dict[str, Any] = await response.json()
        return answer


async def _create(client: aiohttp.ClientSession, user_id: str) -> dict[str, Any]:
    body = {
        "userId": user_id,
        "userDataInJWT": {"role": "user"},
        "userDataInDatabase": {},
        "enableAntiCsrf": False,
    }
    return await _post(client, "/recipe/session", body)


async def measure(url: str, backend: str, concurrency: int, seconds: float) -> list[Result]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, headers=HEADERS) as client:
        counter = iter(range(10**9))

        async def create_user() -> Callable[[], Awaitable[bool]]:
            async def create() -> bool:
                return bool((await _create(client, f"user-{next(counter)}"))["status"] == "OK")

            return create

        async def verify_user() -> Callable[[], Awaitable[bool]]:
            token = (await _create(client, f"verify-{next(counter)}"))["accessToken"]["token"]
            body = {
                "accessToken": token,
                "doAntiCsrfCheck": False,
                "enableAntiCsrf": False,
                "checkDatabase": True,
            }

            async def verify() -> bool:
                return bool((await _post(client, "/recipe/session/verify", body))["status"] == "OK")

            return verify

        async def refresh_user() -> Callable[[], Awaitable[bool]]:
            state = {
                "token": (await _create(client, f"refresh-{next(counter)}"))["refreshToken"][
                    "token"
                ]
            }

            async def refresh() -> bool:
                # Always refresh with the newest child: each call promotes the previous one.
                answer = await _post(
                    client,
                    "/recipe/session/refresh",
                    {"refreshToken": state["token"], "enableAntiCsrf": False},
                )
                if answer["status"] != "OK":
                    return False
                state["token"] = answer["refreshToken"]["token"]
                return True

            return refresh

        return [
            await run_load("core create (HTTP)", backend, concurrency, seconds, create_user),
            await run_load("core verify checkDatabase", backend, concurrency, seconds, verify_user),
            await run_load("core refresh (HTTP)", backend, concurrency, seconds, refresh_user),
        ]


async def run(backends: list[str], concurrency: int, seconds: float) -> list[Result]:
    results: list[Result] = []
    for backend in backends:
        with database(backend) as database_url, core_process(database_url) as url:
            results.extend(await measure(url, backend, concurrency, seconds))
    return results
