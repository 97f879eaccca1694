"""Faults between the service and the real core, injected by ``tests.faults.FaultProxy``:
the core down, slow, hanging, answering 500 or garbage, dropping connections or cutting
answers off; the JWKS unreachable at startup. Every call gets a defined status (never
INTERNAL/UNKNOWN), tokens already issued keep verifying from the cached keys, health tells
the truth throughout, and everything recovers by itself once the fault is gone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_service.server import RunningService
from tests.faults import Fault, FaultProxy
from tests.reliability import STATS
from tests.service.conftest import MakeService
from tests.service.harness import NOT_SERVING, SERVING, health_watch

JWKS = "/.well-known/jwks.json"


async def _code(call: Callable[[], Awaitable[Any]]) -> grpc.StatusCode:
    try:
        await call()
    except grpc.aio.AioRpcError as exc:
        STATS["INTERNAL or UNKNOWN answers"] += exc.code() in (
            grpc.StatusCode.INTERNAL,
            grpc.StatusCode.UNKNOWN,
        )
        return exc.code()
    STATS["INTERNAL or UNKNOWN answers"] += 0
    return grpc.StatusCode.OK


FAULTS = [
    pytest.param(Fault.DROP, {}, id="connection-dropped"),
    pytest.param(Fault.HTTP_500, {}, id="http-500"),
    pytest.param(Fault.GARBAGE, {}, id="garbage-body"),
    pytest.param(Fault.WRONG_JSON, {}, id="json-of-the-wrong-shape"),
    pytest.param(Fault.TRUNCATE, {}, id="answer-cut-off"),
    pytest.param(Fault.SLOW, {"delay": 2.0}, id="slower-than-core-timeout"),
    pytest.param(None, {}, id="core-down"),
]


@pytest.mark.parametrize(("fault", "options"), FAULTS)
async def test_fault_gives_defined_statuses_and_recovers(
    make_service: MakeService, proxy: FaultProxy, fault: Fault | None, options: dict[str, Any]
) -> None:
    service = await make_service(core_url=proxy.url, core_timeout_seconds=0.5)
    async with (
        SessionClient.insecure(service.address) as client,
        grpc.aio.insecure_channel(service.address) as channel,
        health_watch(channel) as watch,
    ):
        await watch.wait_for(SERVING)
        before = await client.create_session("before-the-fault")
        token = before.session.access_token
        assert (await client.get_session(token)).status is SessionStatus.OK  # keys cached

        if fault is None:
            await proxy.go_down()
            STATS["faults injected"] += 1
        else:
            proxy.set_fault(fault, **options)
        await watch.wait_for(NOT_SERVING)

        unavailable = [
            lambda: client.create_session("during-the-fault"),
            lambda: client.refresh_session(before.refresh_token.token),
            lambda: client.get_session(token, check_database=True),
            lambda: client.get_session_information(before.session.session_handle),
            lambda: client.get_all_session_handles_for_user("before-the-fault"),
            lambda: client.create_jwt({"a": 1}),
        ]
        for call in unavailable:
            assert await _code(call) is grpc.StatusCode.UNAVAILABLE
        # Issued tokens keep verifying locally from the cached keys.
        assert (await client.get_session(token)).status is SessionStatus.OK
        assert (await client.get_jwks()).keys

        if fault is None:
            await proxy.come_back()
        else:
            proxy.set_fault(Fault.NONE)
        await watch.wait_for(SERVING)
        # Nothing was lost or half-done: the session refreshes, and new ones can be made.
        refreshed = await client.refresh_session(before.refresh_token.token)
        assert refreshed.status is SessionStatus.OK
        after = await client.create_session("after-the-fault")
        assert (await client.get_session(after.session.access_token)).status is SessionStatus.OK
    assert watch.seen == [NOT_SERVING, SERVING, NOT_SERVING, SERVING] or watch.seen == [
        SERVING,
        NOT_SERVING,
        SERVING,
    ]
    if fault is not None:
        assert proxy.injected[fault] > 0


async def test_hanging_core_is_bounded_by_the_callers_deadline(
    make_service: MakeService, proxy: FaultProxy
) -> None:
    """The caller's deadline is carried into the core call: the service gives the hung
    request up (the proxy sees the connection closed) instead of holding it for the
    configured 30 s core timeout."""
    service = await make_service(core_url=proxy.url, core_timeout_seconds=30.0)
    async with (
        SessionClient.insecure(service.address) as client,
        SessionClient.insecure(service.address, timeout=0.5) as hurried,
    ):
        created = await client.create_session("u")
        proxy.set_fault(Fault.HANG, paths={"/recipe/session"})
        # Whichever side notices first: the service's bounded core call or the client.
        assert await _code(lambda: hurried.create_session("v")) in (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.UNAVAILABLE,
        )
        await proxy.hang_abandoned.wait()
        # Other paths were never affected.
        handles = await client.get_all_session_handles_for_user("u")
        assert handles.session_handles == (created.session.session_handle,)
        proxy.set_fault(Fault.NONE)
        assert (await client.create_session("w")).session.user_id == "w"
    assert proxy.hung_requests_abandoned == 1


async def test_jwks_unreachable_at_startup(
    make_service: MakeService, proxy: FaultProxy, clock: ManualClock
) -> None:
    proxy.set_fault(Fault.HTTP_500, paths={JWKS})
    service = await make_service(core_url=proxy.url)
    async with (
        SessionClient.insecure(service.address) as client,
        grpc.aio.insecure_channel(service.address) as channel,
        health_watch(channel) as watch,
    ):
        await watch.wait_for(NOT_SERVING)  # the core answers, but there are no keys
        created = await client.create_session("u")  # sessions need the core, not the keys
        token = created.session.access_token
        assert await _code(lambda: client.get_session(token)) is grpc.StatusCode.UNAVAILABLE
        assert await _code(client.get_jwks) is grpc.StatusCode.UNAVAILABLE

        proxy.set_fault(Fault.NONE)
        clock.advance(1_000)  # past the refetch cooldown
        assert (await client.get_session(token)).status is SessionStatus.OK
        await watch.wait_for(SERVING)
    assert watch.seen == [NOT_SERVING, SERVING]


async def test_jwks_outage_serves_cached_keys_until_max_stale(
    make_service: MakeService, proxy: FaultProxy, clock: ManualClock
) -> None:
    service: RunningService = await make_service(
        core_url=proxy.url, jwks_max_age_seconds=60, jwks_max_stale_seconds=600
    )
    async with (
        SessionClient.insecure(service.address) as client,
        grpc.aio.insecure_channel(service.address) as channel,
        health_watch(channel) as watch,
    ):
        created = await client.create_session("u")
        token = created.session.access_token
        assert (await client.get_session(token)).status is SessionStatus.OK
        await watch.wait_for(SERVING)
        proxy.set_fault(Fault.GARBAGE, paths={JWKS})
        clock.advance(300_000)  # stale, within max-stale: still verifying
        assert (await client.get_session(token)).status is SessionStatus.OK
        clock.advance(400_000)  # past max-stale: no usable keys, and health says so
        assert await _code(lambda: client.get_session(token)) is grpc.StatusCode.UNAVAILABLE
        await watch.wait_for(NOT_SERVING)
        proxy.set_fault(Fault.NONE)
        clock.advance(1_000)
        assert (await client.get_session(token)).status is SessionStatus.OK
        await watch.wait_for(SERVING)
