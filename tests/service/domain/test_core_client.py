"""The core client: host failover, CDI negotiation, headers, API key, deadlines, the
connection limit, and the mapping of core failures to InvalidArgument / CoreUnavailable /
CoreSaturated / CoreIncompatible.

Misbehaviour the real core never shows (an old CDI list, 500s, garbage, hanging) comes
from a tiny aiohttp server (``fake_http_server``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from session_core.app import RunningCore
from session_service.core_client.client import CoreClient
from session_service.domain.api import (
    CoreClientConfig,
    CoreIncompatible,
    CoreSaturated,
    CoreUnavailable,
    DeadlineExceeded,
    InvalidArgument,
    SessionRecipe,
    Status,
)
from session_service.transport.metrics import ServiceMetrics
from session_service.transport.observability import CoreObserver
from tests.service.domain.domain_helpers import MakeCore, MakeManager, closed_port, core_calls

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StartServer = Callable[[Handler], Awaitable[str]]
API_KEY = "a-test-api-key-of-at-least-20-chars"


async def test_failover_skips_an_unreachable_first_host(
    make_manager: MakeManager, core_node: RunningCore
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    manager = await make_manager(f"{dead};{core_node.url}")
    for i in range(3):  # each request starts at the next host, round robin
        created = await manager.create_new_session(f"u{i}")
        assert created.session is not None
        assert (await manager.get_session(created.session.access_token)).status is Status.OK
        assert created.session.refresh_token is not None
        refreshed = await manager.refresh_session(created.session.refresh_token.token)
        assert refreshed.status is Status.OK
    assert core_calls(core_node, "/recipe/session") == 3
    assert core_calls(core_node, "/.well-known/jwks.json") == 1


async def test_no_reachable_core(make_manager: MakeManager) -> None:
    hosts = ";".join(f"http://127.0.0.1:{closed_port()}" for _ in range(2))
    manager = await make_manager(hosts)
    with pytest.raises(CoreUnavailable) as raised:
        await manager.create_new_session("u")
    assert "no session core available" in str(raised.value)
    with pytest.raises(CoreUnavailable):
        await manager.get_jwks()


async def test_cdi_negotiated_once(manager: SessionRecipe, core_node: RunningCore) -> None:
    await manager.check_core()
    for _ in range(3):
        await manager.get_all_session_handles_for_user("u")
    assert core_calls(core_node, "/apiversion") == 1


async def test_core_without_cdi_2_21_is_refused(
    make_manager: MakeManager, fake_http_server: StartServer
) -> None:
    async def old_core(request: web.Request) -> web.Response:
        return web.json_response({"versions": ["2.7", "2.8"]})

    manager = await make_manager(await fake_http_server(old_core))
    with pytest.raises(CoreIncompatible) as raised:
        await manager.check_core()
    assert "2.8" in str(raised.value) and "2.21" in str(raised.value)
    with pytest.raises(CoreIncompatible):
        await manager.create_new_session("u")


async def test_headers_sent_to_the_core(
    make_manager: MakeManager, fake_http_server: StartServer
) -> None:
    seen: dict[str, dict[str, str]] = {}

    async def recorder(request: web.Request) -> web.Response:
        seen[request.path] = {k.lower(): v for k, v in request.headers.items()}
        if request.path == "/apiversion":
            return web.json_response({"versions": ["2.8", "2.21"]})
        return web.json_response({"status": "OK", "sessionHandles": ["h"]})

    url = await fake_http_server(recorder)
    manager = await make_manager(url, core={"api_key": API_KEY})
    handles = await manager.get_all_session_handles_for_user("u")
    assert handles.session_handles == ("h",)
    version, listing = seen["/apiversion"], seen["/recipe/session/user"]
    assert version["api-key"] == API_KEY and "cdi-version" not in version
    assert listing["cdi-version"] == "2.21"
    assert listing["rid"] == "session"
    assert listing["api-key"] == API_KEY
    with pytest.raises(CoreUnavailable):
        await manager.get_jwks()  # the recorder's JWKS answer has no keys
    jwks = seen["/.well-known/jwks.json"]
    assert "api-key" not in jwks and "cdi-version" not in jwks and "rid" not in jwks


async def test_api_key(make_core: MakeCore, make_manager: MakeManager) -> None:
    core = await make_core(api_keys=(API_KEY,))
    good = await make_manager(core.url, core={"api_key": API_KEY})
    created = await good.create_new_session("u")
    assert created.session is not None
    bad = await make_manager(core.url, core={"api_key": "x" * 30})
    with pytest.raises(CoreUnavailable) as raised:
        await bad.create_new_session("u")
    assert "API key" in str(raised.value) and "x" * 30 not in str(raised.value)
    # The JWKS is public: local verification works whatever the key.
    assert (await bad.get_session(created.session.access_token)).status is Status.OK


@pytest.fixture
async def hang_release() -> AsyncIterator[asyncio.Event]:
    release = asyncio.Event()
    yield release
    release.set()


async def test_deadlines_bound_core_calls(
    make_manager: MakeManager, fake_http_server: StartServer, hang_release: asyncio.Event
) -> None:
    async def hanging(request: web.Request) -> web.Response:
        if request.path == "/apiversion":
            return web.json_response({"versions": ["2.21"]})
        await hang_release.wait()
        return web.json_response({})

    url = await fake_http_server(hanging)
    manager = await make_manager(url)
    with pytest.raises(CoreUnavailable) as raised:
        await manager.create_new_session("u", timeout=0.2)
    assert "did not answer" in str(raised.value)
    with pytest.raises(DeadlineExceeded) as passed:
        await manager.create_new_session("u", timeout=0)
    assert "deadline" in str(passed.value)
    configured = await make_manager(url, core={"timeout_seconds": 0.2})
    with pytest.raises(CoreUnavailable):
        await configured.get_session_information("h")
    hang_release.set()


def _held_listing(held: dict[str, asyncio.Event]) -> Handler:
    """A core whose session listing for user ``u`` waits for ``held[u]`` (when there is
    one); ``held[u + " arrived"]`` is set as that request arrives."""

    async def listing(request: web.Request) -> web.Response:
        if request.path == "/apiversion":
            return web.json_response({"versions": ["2.21"]})
        user = request.query["userId"]
        held.setdefault(user + " arrived", asyncio.Event()).set()
        if user in held:
            await held[user].wait()
        return web.json_response({"status": "OK", "sessionHandles": [user + "-handle"]})

    return listing


async def test_a_full_pool_is_saturation_not_an_outage(
    make_manager: MakeManager, fake_http_server: StartServer, hang_release: asyncio.Event
) -> None:
    """With every connection busy, a call waits for one within its own time and then gets
    CoreSaturated, not CoreUnavailable; the readiness probe does not wait behind it."""
    held = {"holder": hang_release, "holder arrived": asyncio.Event()}
    url = await fake_http_server(_held_listing(held))
    manager = await make_manager(url, core={"max_connections": 1})
    holder = asyncio.create_task(manager.get_all_session_handles_for_user("holder"))
    await held["holder arrived"].wait()
    waiter = asyncio.create_task(manager.get_all_session_handles_for_user("late", timeout=0.3))
    await manager.check_core()  # a probe passes while the waiter queues
    stats = manager.core_connection_stats()
    assert (stats.limit, stats.in_use, stats.waiting) == (1, 1, 1)
    with pytest.raises(CoreSaturated) as raised:
        await waiter
    assert "all 1 connections to the session core stayed busy" in str(raised.value)
    assert "late arrived" not in held  # never sent
    hang_release.set()
    assert (await holder).session_handles == ("holder-handle",)
    stats = manager.core_connection_stats()
    assert (stats.in_use, stats.waiting) == (0, 0)
    assert (await manager.get_all_session_handles_for_user("next")).session_handles == (
        "next-handle",
    )


async def test_time_lost_waiting_for_a_connection_is_not_blamed_on_the_core(
    make_manager: MakeManager, fake_http_server: StartServer, hang_release: asyncio.Event
) -> None:
    """A call that got its connection late and then ran out of time on the wire is
    CoreSaturated: its request had less than the core timeout. Without the wait, the same
    hang is the core's (CoreUnavailable, as in test_deadlines_bound_core_calls)."""
    first_done = asyncio.Event()
    held = {"first": first_done, "first arrived": asyncio.Event(), "second": hang_release}
    url = await fake_http_server(_held_listing(held))
    manager = await make_manager(url, core={"max_connections": 1})
    first = asyncio.create_task(manager.get_all_session_handles_for_user("first"))
    await held["first arrived"].wait()
    second = asyncio.create_task(manager.get_all_session_handles_for_user("second", timeout=1))
    await manager.check_core()
    assert manager.core_connection_stats().waiting == 1
    first_done.set()
    assert (await first).session_handles == ("first-handle",)
    with pytest.raises(CoreSaturated) as raised:
        await second
    assert "left after waiting for a free connection" in str(raised.value)
    assert held["second arrived"].is_set()  # sent, and the core held it
    with pytest.raises(CoreUnavailable) as hung:
        await manager.get_all_session_handles_for_user("second", timeout=0.2)
    assert "did not answer" in str(hung.value)


