"""The HTTP edge (``--http-port``) end to end: a real service and core, httpx on real
sockets. Forward authentication (``/verify`` as nginx ``auth_request`` and Traefik
``ForwardAuth`` call it) in cookie and header mode with anti-CSRF, the SDK's refresh and
sign-out APIs (rotation, theft, cookie clearing), claim failures, forged upstream headers,
JWKS and OpenId discovery, and bad input answered 400/401, never 500."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from session_client import SessionClient

from session_common.clock import ManualClock
from session_service.server import RunningService
from tests.service.conftest import MakeService
from tests.service.harness import GatedProxy

REFRESH = "/auth/session/refresh"
SIGN_OUT = "/auth/signout"


@pytest.fixture
async def edge(make_service: MakeService) -> RunningService:
    return await make_service(http_port=0, anti_csrf="VIA_TOKEN")


@pytest.fixture
async def http(edge: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    assert edge.http_port is not None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{edge.http_port}", timeout=10, trust_env=False
    ) as client:
        yield client


@pytest.fixture
async def grpc_client(edge: RunningService) -> AsyncIterator[SessionClient]:
    async with grpc.aio.insecure_channel(edge.address) as channel:
        yield SessionClient(channel)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


def cookie_value(response: httpx.Response, name: str) -> str:
    return set_cookies(response)[name].split(";", 1)[0].split("=", 1)[1]


def verify_headers(method: str, uri: str, **headers: str) -> dict[str, str]:
    return {"x-original-method": method, "x-original-uri": uri, **headers}


async def test_verify_allows_a_cookie_session_and_strips_forged_headers(
    http: httpx.AsyncClient, grpc_client: SessionClient
) -> None:
    created = await grpc_client.create_session("alice", {"role": "admin"})
    token = created.access_token.token
    response = await http.get(
        "/verify",
        headers=verify_headers(
            "GET",
            "/api/orders?x=1",
            cookie=f"sAccessToken={token}",
            **{"x-session-user-id": "mallory"},
        ),
    )
    assert response.status_code == 200, response.text
    assert response.headers.get_list("x-session-user-id") == ["alice"]
    assert response.headers["x-session-handle"] == created.session.session_handle
    raw = response.headers["x-session-payload"]
    payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert payload["role"] == "admin" and payload["sub"] == "alice"
    assert "set-cookie" not in response.headers and "front-token" not in response.headers


async def test_anti_csrf_guards_cookie_writes_but_not_header_mode(
    http: httpx.AsyncClient, grpc_client: SessionClient
) -> None:
    created = await grpc_client.create_session("alice")
    token = created.access_token.token
    assert created.anti_csrf_token is not None
    cookie = f"sAccessToken={token}"
    denied = await http.post("/verify", headers=verify_headers("POST", "/api", cookie=cookie))
    assert denied.status_code == 401 and denied.json() == {"message": "try refresh token"}
    allowed = await http.post(
        "/verify",
        headers=verify_headers(
            "POST", "/api", cookie=cookie, **{"anti-csrf": created.anti_csrf_token}
        ),
    )
    assert allowed.status_code == 200
    # Traefik's names, and a bearer token (header mode needs no anti-CSRF token).
    bearer = await http.get(
        "/verify",
        headers={
            "x-forwarded-method": "DELETE",
            "x-forwarded-uri": "/api/1",
            "authorization": f"Bearer {token}",
        },
    )
    assert bearer.status_code == 200 and bearer.headers["x-session-user-id"] == "alice"


async def test_no_session_and_optional_routes(http: httpx.AsyncClient) -> None:
    denied = await http.get("/verify", headers=verify_headers("GET", "/api"))
    assert denied.status_code == 401 and denied.json() == {"message": "unauthorised"}
    assert denied.headers["content-type"].startswith("application/json")
    optional = await http.get(
        "/verify",
        params={"session_required": "false"},
        headers=verify_headers("GET", "/", **{"x-session-user-id": "mallory"}),
    )
    assert optional.status_code == 200 and "x-session-user-id" not in optional.headers
    preflight = await http.request("OPTIONS", "/verify", headers=verify_headers("OPTIONS", "/api"))
    assert preflight.status_code == 200


async def test_expiry_refresh_promotion_and_theft(
    http: httpx.AsyncClient, grpc_client: SessionClient, clock: ManualClock
) -> None:
    created = await grpc_client.create_session("alice")
    old_refresh = created.refresh_token.token
    clock.advance(3_601_000)
    expired = await http.get(
        "/verify",
        headers=verify_headers("GET", "/api", cookie=f"sAccessToken={created.access_token.token}"),
    )
    assert expired.status_code == 401 and expired.json() == {"message": "try refresh token"}

    refreshed = await http.post(
        REFRESH,
        headers={
            "cookie": f"sRefreshToken={old_refresh}",
            "anti-csrf": created.anti_csrf_token or "",
        },
    )
    assert refreshed.status_code == 200 and refreshed.json() == {}, refreshed.text
    cookies = set_cookies(refreshed)
    assert f"Path={REFRESH}" in cookies["sRefreshToken"] and "HttpOnly" in cookies["sRefreshToken"]
    assert "Path=/;" in cookies["sAccessToken"] and "SameSite=Lax" in cookies["sAccessToken"]
    front = json.loads(base64.b64decode(refreshed.headers["front-token"]))
    assert front["uid"] == "alice"
    exposed = refreshed.headers["access-control-expose-headers"].split(",")
    assert {"front-token", "anti-csrf"} <= set(exposed)
    new_access = cookie_value(refreshed, "sAccessToken")

    promoted = await http.get(
        "/verify", headers=verify_headers("GET", "/api", cookie=f"sAccessToken={new_access}")
    )
    assert promoted.status_code == 200
    assert "sAccessToken" in set_cookies(promoted) and "front-token" in promoted.headers

    stale = {"cookie": f"sRefreshToken={old_refresh}", "anti-csrf": created.anti_csrf_token or ""}
    theft = await http.post(REFRESH, headers=stale)
    assert theft.status_code == 401 and theft.json() == {"message": "token theft detected"}
    cleared = set_cookies(theft)
    assert cleared["sAccessToken"].startswith("sAccessToken=;")
    assert cleared["sRefreshToken"].startswith("sRefreshToken=;")
    assert theft.headers["front-token"] == "remove"
    info = await grpc_client.get_session_information(created.session.session_handle)
    assert info.status.name == "SESSION_DOES_NOT_EXIST"


async def test_header_mode_refresh_and_sign_out(
    http: httpx.AsyncClient, grpc_client: SessionClient
) -> None:
    created = await grpc_client.create_session("bob")
    other = await grpc_client.create_session("carol")
    refreshed = await http.post(
        REFRESH, headers={"authorization": f"Bearer {created.refresh_token.token}"}
    )
    assert refreshed.status_code == 200
    assert "set-cookie" not in refreshed.headers
    access = refreshed.headers["st-access-token"]
    assert refreshed.headers["st-refresh-token"]

    signed_out = await http.post(SIGN_OUT, headers={"authorization": f"Bearer {access}"})
    assert signed_out.status_code == 200 and signed_out.json() == {"status": "OK"}
    assert signed_out.headers["front-token"] == "remove"
    assert signed_out.headers["st-access-token"] == ""
    gone = await grpc_client.get_session_information(created.session.session_handle)
    assert gone.status.name == "SESSION_DOES_NOT_EXIST"
    kept = await grpc_client.get_session_information(other.session.session_handle)
    assert kept.status.name == "OK"
    # No session: nothing to revoke, still OK (the SDK's sign-out API).
    nobody = await http.post(SIGN_OUT)
    assert nobody.status_code == 200 and nobody.json() == {"status": "OK"}


async def test_cookie_sign_out_clears_cookies(
    http: httpx.AsyncClient, grpc_client: SessionClient
) -> None:
    created = await grpc_client.create_session("dave")
    signed_out = await http.post(
        SIGN_OUT,
        headers={
            "cookie": f"sAccessToken={created.access_token.token}",
            "anti-csrf": created.anti_csrf_token or "",
        },
    )
    assert signed_out.status_code == 200
    cleared = set_cookies(signed_out)
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in cleared["sAccessToken"]
    assert f"Path={REFRESH}" in cleared["sRefreshToken"]
    checked = await http.get(
        "/verify",
        params={"check_database": "true"},
        headers=verify_headers("GET", "/", cookie=f"sAccessToken={created.access_token.token}"),
    )
    assert checked.status_code == 401 and checked.json() == {"message": "unauthorised"}


async def test_claim_failure_is_403(http: httpx.AsyncClient, grpc_client: SessionClient) -> None:
    created = await grpc_client.create_session("erin", {"st-role": {"v": ["user"], "t": 1}})
    validators = json.dumps([{"includes": {"key": "st-role", "value": "admin"}}])
    denied = await http.get(
        "/verify",
        params={"claim_validators": validators},
        headers=verify_headers(
            "GET", "/admin", cookie=f"sAccessToken={created.access_token.token}"
        ),
    )
    assert denied.status_code == 403
    body: dict[str, Any] = denied.json()
    assert body["message"] == "invalid claim"
    assert body["claimValidationErrors"][0]["id"] == "st-role"


async def test_jwks_and_openid_discovery(http: httpx.AsyncClient, edge: RunningService) -> None:
    jwks = await http.get("/auth/jwt/jwks.json")
    assert jwks.status_code == 200 and jwks.headers["access-control-allow-origin"] == "*"
    keys = jwks.json()["keys"]
    assert keys and {k["kty"] for k in keys} == {"RSA"}
    discovery = await http.get("/auth/.well-known/openid-configuration")
    assert discovery.status_code == 200
    issuer = edge.settings.api_domain + "/auth"
    assert discovery.json() == {
        "status": "OK",
        "issuer": issuer,
        "jwks_uri": issuer + "/jwt/jwks.json",
    }


@pytest.mark.parametrize(
    ("method", "path", "params", "headers", "status"),
    [
        ("GET", "/verify", {"session_required": "maybe"}, {}, 400),
        ("GET", "/verify", {"claim_validators": "{"}, {}, 400),
        ("GET", "/verify", {"claim_validators": '[{"includes": {"key": ""}}]'}, {}, 400),
        ("GET", "/verify", {}, {"cookie": "sAccessToken=%ZZ%; a"}, 401),
        ("GET", "/verify", {}, {"authorization": "Bearer a.b.c"}, 401),
        ("POST", REFRESH, {}, {"cookie": "sRefreshToken=garbage"}, 401),
        ("POST", REFRESH, {}, {"authorization": "Bearer"}, 401),
        ("POST", SIGN_OUT, {}, {"cookie": "sAccessToken=x.y.z"}, 200),
        ("GET", REFRESH, {}, {}, 405),
        ("GET", "/nope", {}, {}, 404),
    ],
)
async def test_bad_input_is_answered_never_500(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
) -> None:
    response = await http.request(method, path, params=params, headers=headers)
    assert response.status_code == status, response.text
    if status in (400, 401):
        assert "message" in response.json()


async def test_edge_is_off_by_default(service: RunningService) -> None:
    assert service.http_port is None


async def test_shutdown_lets_an_in_flight_verify_finish(
    make_service: MakeService, core_url: str
) -> None:
    proxy = GatedProxy(core_url, "/recipe/session/verify")
    await proxy.start()
    try:
        service = await make_service(core_url=proxy.url, http_port=0)
        async with grpc.aio.insecure_channel(service.address) as channel:
            created = await SessionClient(channel).create_session("frank")
        url = f"http://127.0.0.1:{service.http_port}/verify"
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            in_flight = asyncio.create_task(
                http.get(
                    url,
                    params={"check_database": "true"},
                    headers={"authorization": f"Bearer {created.access_token.token}"},
                )
            )
            await proxy.arrived.wait()
            stopping = asyncio.create_task(service.stop(grace=10.0))
            # The edge stops listening first (connections are refused); the request it
            # holds still gets its answer.
            port = service.http_port
            assert port is not None
            while not stopping.done():
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except ConnectionRefusedError:
                    break
                writer.close()
                await writer.wait_closed()
            assert not in_flight.done()
            proxy.release.set()
            answered = await in_flight
            await stopping
        assert answered.status_code == 200
        assert answered.headers["x-session-user-id"] == "frank"
    finally:
        await proxy.stop()


async def test_long_headers_are_read_up_to_the_limit(http: httpx.AsyncClient) -> None:
    """A cookie header with room for an 8000-byte token and more is read; past the edge's
    32 KiB limit the answer is aiohttp's 400, not a 500."""
    within = await http.get("/verify", headers={"cookie": "a=" + "x" * 20_000})
    assert within.status_code == 401 and within.json() == {"message": "unauthorised"}
    beyond = await http.get("/verify", headers={"cookie": "a=" + "x" * 40_000})
    assert beyond.status_code == 400
