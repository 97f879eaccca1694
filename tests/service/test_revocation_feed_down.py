"""The revocation feed down (issue 18, "Proven"): two ``session-core serve`` processes on
one PostgreSQL database; a fail-open and a fail-safe replica follow core A's feed, and core A
stops. The fail-open replica keeps verifying tokens locally (the SDK's behaviour); the
fail-safe one verifies locally until the lag bound has passed, then checks every token with
the core as ``check_database`` would, which with its core down is the service's answer to
an unreachable core (UNAVAILABLE). Sessions revoked meanwhile through core B reach both
replicas once core A is back on its address, and GetSession is local again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from tests.service.revocation_cluster import (
    Core,
    Replica,
    assert_feed_served,
    running_replica,
    session_calls_during,
    start_core,
    statuses,
)

pytestmark = pytest.mark.slow

LAG_SECONDS = 3.0
FOLLOWING = "following"
# Far beyond the follower's reconnection backoff: the feed is back, or it is broken.
CATCH_UP_SECONDS = 30.0
REVOKED_WHILE_DOWN = 5


async def _unavailable(client: SessionClient, token: str) -> bool:
    """Whether GetSession answers UNAVAILABLE (the core it must ask cannot be reached);
    False for OK. Anything else fails the test."""
    try:
        answer = await client.get_session(token)
    except grpc.aio.AioRpcError as error:
        assert error.code() is grpc.StatusCode.UNAVAILABLE, error
        return True
    assert answer.status is SessionStatus.OK, answer
    return False


async def _refused(client: SessionClient, token: str, since: float) -> float:
    """Seconds from ``since`` to the first UNAUTHORISED for ``token``; UNAVAILABLE (a
    fail-safe replica whose core connection is coming back) and OK count as not yet."""
    while (waited := time.monotonic() - since) < CATCH_UP_SECONDS:
        with contextlib.suppress(grpc.aio.AioRpcError):
            answer = await client.get_session(token)
            if answer.status is SessionStatus.UNAUTHORISED:
                return time.monotonic() - since
            assert answer.status is SessionStatus.OK, answer
        await asyncio.sleep(0.02)
    raise AssertionError(f"not refused {waited:.1f} s after core A returned")


async def _local_for(replicas: list[Replica], tokens: list[str], seconds: float) -> None:
    """Every token OK on every replica, again and again for ``seconds``."""
    clients = [client for replica in replicas for client in replica.clients]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for label, answers in (await statuses(clients, tokens)).items():
            assert dict(answers) == {SessionStatus.OK: len(tokens)}, (label, answers)
        await asyncio.sleep(0.05)


@asynccontextmanager
async def _cores(database_url: str, tmp_path: Path) -> AsyncIterator[Callable[[], list[Core]]]:
    """Core A and core B on one database; yields what answers the cores running now (core A
    is replaced when it restarts)."""
    cores = [
        await start_core(database_url, tmp_path / "core-a"),
        await start_core(database_url, tmp_path / "core-b"),
    ]
    try:
        yield lambda: cores
    finally:
        for core in cores:
            if core.process.process.returncode is None:
                await core.stop()
            await core.process.close()


async def test_feed_down_fail_open_keeps_verifying_fail_safe_asks_the_core_then_catch_up(
    postgres_url: str, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        cores = await stack.enter_async_context(_cores(postgres_url, tmp_path))
        core_a, core_b = cores()
        await assert_feed_served(core_a)
        lag = ("--revocation-feed-max-lag-seconds", str(LAG_SECONDS))
        fail_open = await stack.enter_async_context(
            running_replica(
                "fail-open",
                core_a.url,
                tmp_path / "open",
                "--revocation-feed-failure",
                "fail-open",
                *lag,
                metrics=True,
            )
        )
        fail_safe = await stack.enter_async_context(
            running_replica(
                "fail-safe",
                core_a.url,
                tmp_path / "safe",
                "--revocation-feed-failure",
                "fail-safe",
                *lag,
                metrics=True,
            )
        )
        replicas = [fail_open, fail_safe]
        live = (await fail_open.client.create_session("stays", {})).session.access_token
        doomed = {}
        for n in range(REVOKED_WHILE_DOWN):
            created = await fail_safe.client.create_session(f"doomed-{n}", {})
            doomed[created.session.session_handle] = created.session.access_token
        tokens = [live, *doomed.values()]

        # The feed is current: over more than the lag bound, no GetSession of either
        # replica (fail-safe included) asks a core anything.
        for replica in replicas:
            await replica.wait_for_feed_state(FOLLOWING)
        moved = await session_calls_during(
            cores(), lambda: _local_for(replicas, tokens, LAG_SECONDS * 1.5)
        )
        assert moved == {}

        # Core A stops. The fail-safe replica still verifies locally first, and asks the
        # core (unreachable: UNAVAILABLE) once the lag bound has passed.
        stopping = time.monotonic()
        core_a.process.process.terminate()
        assert not await _unavailable(fail_safe.client, live)
        answered_locally = time.monotonic() - stopping
        while not await _unavailable(fail_safe.client, live):
            assert time.monotonic() - stopping < LAG_SECONDS + 10, "fail-safe never asked the core"
            await asyncio.sleep(0.02)
        switched = time.monotonic() - stopping
        # The feed last answered at most one poll (half the bound) before the SIGTERM.
        assert switched >= LAG_SECONDS / 2, switched
        assert await core_a.process.exit_code() == 0, core_a.process.log
        print(
            f"\nfail-safe: local {answered_locally * 1000:.0f} ms after core A's SIGTERM, "
            f"asks the core from {switched:.2f} s (lag bound {LAG_SECONDS} s)"
        )
        # Past the bound, the fail-open replica still verifies every token locally.
        await _local_for([fail_open], tokens, 0.5)
        for replica in replicas:
            assert await replica.feed_state() != FOLLOWING

        # Revoked through core B while core A is down: the fail-open replica cannot know
        # (as with the SDK); the fail-safe one refuses to answer without its core.
        answer = await core_b.post("/recipe/session/remove", {"sessionHandles": list(doomed)})
        assert sorted(answer["sessionHandlesRevoked"]) == sorted(doomed)
        await _local_for([fail_open], tokens, 0.2)
        for token in doomed.values():
            assert await _unavailable(fail_safe.client, token)

        # Core A back on its address: the revocations made meanwhile arrive on both.
        restarted_core = await start_core(postgres_url, tmp_path / "core-a", port=core_a.port)
        cores()[0] = restarted_core
        returned = time.monotonic()
        caught_up = []
        for replica in replicas:
            for token in doomed.values():
                caught_up.append(await _refused(replica.client, token, returned))
            await replica.wait_for_feed_state(FOLLOWING, CATCH_UP_SECONDS)
        print(f"revoked while core A was down: refused {max(caught_up):.2f} s after it returned")

        # And GetSession is local again on both: no core call, live OK, revoked refused.
        async def check() -> None:
            for replica in replicas:
                assert (await replica.client.get_session(live)).status is SessionStatus.OK
                for token in doomed.values():
                    refused = await replica.client.get_session(token)
                    assert refused.status is SessionStatus.UNAUTHORISED, replica.name

        assert await session_calls_during(cores(), check) == {}
