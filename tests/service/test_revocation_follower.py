"""The service follows the core's revocation feed (issue 18, docs/revocation.md): a session
removed through the core's CDI endpoint directly, as another backend does it, is refused by
GetSession with no core call (counted by the core's per-path requests) and its cached
tokens are dropped; a new service loads the window; with the feed down, fail-open verifies
locally and fail-safe asks the core once the lag bound passes, and revocations made
meanwhile arrive when it is back; a second core URL takes over; more revocations than the
cap make GetSession ask the core; and a core without the feed (404) is detected once and
the service behaves as without it.

Everything is real: the project's core on a real socket (``core``, its ManualClock shared
with the service), the service in-process over gRPC, proxies in front of the core only to
take it away (``FaultProxy``) or to answer the feed's path 404 as the SuperTokens core does.
Waits are on the service's own metrics and readiness details, with timeouts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

import grpc
import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from session_client import SessionClient, SessionStatus

from session_core.app import RunningCore
from session_service.server import RunningService
from tests.faults import FaultProxy
from tests.service.conftest import MakeService
from tests.service.harness import ForwardingProxy

VERIFY = "/recipe/session/verify"
FEED = "/recipe/session/revocations"
# What a core answers to a verify with checkDatabase of a removed session (and so what
# GetSession with check_database answers).
REVOKED_MESSAGE = "Either the session has ended or has been blacklisted"
WAIT_SECONDS = 15.0


def feed_metrics(service: RunningService) -> dict[str, float]:
    """The follower's metrics by name (the state's as ``state:<name>``), and the verified
    tokens the token cache holds (``verified_tokens``)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(service.metrics.render().decode()):
        for sample in family.samples:
            if sample.name == "session_service_token_cache_entries":
                if sample.labels["kind"] == "verified":
                    found["verified_tokens"] = sample.value
            elif "revocation" not in sample.name:
                continue
            elif "state" not in sample.labels:
                found[sample.name] = sample.value
            elif sample.value == 1:
                found[f"state:{sample.labels['state']}"] = 1
    return found