def stall_event_loop(seconds: float) -> None:
    """Run nothing else on the event loop for ``seconds``, as on a machine too loaded to
    run it: every timer that fell due meanwhile then fires in the same turn."""
    time.sleep(seconds)


@pytest.mark.parametrize("queued", [False, True], ids=["sent-at-once", "sent-after-a-wait"])
async def test_a_late_event_loop_counts_the_outcome_the_call_answers(
    fake_http_server: StartServer, queued: bool
) -> None:
    """A core that stops half-way through an answer, on a loaded machine whose event loop
    notices the end of the call's time late: the request is counted with the outcome the
    call answers, "timeout" with CoreUnavailable, or after a wait for a connection
    "saturated" with CoreSaturated (the call is answered RESOURCE_EXHAUSTED); never
    "cancelled", which is for callers that went away."""
    first_done, first_arrived = asyncio.Event(), asyncio.Event()
    release, started = asyncio.Event(), asyncio.Event()

    async def listing(request: web.Request) -> web.StreamResponse:
        if request.path == "/apiversion":
            return web.json_response({"versions": ["2.21"]})
        if request.query["userId"] == "first":
            first_arrived.set()
            await first_done.wait()
            return web.json_response({"status": "OK", "sessionHandles": []})
        answer = web.StreamResponse(headers={"content-type": "application/json"})
        await answer.prepare(request)
        await answer.write(b'{"status": "OK", ')  # the headers and half of the body
        started.set()
        await release.wait()  # the end of the test: the call has given up on this answer
        return answer

    metrics = ServiceMetrics()
    client = CoreClient(
        CoreClientConfig(
            connection_uri=await fake_http_server(listing),
            timeout_seconds=1.0,
            max_connections=1,
        ),
        observer=CoreObserver(metrics, None),
    )
    path = "/recipe/session/user"

    def listing_of(user: str) -> asyncio.Future[object]:
        return asyncio.ensure_future(client.get(path, {"userId": user}, deadline=None))

    try:
        if queued:
            first = listing_of("first")
            await first_arrived.wait()
            call = listing_of("held")
            await client.probe(deadline=None)  # (the call is queued meanwhile)
            assert client.connection_stats().waiting == 1
            first_done.set()
            await first
        else:
            call = listing_of("held")
        await started.wait()
        # A round trip on another connection: the call has read the headers meanwhile,
        # and waits for the rest of the body.
        await client.probe(deadline=None)
        stall_event_loop(1.0 + 0.2)  # past the call's whole time, and past any margin
        with pytest.raises(CoreSaturated if queued else CoreUnavailable):
            await call
    finally:
        release.set()
        await client.close()
    counted = {
        sample.labels["outcome"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "session_service_core_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["endpoint"] == path
    }
    assert counted == ({"200": 1, "saturated": 1} if queued else {"timeout": 1})


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, "Internal Error", "HTTP 500"),
        (503, "", "HTTP 503"),
        (404, "Not found", "HTTP 404"),
        (200, "Hello", "not a JSON object"),
        (200, "[1, 2]", "not a JSON object"),
        (200, '{"status": "OK"}', "malformed"),
        (200, '{"status": "SURPRISE"}', "malformed"),
        (400, "Invalid Json Input", "HTTP 400"),
    ],
)
async def test_unusable_answers_are_core_unavailable(
    make_manager: MakeManager,
    fake_http_server: StartServer,
    status: int,
    body: str,
    message: str,
) -> None:
    async def broken(request: web.Request) -> web.Response:
        if request.path == "/apiversion":
            return web.json_response({"versions": ["2.21"]})
        return web.Response(status=status, text=body)

    manager = await make_manager(await fake_http_server(broken))
    with pytest.raises(CoreUnavailable) as raised:
        await manager.create_new_session("u")
    assert message in str(raised.value)


