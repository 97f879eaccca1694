"""The revocation feed across cores on one PostgreSQL database: a removal through core A
wakes a long-poll waiting on core B at once (LISTEN/NOTIFY), with two cores in this process
and with two ``session-core serve`` processes; a cursor of one core is read by the other.

A waiting read that reaches its timeout answers without reading again, so an answer that
holds the entry shows the read was woken by it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from testkit.processes import core_process

HEADERS = {"cdi-version": "2.21", "rid": "session"}
FEED = "/recipe/session/revocations"


async def _ok(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> Any:
    r = await http.request(method, url, headers=HEADERS, **kw)
    assert r.status_code == 200, r.text
    return r.json()


async def _create(http: httpx.AsyncClient, core: str, user_id: str) -> str:
    body = {
        "userId": user_id,
        "userDataInJWT": {},
        "userDataInDatabase": {},
        "enableAntiCsrf": False,
    }
    created = await _ok(http, "POST", f"{core}/recipe/session", json=body)
    handle: str = created["session"]["handle"]
    return handle


async def _waiting(http: httpx.AsyncClient, core: str) -> float:
    """The core's count of reads waiting for news, from its /metrics."""
    text = (await http.get(f"{core}/metrics")).text
    for line in text.splitlines():
        if line.startswith("session_core_revocation_feed_waiting "):
            return float(line.split()[1])
    raise AssertionError("no session_core_revocation_feed_waiting in /metrics")


async def _until_waiting(http: httpx.AsyncClient, core: str) -> None:
    async with asyncio.timeout(30):
        while await _waiting(http, core) < 1:
            pass


def _handles(answer: dict[str, Any]) -> list[str]:
    return [e["sessionHandle"] for e in answer["revocations"]]


@pytest.fixture
async def two_cores(postgres_url: str) -> AsyncIterator[tuple[RunningCore, RunningCore]]:
    config = CoreConfig(host="127.0.0.1", port=0, database=postgres_url)
    a = await start_core(config)
    try:
        b = await start_core(config)
        try:
            yield a, b
        finally:
            await b.stop()
    finally:
        await a.stop()


async def test_a_removal_on_one_core_wakes_a_read_on_the_other(
    two_cores: tuple[RunningCore, RunningCore],
) -> None:
    a, b = two_cores
    async with httpx.AsyncClient(timeout=60) as http:
        handle = await _create(http, a.url, "crossing")
        cursor = (await _ok(http, "GET", f"{b.url}{FEED}"))["cursor"]
        read = asyncio.create_task(
            _ok(http, "GET", f"{b.url}{FEED}", params={"since": cursor, "timeout_ms": "30000"})
        )
        await b.revocation_feed.wait_for_waiting(1)
        await _ok(http, "POST", f"{a.url}/recipe/session/remove", json={"userId": "crossing"})
        answer = await read
        assert _handles(answer) == [handle]
        # B's cursor is read by A: one feed per database.
        assert (await _ok(http, "GET", f"{a.url}{FEED}", params={"since": answer["cursor"]}))[
            "revocations"
        ] == []
        assert a.revocation_feed.feed_id == b.revocation_feed.feed_id


async def test_two_core_processes_wake_each_other(postgres_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        a = stack.enter_context(core_process(postgres_url, tmp_path))
        b = stack.enter_context(core_process(postgres_url, tmp_path))
        async with httpx.AsyncClient(timeout=60) as http:
            cursor = (await _ok(http, "GET", f"{b}{FEED}"))["cursor"]
            for by_user in (False, True):
                handle = await _create(http, a, f"user-{by_user}")
                body = {"userId": f"user-{by_user}"} if by_user else {"sessionHandles": [handle]}
                params = {"since": cursor, "timeout_ms": "30000"}
                read = asyncio.create_task(_ok(http, "GET", f"{b}{FEED}", params=params))
                await _until_waiting(http, b)
                await _ok(http, "POST", f"{a}/recipe/session/remove", json=body)
                answer = await read
                assert _handles(answer) == [handle]
                cursor = answer["cursor"]
            # A long-poll still waiting when its core stops is answered at once, and the
            # core exits cleanly (core_process asserts exit status 0).
            params = {"since": cursor, "timeout_ms": "30000"}
            read = asyncio.create_task(_ok(http, "GET", f"{b}{FEED}", params=params))
            await _until_waiting(http, b)
            await asyncio.to_thread(stack.close)
            assert (await read)["revocations"] == []
