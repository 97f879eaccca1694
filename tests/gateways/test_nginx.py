"""A real nginx with deploy/nginx/session.conf.template in front of an application that records
what it is sent: ``auth_request`` to the service's HTTP edge (``/verify``), ``/auth/`` routed to
the edge, sign-in by deploy/nginx/sign_in.py (CreateSession). httpx is the browser (its jar
honours Path, Expires and clearing); the service's clock is the test's, so expiry is reached
by moving it. Cookie mode (anti-CSRF VIA_TOKEN) and header mode."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from session_common.clock import ManualClock
from tests.gateways.peers import Stack, running_stack
from tests.service.conftest import MakeService

VALIDITY_MS = 3600 * 1000  # the core's default access-token validity
UPSTREAM_HEADERS = ("x-session-user-id", "x-session-handle", "x-session-payload")
FORGED = {name: "forged" for name in UPSTREAM_HEADERS}


@pytest.fixture
async def stack(
    make_service: MakeService, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with running_stack(make_service, clock, tmp_path) as running:
        yield running


@pytest.fixture
async def browser(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.nginx.url, timeout=10) as http:
        yield http


def jwt_payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def b64url_json(value: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def cleared(response: httpx.Response) -> set[str]:
    """Names of the cookies the response clears (empty value, expiry in the past)."""
    names = set()
    for line in response.headers.get_list("set-cookie"):
        name, _, rest = line.partition("=")
        if rest.startswith(";") and "Thu, 01 Jan 1970" in rest:
            names.add(name)
    return names


async def sign_in(
    browser: httpx.AsyncClient, user_id: str, roles: list[str], mode: str = "cookie"
) -> httpx.Response:
    response = await browser.post(
        "/auth/signin", json={"userId": user_id, "roles": roles}, headers={"st-auth-mode": mode}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "OK", "userId": user_id}
    return response


async def test_cookie_mode_sign_in_protected_route_and_forged_headers(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    signed_in = await sign_in(browser, "alice", ["reader"])
    access = browser.cookies["sAccessToken"]
    payload = jwt_payload(access)
    assert {"sAccessToken", "sRefreshToken"} <= set(browser.cookies.keys())
    assert b64url_json(signed_in.headers["front-token"])["uid"] == "alice"
    csrf = signed_in.headers["anti-csrf"]

    response = await browser.get("/api/hello?x=1", headers=FORGED)
    assert response.status_code == 200, response.text
    assert response.json() == {"path": "/api/hello", "userIds": ["alice"]}
    assert stack.upstream.seen[0]["path"] == "/api/hello?x=1"
    assert stack.upstream.headers(0, "x-session-user-id") == ["alice"]
    assert stack.upstream.headers(0, "x-session-handle") == [payload["sessionHandle"]]
    [sent_payload] = stack.upstream.headers(0, "x-session-payload")
    assert b64url_json(sent_payload)["st-role"]["v"] == ["reader"]
    assert "set-cookie" not in response.headers and "front-token" not in response.headers

    # A POST in cookie mode needs the anti-csrf token (VIA_TOKEN): without it, the SDK's
    # answer is "try refresh token"; the application sees nothing, body or not.
    refused = await browser.post("/api/hello", json={"n": 1})
    assert (refused.status_code, refused.json()) == (401, {"message": "try refresh token"})
    allowed = await browser.post("/api/hello", json={"n": 2}, headers={"anti-csrf": csrf})
    assert allowed.status_code == 200
    assert [seen["body"] for seen in stack.upstream.seen] == ["", '{"n":2}']


async def test_no_session_is_unauthorised_and_the_application_sees_nothing(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    response = await browser.get("/api/hello", headers=FORGED)
    assert (response.status_code, response.json()) == (401, {"message": "unauthorised"})
    assert stack.upstream.seen == []
    bad = await browser.post("/auth/signin", json={"userId": ""})  # the sign-in endpoint's 400
    assert (bad.status_code, bad.json()) == (
        400,
        {"message": 'expected {"userId": string, "roles"?: [string]}'},
    )
    assert "set-cookie" not in bad.headers
    page = await browser.get("/")  # nginx's public location: no session needed
    assert page.status_code == 200 and "/bundle.js" in page.text
    assert stack.upstream.seen == []


async def test_expiry_refresh_promotion_and_theft_in_cookie_mode(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    signed_in = await sign_in(browser, "alice", [])
    csrf = signed_in.headers["anti-csrf"]
    old_refresh = browser.cookies["sRefreshToken"]
    assert (await browser.get("/api/hello")).status_code == 200

    stack.clock.advance(VALIDITY_MS + 1000)
    expired = await browser.get("/api/hello")
    assert (expired.status_code, expired.json()) == (401, {"message": "try refresh token"})
    assert len(stack.upstream.seen) == 1

    refreshed = await browser.post("/auth/session/refresh", headers={"anti-csrf": csrf})
    assert refreshed.status_code == 200, refreshed.text
    assert browser.cookies["sRefreshToken"] != old_refresh
    refreshed_access = browser.cookies["sAccessToken"]
    assert "front-token" in refreshed.headers

    # The first use of the refreshed session promotes it: nginx passes the new access token
    # (one Set-Cookie) and front-token from /verify to the browser.
    first = await browser.get("/api/hello")
    assert first.status_code == 200 and stack.upstream.headers(1, "x-session-user-id") == ["alice"]
    [cookie] = first.headers.get_list("set-cookie")
    assert (
        cookie.startswith("sAccessToken=") and browser.cookies["sAccessToken"] != refreshed_access
    )
    assert b64url_json(first.headers["front-token"])["uid"] == "alice"
    second = await browser.get("/api/hello")
    assert second.status_code == 200 and "set-cookie" not in second.headers

    # The old refresh token used again: theft, the session revoked and the cookies cleared.
    current = {"cookie": f"sAccessToken={browser.cookies['sAccessToken']}"}
    theft = await browser.post(
        "/auth/session/refresh",
        headers={"anti-csrf": csrf, "cookie": f"sRefreshToken={old_refresh}"},
    )
    assert theft.status_code == 401 and theft.json()["message"] == "token theft detected"
    assert {"sAccessToken", "sRefreshToken"} <= cleared(theft)
    assert "sAccessToken" not in browser.cookies
    assert (await browser.get("/api/hello", headers=current)).status_code == 200  # locally valid
    strict = await browser.get("/api/strict/x", headers=current)  # asks the core: revoked
    assert (strict.status_code, strict.json()) == (401, {"message": "unauthorised"})
    assert len(stack.upstream.seen) == 4


async def test_sign_out_then_a_kept_access_token(stack: Stack, browser: httpx.AsyncClient) -> None:
    signed_in = await sign_in(browser, "alice", [])
    kept = browser.cookies["sAccessToken"]
    out = await browser.post("/auth/signout", headers={"anti-csrf": signed_in.headers["anti-csrf"]})
    assert (out.status_code, out.json()) == (200, {"status": "OK"})
    assert {"sAccessToken", "sRefreshToken"} <= cleared(out)
    assert "sAccessToken" not in browser.cookies
    response = await browser.get("/api/hello")
    assert (response.status_code, response.json()) == (401, {"message": "unauthorised"})

    # A copy of the access token still verifies locally until it expires (as with the SDK);
    # a route that asks the core refuses it, and its answer comes through nginx whole: the
    # SDK's body and every cookie it clears (more than nginx's auth_request passes on).
    copy = {"cookie": f"sAccessToken={kept}"}
    assert (await browser.get("/api/hello", headers=copy)).status_code == 200
    strict = await browser.get("/api/strict/x", headers=copy)
    assert (strict.status_code, strict.json()) == (401, {"message": "unauthorised"})
    assert {"sAccessToken", "sRefreshToken"} <= cleared(strict)
    assert strict.headers["front-token"] == "remove"
    assert [seen["path"] for seen in stack.upstream.seen] == ["/api/hello"]  # the copy's call


async def test_a_claim_failure_is_the_sdks_403(stack: Stack, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "bob", ["reader"])
    refused = await browser.get("/api/admin/report")
    assert refused.status_code == 403
    body = refused.json()
    assert body["message"] == "invalid claim"
    assert [error["id"] for error in body["claimValidationErrors"]] == ["st-role"]
    # The same path percent-encoded is the same route to nginx, and to the edge.
    assert (await browser.get("/api/%61dmin/report")).status_code == 403
    assert stack.upstream.seen == []

    await sign_in(browser, "carol", ["admin"])
    allowed = await browser.get("/api/admin/report")
    assert allowed.status_code == 200 and stack.upstream.headers(0, "x-session-user-id") == [
        "carol"
    ]


async def test_header_mode_expiry_refresh_and_promotion(
    stack: Stack, browser: httpx.AsyncClient
) -> None:
    signed_in = await sign_in(browser, "dave", [], mode="header")
    assert not browser.cookies
    access, refresh = signed_in.headers["st-access-token"], signed_in.headers["st-refresh-token"]
    bearer = {"authorization": f"Bearer {access}"}
    response = await browser.post("/api/hello", json={}, headers=bearer)  # no anti-CSRF here
    assert response.status_code == 200 and stack.upstream.headers(0, "x-session-user-id") == [
        "dave"
    ]
    # The bearer token reaches the application too: it is the client's own header.
    assert stack.upstream.headers(0, "authorization") == [f"Bearer {access}"]

    stack.clock.advance(VALIDITY_MS + 1000)
    expired = await browser.get("/api/hello", headers=bearer)
    assert (expired.status_code, expired.json()) == (401, {"message": "try refresh token"})
    refreshed = await browser.post(
        "/auth/session/refresh", headers={"authorization": f"Bearer {refresh}"}
    )
    assert refreshed.status_code == 200, refreshed.text
    new_access = refreshed.headers["st-access-token"]
    first = await browser.get("/api/hello", headers={"authorization": f"Bearer {new_access}"})
    assert first.status_code == 200
    promoted = first.headers["st-access-token"]
    assert promoted != new_access and jwt_payload(promoted)["sub"] == "dave"
    assert "front-token" in first.headers
    assert "st-access-token" in first.headers["access-control-expose-headers"]
    assert "set-cookie" not in first.headers