async def test_core_rejections_name_the_request_field(
    manager: SessionRecipe,
) -> None:
    secret = "do-not-echo-this-value"
    cases: list[tuple[Callable[[], Awaitable[Any]], str]] = [
        (lambda: manager.create_new_session("u", {"sub": secret}), "access_token_payload"),
        (lambda: manager.create_new_session("u" * 200), "user_id"),
    ]
    created = await manager.create_new_session("u")
    assert created.session is not None
    handle = created.session.session_handle
    token = created.session.access_token
    cases += [
        (
            lambda: manager.merge_into_access_token_payload(handle, {"exp": secret}),
            "access_token_payload_update",
        ),
        (
            lambda: manager.regenerate_access_token(token, {"iat": secret}),
            "new_access_token_payload",
        ),
        (lambda: manager.create_jwt({}, validity_seconds=0), "validity_seconds"),
        (lambda: manager.create_new_session(""), "user_id"),
        (lambda: manager.revoke_session(""), "session_handle"),
        (lambda: manager.create_new_session("u", {"n": float("nan")}), "access_token_payload"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidArgument) as raised:
            await call()
        assert raised.value.field == field
        assert secret not in str(raised.value)
    # Nothing was stored by the refused calls.
    info = await manager.get_session_information(handle)
    assert info.info is not None and "exp" not in info.info.custom_claims_in_access_token_payload


async def test_jwks_fetch_falls_through_to_the_next_host(
    make_manager: MakeManager, core_node: RunningCore, fake_http_server: StartServer
) -> None:
    async def no_jwks(request: web.Request) -> web.Response:
        return web.Response(status=500, text=json.dumps({"keys": []}))

    broken = await fake_http_server(no_jwks)
    manager = await make_manager(f"{broken};{core_node.url}")
    jwks = await manager.get_jwks()
    assert {k.kid for k in jwks.keys} == {k.kid for k in core_node.signing_keys.verification_keys()}
