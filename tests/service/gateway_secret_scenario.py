"""The gateway part of the log-secrets scenario: every path of the HTTP edge and of Envoy's
Check that handles a token, with the tokens they hand out added to the run's secrets:
/verify in cookie and header mode (anti-CSRF, a claim failure, forged headers, a method
conflict), the refresh API in both modes (rotation, promotion, theft), sign-out, JWKS and
discovery, requests aiohttp cannot parse whose bytes hold a token, and Check (cookie,
bearer, forged headers, a claim failure, a bad option)."""

from __future__ import annotations

import asyncio
import json

import grpc
import httpx
from session_client import SessionClient

from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from testkit.ext_authz import check_call, check_request
from tests.service.secret_scenario import Run, marker

REFRESH, SIGN_OUT = "/auth/session/refresh", "/auth/signout"


def cookies(response: httpx.Response) -> dict[str, str]:
    """The values of the cookies ``response`` sets."""
    found = {}
    for line in response.headers.get_list("set-cookie"):
        name, _, rest = line.partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def malformed_requests(port: int, refresh: str, access: str) -> None:
    """Requests aiohttp refuses while parsing, each holding a token next to the fault."""
    head = b"POST /auth/session/refresh HTTP/1.1\r\nHost: edge\r\n"
    for line in (
        f"Cookie: sRefreshToken={refresh}\x01".encode(),
        f"Cookie: sRefreshToken={refresh}".encode() + b"x" * 40_000,
        f"Authorization: Bearer {access}\r\nBad\x01Name: 1".encode(),
    ):
        answer = await raw_request(port, head + line + b"\r\n\r\n")
        assert b" 400 " in answer.split(b"\r\n", 1)[0], answer[:200]


async def edge_scenario(http: httpx.AsyncClient, client: SessionClient, run: Run) -> None:
    add = run.secrets.add
    payload = marker("edge-payload")
    add("access token payload value", payload)
    created = await client.create_session(marker("edge-user"), {"secret": payload})
    access, refresh = created.access_token.token, created.refresh_token.token
    anti_csrf = created.anti_csrf_token or ""
    add("access token", access)
    add("refresh token", refresh)
    add("anti-CSRF token", anti_csrf)
    cookie = {"cookie": f"sAccessToken={access}"}
    original = {"x-original-method": "POST", "x-original-uri": "/api?q=1"}
    assert (await http.get("/verify", headers=cookie)).status_code == 200
    assert (await http.post("/verify", headers={**original, **cookie})).status_code == 401
    allowed = await http.post(
        "/verify",
        headers={**original, **cookie, "anti-csrf": anti_csrf, "x-session-user-id": "mallory"},
    )
    assert allowed.status_code == 200
    bearer = await http.get("/verify", headers={"authorization": f"Bearer {access}"})
    assert bearer.status_code == 200
    conflict = await http.post(
        "/verify", headers={**original, **cookie, "x-forwarded-method": "GET"}
    )
    assert conflict.status_code == 400
    validators = json.dumps([{"has_value": {"key": "secret", "value": marker("expected")}}])
    claim = await http.get("/verify", params={"claim_validators": validators}, headers=cookie)
    assert claim.status_code == 403

    refreshed = await http.post(
        REFRESH, headers={"cookie": f"sRefreshToken={refresh}", "anti-csrf": anti_csrf}
    )
    assert refreshed.status_code == 200, refreshed.text
    new = cookies(refreshed)
    add("refreshed access token", new["sAccessToken"])
    add("refreshed refresh token", new["sRefreshToken"])
    add("refreshed anti-CSRF token", refreshed.headers["anti-csrf"])
    add("refreshed front token", refreshed.headers["front-token"])
    promoted = await http.get("/verify", headers={"cookie": f"sAccessToken={new['sAccessToken']}"})
    assert promoted.status_code == 200 and "front-token" in promoted.headers
    add("promoted front token", promoted.headers["front-token"])
    stolen = await http.post(
        REFRESH, headers={"cookie": f"sRefreshToken={refresh}", "anti-csrf": anti_csrf}
    )
    assert stolen.json() == {"message": "token theft detected"}

    other = await client.create_session(marker("header-user"))
    add("access token", other.access_token.token)
    add("refresh token", other.refresh_token.token)
    in_header = await http.post(
        REFRESH, headers={"authorization": f"Bearer {other.refresh_token.token}"}
    )
    assert in_header.status_code == 200
    add("refreshed access token", in_header.headers["st-access-token"])
    add("refreshed refresh token", in_header.headers["st-refresh-token"])
    add("refreshed front token", in_header.headers["front-token"])
    signed_out = await http.post(
        SIGN_OUT, headers={"authorization": f"Bearer {in_header.headers['st-access-token']}"}
    )
    assert signed_out.json() == {"status": "OK"}
    assert (await http.get("/auth/jwt/jwks.json")).status_code == 200
    assert (await http.get("/auth/.well-known/openid-configuration")).status_code == 200
    port = http.base_url.port
    assert port is not None
    await malformed_requests(port, other.refresh_token.token, other.access_token.token)


async def check_scenario(
    channel: grpc.aio.Channel, client: SessionClient, verify_key: str, run: Run
) -> None:
    add = run.secrets.add
    payload = marker("check-payload")
    add("access token payload value", payload)
    created = await client.create_session(marker("check-user"), {"secret": payload})
    token = created.access_token.token
    add("access token", token)
    add("refresh token", created.refresh_token.token)
    add("anti-CSRF token", created.anti_csrf_token)
    call = check_call(channel)
    metadata = (("x-api-key", verify_key),)

    async def check(request: authz.CheckRequest) -> authz.CheckResponse:
        response: authz.CheckResponse = await call(request, timeout=10, metadata=metadata)
        return response

    for _ in range(2):  # the whole decision, then Check's fast path
        ok = await check(
            check_request({"cookie": f"sAccessToken={token}", "x-session-handle": "x"})
        )
        assert ok.status.code == 0
    assert (await check(check_request({"authorization": f"Bearer {token}"}))).status.code == 0
    posted = await check(check_request({"cookie": f"sAccessToken={token}"}, method="POST"))
    assert posted.denied_response.status.code == 401
    validators = json.dumps([{"has_value": {"key": "secret", "value": marker("expected")}}])
    claim = await check(
        check_request({"cookie": f"sAccessToken={token}"}, claim_validators=validators)
    )
    assert claim.denied_response.status.code == 403
    bad = await check(check_request({"cookie": f"sAccessToken={token}"}, claim_validators="[1"))
    assert bad.denied_response.status.code == 400