async def until(what: str, condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (polled every few milliseconds) within WAIT_SECONDS."""
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"not {what} within {WAIT_SECONDS}s") from None


def state(service: RunningService) -> str:
    return service.readiness.details()["revocation_feed"]


def entries(service: RunningService) -> float:
    return feed_metrics(service)["session_service_revocation_entries"]


async def remove_through_core(core_url: str, *handles: str) -> None:
    """``POST /recipe/session/remove`` on the core itself, as an SDK backend calls it."""
    async with httpx.AsyncClient(headers={"cdi-version": "2.21", "rid": "session"}) as http:
        response = await http.post(
            f"{core_url}/recipe/session/remove", json={"sessionHandles": list(handles)}
        )
    assert response.status_code == 200
    assert response.json()["sessionHandlesRevoked"] == list(handles)


@pytest.fixture
async def client_of() -> AsyncIterator[Callable[[RunningService], SessionClient]]:
    channels: list[grpc.aio.Channel] = []

    def make(service: RunningService) -> SessionClient:
        channel = grpc.aio.insecure_channel(service.address)
        channels.append(channel)
        return SessionClient(channel)

    yield make
    for channel in channels:
        await channel.close()


async def test_a_session_removed_through_the_core_is_refused_with_no_core_call(
    make_service: MakeService,
    core: RunningCore,
    client_of: Callable[[RunningService], SessionClient],
) -> None:
    service = await make_service()
    client = client_of(service)
    await until("following", lambda: state(service) == "following")
    created = await client.create_session("alice")
    token = created.session.access_token
    other = await client.create_session("bob")
    for _ in range(3):  # verified, then kept decoded: the fast path answers the third
        assert (await client.get_session(token)).status is SessionStatus.OK
    assert feed_metrics(service)["verified_tokens"] == 1

    await remove_through_core(core.url, created.session.session_handle)
    await until("the revocation arrives", lambda: entries(service) == 1)
    # Its cached verification went with it.
    assert feed_metrics(service)["verified_tokens"] == 0

    verifies = core.requests[VERIFY]
    refused = await client.get_session(token)
    assert refused.status is SessionStatus.UNAUTHORISED
    assert refused.message == REVOKED_MESSAGE
    assert core.requests[VERIFY] == verifies
    # Not kept again either; the other session is untouched.
    assert feed_metrics(service)["verified_tokens"] == 0
    assert (await client.get_session(other.session.access_token)).status is SessionStatus.OK
    assert core.requests[VERIFY] == verifies
    assert feed_metrics(service)["session_service_revocation_feed_received_total"] == 1

    # The answer is the one check_database gets from the core, on a service without the feed.
    without = await make_service(revocation_feed=False)
    from_core = await client_of(without).get_session(token, check_database=True)
    assert (from_core.status, from_core.message) == (refused.status, refused.message)
    assert core.requests[VERIFY] == verifies + 1
    assert state(without) == "off"


async def test_a_new_service_loads_the_revocations_inside_their_window(
    make_service: MakeService,
    core: RunningCore,
    client_of: Callable[[RunningService], SessionClient],
) -> None:
    first = await make_service(revocation_feed=False)
    sessions = [await client_of(first).create_session(f"user-{n}") for n in range(3)]
    await remove_through_core(core.url, *(s.session.session_handle for s in sessions[:2]))

    service = await make_service()
    await until("following", lambda: state(service) == "following")
    assert entries(service) == 2
    client = client_of(service)
    verifies = core.requests[VERIFY]
    statuses = [(await client.get_session(s.session.access_token)).status for s in sessions]
    assert statuses == [SessionStatus.UNAUTHORISED] * 2 + [SessionStatus.OK]
    assert core.requests[VERIFY] == verifies


@pytest.mark.parametrize("failure", ["fail-open", "fail-safe"])
async def test_with_the_feed_down_fail_open_verifies_locally_and_fail_safe_asks_the_core(
    failure: str,
    make_service: MakeService,
    core: RunningCore,
    proxy: FaultProxy,
    client_of: Callable[[RunningService], SessionClient],
) -> None:
    service = await make_service(
        core_url=proxy.url,
        revocation_feed_failure=failure,
        revocation_feed_max_lag_seconds=0.5,
    )
    client = client_of(service)
    await until("following", lambda: state(service) == "following")
    kept = await client.create_session("alice")
    gone = await client.create_session("bob")
    assert (await client.get_session(kept.session.access_token)).status is SessionStatus.OK

    await proxy.go_down()  # the service's core is gone (refused connections)
    await until("down", lambda: state(service) == "down")
    await remove_through_core(core.url, gone.session.session_handle)  # meanwhile, elsewhere
    verifies = core.requests[VERIFY]
    if failure == "fail-open":
        # Tokens verify locally, as with the SDK: the revocation made meanwhile is not seen.
        for created in (kept, gone):
            result = await client.get_session(created.session.access_token)
            assert result.status is SessionStatus.OK
        assert feed_metrics(service)["session_service_revocation_feed_check_core"] == 0
    else:
        # Past the lag bound, GetSession asks the core, as check_database would: unreachable.
        await until(
            "checking with the core",
            lambda: feed_metrics(service)["session_service_revocation_feed_check_core"] == 1,
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.get_session(kept.session.access_token)
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert core.requests[VERIFY] == verifies
    assert feed_metrics(service)["session_service_revocation_feed_reconnects_total"] >= 1

    await proxy.come_back()
    await until("the revocation made meanwhile arrives", lambda: entries(service) == 1)
    await until("following again", lambda: state(service) == "following")
    refused = await client.get_session(gone.session.access_token)
    assert (refused.status, refused.message) == (SessionStatus.UNAUTHORISED, REVOKED_MESSAGE)
    assert (await client.get_session(kept.session.access_token)).status is SessionStatus.OK
    assert core.requests[VERIFY] == verifies  # local again, in both modes


async def test_the_follower_reconnects_through_the_next_core_url(
    make_service: MakeService,
    core: RunningCore,
    client_of: Callable[[RunningService], SessionClient],
) -> None:
    first, second = FaultProxy(core.url), FaultProxy(core.url)
    await first.start()
    await second.start()
    try:
        service = await make_service(core_url=f"{first.url};{second.url}")
        client = client_of(service)
        await until("following", lambda: state(service) == "following")
        created = await client.create_session("alice")
        await first.go_down()
        await remove_through_core(core.url, created.session.session_handle)
        await until("the revocation arrives through the second URL", lambda: entries(service) == 1)
        result = await client.get_session(created.session.access_token)
        assert result.status is SessionStatus.UNAUTHORISED
        assert second.forwarded[FEED] >= 1
    finally:
        await first.stop()
        await second.stop()


async def test_more_revocations_than_the_cap_make_get_session_ask_the_core(
    make_service: MakeService,
    core: RunningCore,
    client_of: Callable[[RunningService], SessionClient],
) -> None:
    service = await make_service(revocation_max_entries=1)
    client = client_of(service)
    await until("following", lambda: state(service) == "following")
    sessions = [await client.create_session(f"user-{n}") for n in range(3)]
    await remove_through_core(core.url, sessions[0].session.session_handle)
    await until("one kept", lambda: entries(service) == 1)
    verifies = core.requests[VERIFY]
    for _ in range(3):  # verified, kept decoded, answered by the fast path
        result = await client.get_session(sessions[2].session.access_token)
        assert result.status is SessionStatus.OK
    assert core.requests[VERIFY] == verifies

    await remove_through_core(core.url, sessions[1].session.session_handle)
    await until("overflow", lambda: state(service) == "overflow")
    # The one that did not fit is refused all the same: the core is asked.
    refused = await client.get_session(sessions[1].session.access_token)
    assert (refused.status, refused.message) == (SessionStatus.UNAUTHORISED, REVOKED_MESSAGE)
    assert (await client.get_session(sessions[2].session.access_token)).status is SessionStatus.OK
    assert core.requests[VERIFY] == verifies + 2


class NoFeedCore(ForwardingProxy):
    """A real HTTP hop in front of the project's core that answers the feed's path 404, as
    the SuperTokens core (which has no such path) does; every other request goes to the
    core. ``requests`` counts the requests by path."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.requests: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        if request.path == FEED:
            return web.Response(status=404, text="Not found")
        return await self.forward(request)


async def test_a_core_without_the_feed_is_detected_once_and_changes_nothing(
    make_service: MakeService,
    core: RunningCore,
    client_of: Callable[[RunningService], SessionClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    no_feed = NoFeedCore(core.url)
    await no_feed.start()
    try:
        with caplog.at_level(logging.INFO, logger="session_service.revocations"):
            # fail-safe too: without a feed there is nothing to lag behind.
            service = await make_service(core_url=no_feed.url, revocation_feed_failure="fail-safe")
            client = client_of(service)
            await until("unsupported", lambda: state(service) == "unsupported")
            created = await client.create_session("alice")
            verifies = core.requests[VERIFY]
            assert (await client.get_session(created.session.access_token)).status is (
                SessionStatus.OK
            )
            await remove_through_core(core.url, created.session.session_handle)
            # As today (and as with the SDK): the token verifies locally until it expires;
            # check_database sees the removal.
            local = await client.get_session(created.session.access_token)
            assert local.status is SessionStatus.OK
            assert core.requests[VERIFY] == verifies
            checked = await client.get_session(created.session.access_token, check_database=True)
            assert (checked.status, checked.message) == (
                SessionStatus.UNAUTHORISED,
                REVOKED_MESSAGE,
            )
        assert no_feed.requests[FEED] == 1
        metrics = feed_metrics(service)
        assert metrics["session_service_revocation_feed_check_core"] == 0
        assert metrics["session_service_revocation_feed_reconnects_total"] == 0
        told = [r for r in caplog.records if r.name == "session_service.revocations"]
        assert [r.levelno for r in told if "has none" in r.getMessage()] == [logging.INFO]
        assert not [r for r in told if r.levelno >= logging.WARNING]
    finally:
        await no_feed.stop()
