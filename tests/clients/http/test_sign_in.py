"""Signing in: tokens in headers by default, or cookies with their exact ``Set-Cookie``
strings (secure, with a domain, exposing the access token), SameSite=none refused outside
localhost without https, and the other method's tokens cleared."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from session_client import SessionClient
from session_client.http import HUNDRED_YEARS_MS, HttpConfig

from session_common.clock import ManualClock
from tests.clients.http.exchange import (
    ATTRS,
    CLEARED_COOKIES,
    REFRESH_VALIDITY_MS,
    cookies_of,
    error,
    http_date,
    http_sessions,
    ok,
    request,
    set_cookies,
    sign_in_with_cookies,
)


async def test_sign_in_sends_headers_by_default_without_anti_csrf(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    created = await sessions.create_new_session(request("POST"), "alice", {"role": "admin"})
    session = created.value
    assert session.transfer_method == "header"
    assert session.user_id == "alice"
    assert session.access_token_payload["role"] == "admin"
    headers = created.response.headers
    assert set(headers) == {
        "front-token",
        "st-access-token",
        "st-refresh-token",
        "access-control-expose-headers",
    }
    assert headers["front-token"] == session.session.front_token
    assert headers["st-access-token"] == session.session.access_token
    assert headers["access-control-expose-headers"] == (
        "front-token, st-access-token, st-refresh-token"
    )
    assert created.response.cookies == ()
    # Header mode sent no anti-CSRF token, and a POST needs none.
    verified = ok(
        await sessions.get_session(
            request("POST", authorization=f"Bearer {headers['st-access-token']}")
        )
    )
    assert verified.session_handle == session.session_handle
    refreshed = ok(
        await sessions.refresh_session(
            request("POST", authorization=f"Bearer {headers['st-refresh-token']}")
        )
    )
    assert refreshed.transfer_method == "header"


async def test_sign_in_with_cookies_exact_set_cookie_strings(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    session, response = await sign_in_with_cookies(sessions)
    assert session.transfer_method == "cookie"
    cookies = cookies_of(response)
    assert cookies["sAccessToken"] == session.session.access_token
    now = clock.now_ms()
    assert set_cookies(response) == [
        f"sAccessToken={quote(cookies['sAccessToken'])}; Path=/;"
        f" Expires={http_date(now + HUNDRED_YEARS_MS)}; {ATTRS}",
        # Refresh tokens hold "+" and "/": URL-encoded as the SDK does (quote, "/" kept).
        f"sRefreshToken={quote(cookies['sRefreshToken'])}; Path=/auth/session/refresh;"
        f" Expires={http_date(now + REFRESH_VALIDITY_MS)}; {ATTRS}",
    ]
    headers = response.headers
    assert set(headers) == {"front-token", "anti-csrf", "access-control-expose-headers"}
    assert headers["anti-csrf"]
    assert headers["access-control-expose-headers"] == "front-token, anti-csrf"

    # Cookie mode: a GET needs no anti-CSRF token and sets nothing; a POST needs it.
    cookie_header = f"sAccessToken={cookies['sAccessToken']}"
    plain = await sessions.get_session(request("GET", cookie=cookie_header))
    assert ok(plain).transfer_method == "cookie"
    assert plain.response.header_items() == []
    missing = error(await sessions.get_session(request("POST", cookie=cookie_header)))
    assert (missing.http_status, missing.body) == (401, {"message": "try refresh token"})
    assert missing.response.header_items() == []
    wrong = await sessions.get_session(request("POST", cookie=cookie_header, anti_csrf="not-it"))
    assert error(wrong).body == {"message": "try refresh token"}
    right = await sessions.get_session(
        request("POST", cookie=cookie_header, anti_csrf=headers["anti-csrf"])
    )
    assert ok(right).session_handle == session.session_handle
    unchecked = await sessions.get_session(
        request("POST", cookie=cookie_header), anti_csrf_check=False
    )
    assert ok(unchecked).user_id == "alice"


async def test_secure_cookies_with_a_domain_and_the_token_exposed(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(
        via_token,
        clock,
        cookie_secure=True,
        cookie_same_site="none",
        cookie_domain=".example.com",
        refresh_token_path="/api/refresh",
        expose_access_token_to_frontend_in_cookie_based_auth=True,
    )
    session, response = await sign_in_with_cookies(sessions)
    access, refresh = set_cookies(response)
    assert access.endswith(
        f"; Path=/; Expires={http_date(clock.now_ms() + HUNDRED_YEARS_MS)};"
        " Domain=.example.com; HttpOnly; Secure; SameSite=None"
    )
    assert "; Path=/api/refresh; " in refresh
    # The frontend may read the access token although it travels in a cookie.
    assert response.headers["st-access-token"] == session.session.access_token
    assert response.headers["access-control-expose-headers"] == (
        "front-token, st-access-token, anti-csrf"
    )


async def test_insecure_same_site_none_is_refused_outside_localhost(
    via_token: SessionClient, clock: ManualClock
) -> None:
    cross_site = http_sessions(
        via_token,
        clock,
        cookie_same_site="none",
        api_domain="https://api.example.com",
        website_domain="https://example.com",
    )
    with pytest.raises(ValueError, match="please use https on your apiDomain"):
        await sign_in_with_cookies(cross_site)
    local = http_sessions(
        via_token,
        clock,
        cookie_same_site="none",
        api_domain="http://localhost:3001",
        website_domain="http://127.0.0.1:3000",
    )
    session, _ = await sign_in_with_cookies(local)
    assert session.transfer_method == "cookie"
    with pytest.raises(ValueError, match="cookie same site"):
        HttpConfig(cookie_same_site="sideways")  # type: ignore[arg-type]


async def test_sign_in_clears_the_tokens_of_the_other_method(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    created = await sessions.create_new_session(
        request("POST", cookie="sAccessToken=old-token"), "bob"
    )
    assert created.value.transfer_method == "header"
    assert set_cookies(created.response) == CLEARED_COOKIES
    # Cleared first, then the new session's front token replaces "remove".
    assert created.response.headers["front-token"] == created.value.session.front_token
    assert created.response.headers["st-access-token"] == created.value.session.access_token
