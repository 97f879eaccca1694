"""Hostile requests to the HTTP edge and to Envoy's ``Check``, on a real service and core:
route options that break a JSON reader (integers past Python's digit limit, lone
surrogates in names echoed into the answer), original-request headers that disagree
(a client's own ``X-Original-Method`` next to the proxy's ``X-Forwarded-Method``), a URI
that does not parse, a user id that cannot be an HTTP header value, and malformed header
lines whose bytes hold a refresh token, SameSite=None cookies without a rid header, a
core that does not answer, and a burst of mixed requests. Each gets a typed answer, never
a 500, INTERNAL, a hang or a dropped connection, and no token reaches a log line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from session_client import SessionClient

from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from session_service.server import RunningService
from testkit.ext_authz import check_call, check_request
from tests.service.conftest import MakeService
from tests.service.harness import GatedProxy

BIG_INTEGER = "1" * 5000  # past CPython's 4300-digit limit for int("...")
BAD_OPTIONS = [
    f"[{BIG_INTEGER}]",
    json.dumps([{"includes": {"key": "a", "value": 7}}]).replace("7", BIG_INTEGER),
    '[{"\\ud800": 1}]',
    '[{"includes": {"\\udc00": 1}}]',
]
UNAUTHENTICATED, INVALID_ARGUMENT = 16, 3


@pytest.fixture
async def edge(make_service: MakeService) -> RunningService:
    return await make_service(http_port=0, anti_csrf="VIA_TOKEN")


@pytest.fixture
async def http(edge: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{edge.http_port}", timeout=10, trust_env=False
    ) as client:
        yield client


@pytest.fixture
async def edge_channel(edge: RunningService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(edge.address) as channel:
        yield channel


async def check(channel: grpc.aio.Channel, request: authz.CheckRequest) -> authz.CheckResponse:
    response: authz.CheckResponse = await check_call(channel)(request, timeout=10)
    return response


@pytest.mark.parametrize("validators", BAD_OPTIONS)
async def test_claim_validators_that_break_json_readers_are_400(
    http: httpx.AsyncClient, edge_channel: grpc.aio.Channel, validators: str
) -> None:
    response = await http.get("/verify", params={"claim_validators": validators})
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("claim_validators")
    checked = await check(edge_channel, check_request({}, claim_validators=validators))
    assert checked.status.code == INVALID_ARGUMENT
    assert checked.denied_response.status.code == 400
    assert json.loads(checked.denied_response.body)["message"].startswith("claim_validators")


async def test_a_client_method_header_cannot_override_the_proxys(
    http: httpx.AsyncClient, edge_channel: grpc.aio.Channel
) -> None:
    """Traefik and Caddy set X-Forwarded-Method and pass the client's other headers on;
    nginx sets X-Original-Method and passes a client's X-Forwarded-Method on. A client's
    copy of the other name must not turn a POST into an unchecked OPTIONS or a GET."""
    client = SessionClient(edge_channel)
    created = await client.create_session("alice")
    cookie = f"sAccessToken={created.access_token.token}"
    for spoofed in ("OPTIONS", "GET", "trace"):
        for proxy, client_copy in (
            ("x-forwarded-method", "x-original-method"),
            ("x-original-method", "x-forwarded-method"),
        ):
            for extra in ({}, {"cookie": cookie}):
                response = await http.post(
                    "/verify", headers={proxy: "POST", client_copy: spoofed, **extra}
                )
                assert response.status_code == 400, (proxy, spoofed, response.text)
                assert "x-session-user-id" not in response.headers
                assert "method" in response.json()["message"]
    # Agreeing copies (any case, repeated) are one method: POST without anti-CSRF is refused.
    agreeing = await http.post(
        "/verify",
        headers=[
            ("x-forwarded-method", "POST"),
            ("X-Original-Method", "post"),
            ("x-original-method", "POST"),
            ("cookie", cookie),
        ],
    )
    assert agreeing.status_code == 401 and agreeing.json() == {"message": "try refresh token"}
    allowed = await http.post(
        "/verify",
        headers={
            "x-forwarded-method": "POST",
            "x-original-method": "POST",
            "cookie": cookie,
            "anti-csrf": created.anti_csrf_token or "",
        },
    )
    assert allowed.status_code == 200 and allowed.headers["x-session-user-id"] == "alice"


@pytest.mark.parametrize("uri", ["//[x", "http://[::1/a", "https://[/"])
async def test_an_original_uri_that_does_not_parse_is_400(
    http: httpx.AsyncClient, uri: str
) -> None:
    response = await http.get(
        "/verify", headers={"x-original-uri": uri, "x-original-method": "GET"}
    )
    assert response.status_code == 400, response.text
    assert "uri" in response.json()["message"].lower()


@pytest.mark.parametrize("user_id", ["evil\r\nx-session-user-id: admin", "a\nb", "esc\x1b", "a\rb"])
async def test_a_user_id_that_is_no_header_value_is_never_sent_upstream(
    http: httpx.AsyncClient, edge_channel: grpc.aio.Channel, user_id: str
) -> None:
    """An application may create a session for any user id; one holding CR, LF or NUL
    cannot be an upstream header value (it would split the header in the proxy's request):
    the session is refused as unusable here, with the SDK's 401 and cookie clearing."""
    created = await SessionClient(edge_channel).create_session(user_id)
    token = created.access_token.token
    response = await http.get("/verify", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401, (response.text, response.headers)
    assert response.json() == {"message": "unauthorised"}
    assert "x-session-user-id" not in response.headers
    for _ in range(2):  # the second from Check's fast path, if it kept anything
        checked = await check(edge_channel, check_request({"cookie": f"sAccessToken={token}"}))
        assert checked.status.code == UNAUTHENTICATED
        assert checked.WhichOneof("http_response") == "denied_response"
        assert all("\n" not in o.header.value for o in checked.denied_response.headers)
    # A user id with other characters (UTF-8, quotes, tabs inside) is sent as it is.
    fine = await SessionClient(edge_channel).create_session('josé "用户"\tx')
    allowed = await http.get(
        "/verify", headers={"authorization": f"Bearer {fine.access_token.token}"}
    )
    assert allowed.status_code == 200
    sent = dict(allowed.headers.raw)[b"x-session-user-id"]
    assert sent == 'josé "用户"\tx'.encode()


@pytest.mark.parametrize(
    "line",
    [
        b"Cookie: sRefreshToken=%s\x01rest",  # an invalid character after the token
        b"Cookie: sRefreshToken=%s" + b"B" * 40_000,  # past the edge's line limit
        b"Authorization: Bearer %s\r\nBad\x01Name: x",  # a bad header after the token
    ],
)
async def test_malformed_requests_log_no_header_bytes(
    edge: RunningService,
    edge_channel: grpc.aio.Channel,
    line: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiohttp describes a request it cannot parse with the bytes around the fault: the
    edge logs that it refused one, never those bytes."""
    caplog.set_level(logging.DEBUG)
    created = await SessionClient(edge_channel).create_session("bob")
    secret = created.refresh_token.token.encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.http_port)
    head = b"POST /auth/session/refresh HTTP/1.1\r\nHost: x\r\n"
    writer.write(head + line % secret + b"\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0]
    assert any("refused" in r.getMessage() for r in caplog.records), caplog.text
    assert secret[:40].decode() not in caplog.text
    assert all(r.levelno < logging.WARNING for r in caplog.records if "refused" in r.getMessage())


async def test_same_site_none_cookies_get_the_sdks_anti_csrf_by_default(
    make_service: MakeService,
) -> None:
    """Browsers send SameSite=None cookies on cross-site requests (a form posted from
    another site): without --anti-csrf the edge then checks the rid header on cookie
    requests other than GET, as the SDK's default does."""
    service = await make_service(http_port=0, cookie_same_site="none", cookie_secure=True)
    async with grpc.aio.insecure_channel(service.address) as channel:
        created = await SessionClient(channel).create_session("alice")
    cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{service.http_port}", timeout=10, trust_env=False
    ) as http:
        cross_site = await http.post("/verify", headers=cookie)
        assert cross_site.status_code == 401, cross_site.text
        assert cross_site.json() == {"message": "try refresh token"}
        own = await http.post("/verify", headers={**cookie, "rid": "session"})
        assert own.status_code == 200 and own.headers["x-session-user-id"] == "alice"
        signed_out = await http.post("/auth/signout", headers=cookie)
        assert signed_out.status_code == 401


async def test_a_hung_core_is_answered_503_by_the_edge_and_check(
    make_service: MakeService, core_url: str
) -> None:
    """A check_database call while the core does not answer ends at the core timeout
    with the typed 503, never a hang or a 500."""
    proxy = GatedProxy(core_url, "/recipe/session/verify")
    await proxy.start()
    try:
        service = await make_service(core_url=proxy.url, http_port=0, core_timeout_seconds=0.5)
        async with grpc.aio.insecure_channel(service.address) as channel:
            created = await SessionClient(channel).create_session("frank")
            bearer = {"authorization": f"Bearer {created.access_token.token}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{service.http_port}", timeout=30, trust_env=False
            ) as http:
                hung = await http.get("/verify", params={"check_database": "true"}, headers=bearer)
                assert hung.status_code == 503, hung.text
                assert hung.json() == {"message": "session core unavailable"}
            checked = await check(channel, check_request(bearer, check_database="true"))
            assert checked.denied_response.status.code == 503
            assert proxy.arrived.is_set()
    finally:
        proxy.release.set()
        await proxy.stop()


async def test_a_burst_of_mixed_requests_gets_each_its_own_answer(
    http: httpx.AsyncClient, edge_channel: grpc.aio.Channel
) -> None:
    """Many requests at once, valid and not, on the edge and Check: each gets the answer
    its own token gives (no answer crosses to another request), none a 500."""
    client = SessionClient(edge_channel)
    users = [await client.create_session(f"user-{i}") for i in range(5)]
    call = check_call(edge_channel)

    async def edge(i: int) -> tuple[int, str | None]:
        if i % 3 == 0:
            response = await http.get("/verify", headers={"cookie": "sAccessToken=a.b.c"})
        else:
            token = users[i % 5].access_token.token
            response = await http.get("/verify", headers={"cookie": f"sAccessToken={token}"})
        return response.status_code, response.headers.get("x-session-user-id")

    async def envoy(i: int) -> tuple[int, str | None]:
        token = users[i % 5].access_token.token if i % 3 else "a.b.c"
        response = await call(check_request({"cookie": f"sAccessToken={token}"}), timeout=30)
        if response.HasField("ok_response"):
            upstream = {o.header.key: o.header.value for o in response.ok_response.headers}
            return 200, upstream["x-session-user-id"]
        return response.denied_response.status.code, None

    answers = await asyncio.gather(*(edge(i) for i in range(150)), *(envoy(i) for i in range(150)))
    expected = [(401, None) if i % 3 == 0 else (200, f"user-{i % 5}") for i in range(150)] * 2
    assert answers == expected
