"""A ``session-core`` process under a burst of 1,000 concurrent requests on 1,000
connections (no client pool in between, unlike the service's): SQLite serialises the
writes, PostgreSQL's pool queues them, and every request is answered 200, never 5xx;
every session created is then readable, under the same concurrency."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from testkit.processes import core_process
from tests.reliability import STATS

BURST = 1000
# Only guards against a hang; nothing is asserted about how long the burst takes.
HANG_GUARD_SECONDS = 300
HEADERS = {"cdi-version": "2.21", "rid": "session"}


async def test_a_burst_of_creates_is_queued_not_failed(
    database_url: str, backend: str, tmp_path: Path
) -> None:
    with core_process(database_url, tmp_path) as url:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=HANG_GUARD_SECONDS),
        ) as http:

            async def call(method: str, path: str, **request: Any) -> tuple[int, Any]:
                async with http.request(method, url + path, headers=HEADERS, **request) as got:
                    body = await got.json() if got.status == 200 else await got.text()
                    return got.status, body

            def create(n: int) -> Any:
                body = {
                    "userId": f"burst-{n}",
                    "userDataInJWT": {"n": n},
                    "userDataInDatabase": {"n": n},
                    "enableAntiCsrf": False,
                }
                return call("POST", "/recipe/session", json=body)

            started = time.perf_counter()
            created = await asyncio.gather(*(create(n) for n in range(BURST)))
            milliseconds = round((time.perf_counter() - started) * 1000)
            statuses = Counter(status for status, _ in created)
            STATS[f"core burst requests ({backend})"] += BURST
            STATS[f"core burst ms ({backend})"] += milliseconds
            STATS["core burst 5xx answers"] += sum(
                count for status, count in statuses.items() if status >= 500
            )
            assert statuses == {200: BURST}, statuses

            handles = [body["session"]["handle"] for _, body in created]
            assert len(set(handles)) == BURST
            read = await asyncio.gather(
                *(
                    call("GET", "/recipe/session", params={"sessionHandle": handle})
                    for handle in handles
                )
            )
    assert [(status, body["userId"]) for status, body in read] == [
        (200, f"burst-{n}") for n in range(BURST)
    ]
