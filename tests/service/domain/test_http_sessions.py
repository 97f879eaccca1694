"""The HTTP session decision (http_sessions.py) against the real core: token transfer
(cookie, header, ``st-auth-mode``-free reading), anti-CSRF in both modes, the SDK's answers
(try refresh, unauthorised with cookie clearing, invalid claim), promotion, refresh with
rotation and theft, sign-out, forged upstream headers, route options and bad input."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_service.domain.api import (
    ClaimValidatorKind,
    ClaimValidatorSpec,
    InvalidArgument,
    Session,
    SessionRecipe,
    Status,
)
from session_service.domain.http_sessions import HttpSessions, route_options
from session_service.domain.http_types import (
    Allowed,
    HttpAnswer,
    HttpConfig,
    HttpRequest,
    RouteOptions,
    UpstreamHeaders,
)
from tests.service.domain.domain_helpers import MakeManager, created_session

REFRESH_PATH = "/auth/session/refresh"


def http(manager: SessionRecipe, clock: ManualClock, **config: Any) -> HttpSessions:
    return HttpSessions(manager, HttpConfig(**config), clock.now_ms)


def request(method: str = "GET", *headers: tuple[str, str], path: str = "/api") -> HttpRequest:
    return HttpRequest(method, path, headers)


def cookie_request(session: Session, method: str = "GET", *extra: tuple[str, str]) -> HttpRequest:
    return request(method, ("cookie", f"other=1; sAccessToken={session.access_token}"), *extra)


def bearer(token: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {token}")


def headers_of(result: Allowed | HttpAnswer) -> dict[str, list[str]]:
    pairs = result.response_headers if isinstance(result, Allowed) else result.headers
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        found.setdefault(name, []).append(value)
    return found


def body(result: Allowed | HttpAnswer) -> Any:
    assert isinstance(result, HttpAnswer)
    return json.loads(result.body)


def cookies(result: Allowed | HttpAnswer) -> dict[str, str]:
    """Set-Cookie lines by cookie name."""
    return {line.split("=", 1)[0]: line for line in headers_of(result).get("set-cookie", [])}


async def test_cookie_and_header_tokens_are_allowed_with_upstream_headers(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock)
    session = await created_session(manager, access_token_payload={"role": "admin"})
    for req, method in (
        (cookie_request(session), "cookie"),
        (request("GET", bearer(session.access_token)), "header"),
    ):
        allowed = await sessions.verify(req)
        assert isinstance(allowed, Allowed), allowed
        assert allowed.transfer_method == method
        upstream = dict(allowed.upstream_headers)
        assert upstream["x-session-user-id"] == "user-1"
        assert upstream["x-session-handle"] == session.session_handle
        raw = upstream["x-session-payload"]
        assert "=" not in raw
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        assert payload["role"] == "admin" and payload["sub"] == "user-1"
        assert set(allowed.remove_upstream_headers) == set(upstream)
        assert allowed.response_headers == ()


async def test_header_token_wins_and_a_stray_bearer_token_does_not_hide_the_cookie(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock)
    session = await created_session(manager)
    other = await created_session(manager, "user-2")
    both = cookie_request(session, "GET", bearer(other.access_token))
    allowed = await sessions.verify(both)
    assert isinstance(allowed, Allowed) and allowed.session is not None
    assert allowed.session.user_id == "user-2"
    stray = cookie_request(session, "GET", bearer("not-a-session-token"))
    allowed = await sessions.verify(stray)
    assert isinstance(allowed, Allowed) and allowed.session is not None
    assert allowed.session.user_id == "user-1"
    only_cookies = http(manager, domain_clock, token_transfer_method="cookie")
    allowed = await only_cookies.verify(both)
    assert isinstance(allowed, Allowed) and allowed.session is not None
    assert allowed.session.user_id == "user-1"


async def test_no_session_is_unauthorised_without_clearing_or_allowed_when_optional(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock)
    denied = await sessions.verify(request("GET", ("x-session-user-id", "forged")))
    assert isinstance(denied, HttpAnswer)
    assert denied.status is Status.UNAUTHORISED and denied.http_status == 401
    assert body(denied) == {"message": "unauthorised"}
    assert "set-cookie" not in headers_of(denied)
    allowed = await sessions.verify(request("GET"), RouteOptions(session_required=False))
    assert isinstance(allowed, Allowed) and allowed.session is None
    assert allowed.upstream_headers == ()
    assert "x-session-user-id" in allowed.remove_upstream_headers
    preflight = await sessions.verify(request("OPTIONS"))
    assert isinstance(preflight, Allowed) and preflight.session is None


async def test_expired_token_asks_for_refresh_with_the_configured_status(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    session = await created_session(manager)
    domain_clock.advance(3_601_000)
    for code in (401, 440):
        sessions = http(manager, domain_clock, session_expired_status_code=code)
        denied = await sessions.verify(cookie_request(session))
        assert isinstance(denied, HttpAnswer)
        assert denied.status is Status.TRY_REFRESH_TOKEN and denied.http_status == code
        assert body(denied) == {"message": "try refresh token"}
        assert "set-cookie" not in headers_of(denied)


async def test_revoked_session_is_unauthorised_and_clears_tokens(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock, cookie_domain=".example.com", cookie_secure=True)
    session = await created_session(manager)
    await manager.revoke_session(session.session_handle)
    denied = await sessions.verify(cookie_request(session), RouteOptions(check_database=True))
    assert isinstance(denied, HttpAnswer) and denied.status is Status.UNAUTHORISED
    set_cookies = cookies(denied)
    access = set_cookies["sAccessToken"]
    assert access.startswith("sAccessToken=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    assert "Domain=.example.com" in access and "Secure" in access and "HttpOnly" in access
    assert f"Path={REFRESH_PATH}" in set_cookies["sRefreshToken"]
    headers = headers_of(denied)
    assert headers["front-token"] == ["remove"]
    assert headers["st-access-token"] == [""] and headers["st-refresh-token"] == [""]
    exposed = headers["access-control-expose-headers"][0].split(",")
    assert {"front-token", "st-access-token", "st-refresh-token"} <= set(exposed)


@pytest.mark.parametrize("anti_csrf", ["VIA_TOKEN", "VIA_CUSTOM_HEADER"])
async def test_anti_csrf_on_cookie_requests_other_than_get(
    make_manager: MakeManager, core_node: RunningCore, domain_clock: ManualClock, anti_csrf: str
) -> None:
    manager = await make_manager(core_node.url, anti_csrf=anti_csrf)
    sessions = http(manager, domain_clock, anti_csrf=anti_csrf)
    session = await created_session(manager)
    get = await sessions.verify(cookie_request(session))
    assert isinstance(get, Allowed)
    denied = await sessions.verify(cookie_request(session, "POST"))
    assert isinstance(denied, HttpAnswer) and denied.status is Status.TRY_REFRESH_TOKEN
    if anti_csrf == "VIA_TOKEN":
        assert session.anti_csrf_token is not None
        passing = ("anti-csrf", session.anti_csrf_token)
        wrong = await sessions.verify(cookie_request(session, "POST", ("anti-csrf", "x")))
        assert isinstance(wrong, HttpAnswer) and wrong.status is Status.TRY_REFRESH_TOKEN
    else:
        assert session.anti_csrf_token is None
        passing = ("rid", "session")
    assert isinstance(await sessions.verify(cookie_request(session, "POST", passing)), Allowed)
    unchecked = await sessions.verify(
        cookie_request(session, "POST"), RouteOptions(anti_csrf_check=False)
    )
    assert isinstance(unchecked, Allowed)
    header_mode = await sessions.verify(request("POST", bearer(session.access_token)))
    assert isinstance(header_mode, Allowed)


async def test_claim_failure_is_403_with_the_sdk_body(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    now = domain_clock.now_ms()
    session = await created_session(
        manager, access_token_payload={"st-role": {"v": ["user"], "t": now}}
    )
    options = route_options(
        {"claim_validators": '[{"includes": {"key": "st-role", "value": "admin"}}]'}
    )
    for code in (403, 409):
        sessions = http(manager, domain_clock, invalid_claim_status_code=code)
        denied = await sessions.verify(cookie_request(session), options)
        assert isinstance(denied, HttpAnswer) and denied.status is Status.INVALID_CLAIMS
        assert denied.http_status == code
        assert body(denied) == {
            "message": "invalid claim",
            "claimValidationErrors": [
                {
                    "id": "st-role",
                    "reason": {
                        "message": "wrong value",
                        "expectedToInclude": "admin",
                        "actualValue": ["user"],
                    },
                }
            ],
        }
    spec = ClaimValidatorSpec(ClaimValidatorKind.INCLUDES, "st-role", "user")
    sessions = http(manager, domain_clock)
    ok = await sessions.verify(cookie_request(session), RouteOptions(claim_validators=(spec,)))
    assert isinstance(ok, Allowed)


async def test_refresh_rotates_promotes_and_detects_theft(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock)
    session = await created_session(manager)
    assert session.refresh_token is not None
    old_refresh = session.refresh_token.token
    refresh_request = request("POST", ("cookie", f"sRefreshToken={old_refresh}"), path=REFRESH_PATH)
    refreshed = await sessions.refresh(refresh_request)
    assert refreshed.status is Status.OK and refreshed.http_status == 200, refreshed
    assert json.loads(refreshed.body) == {}
    set_cookies = cookies(refreshed)
    new_access = set_cookies["sAccessToken"].split(";")[0].split("=", 1)[1]
    assert f"Path={REFRESH_PATH}" in set_cookies["sRefreshToken"]
    assert headers_of(refreshed)["front-token"][0] not in ("", "remove")

    # The new token's first use promotes it: the response carries it again.
    new_request = request("GET", ("cookie", f"sAccessToken={new_access}"))
    promoted = await sessions.verify(new_request)
    assert isinstance(promoted, Allowed) and promoted.session is not None
    promoted_headers = headers_of(promoted)
    assert "front-token" in promoted_headers and "sAccessToken" in cookies(promoted)

    # The old refresh token again: theft, the session revoked, tokens cleared.
    theft = await sessions.refresh(refresh_request)
    assert theft.status is Status.TOKEN_THEFT_DETECTED and theft.http_status == 401
    assert json.loads(theft.body) == {"message": "token theft detected"}
    assert cookies(theft)["sRefreshToken"].startswith("sRefreshToken=;")
    gone = await manager.get_session_information(session.session_handle)
    assert gone.status is Status.SESSION_DOES_NOT_EXIST

    missing = await sessions.refresh(request("POST", path=REFRESH_PATH))
    assert missing.status is Status.UNAUTHORISED and missing.http_status == 401
    assert json.loads(missing.body) == {"message": "unauthorised"}
    assert "set-cookie" not in headers_of(missing)


async def test_header_mode_refresh_answers_in_headers(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock)
    session = await created_session(manager)
    assert session.refresh_token is not None
    refreshed = await sessions.refresh(
        request("POST", bearer(session.refresh_token.token), path=REFRESH_PATH)
    )
    assert refreshed.status is Status.OK
    headers = headers_of(refreshed)
    assert headers["st-access-token"][0].count(".") == 2
    assert headers["st-refresh-token"][0]
    assert "set-cookie" not in headers
    exposed = headers["access-control-expose-headers"][0].split(",")
    assert exposed == ["front-token", "st-access-token", "st-refresh-token"]


async def test_sign_out_revokes_only_the_callers_session(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock)
    mine = await created_session(manager)
    other = await created_session(manager, "user-2")
    signed_out = await sessions.sign_out(cookie_request(mine, "POST"))
    assert signed_out.status is Status.OK and json.loads(signed_out.body) == {"status": "OK"}
    assert cookies(signed_out)["sAccessToken"].startswith("sAccessToken=;")
    assert headers_of(signed_out)["front-token"] == ["remove"]
    assert (await manager.get_session_information(mine.session_handle)).status is (
        Status.SESSION_DOES_NOT_EXIST
    )
    assert (await manager.get_session_information(other.session_handle)).status is Status.OK
    nobody = await sessions.sign_out(request("POST"))
    assert nobody.status is Status.OK and "set-cookie" not in headers_of(nobody)


def test_route_options_and_config_refuse_bad_values() -> None:
    assert route_options({}) == RouteOptions()
    parsed = route_options(
        {"session_required": "false", "check_database": "TRUE", "anti_csrf_check": "0"}
    )
    assert parsed == RouteOptions(
        session_required=False, check_database=True, anti_csrf_check=False
    )
    with pytest.raises(InvalidArgument, match="session_required"):
        route_options({"session_required": "maybe"})
    with pytest.raises(InvalidArgument, match="claim_validators"):
        route_options({"claim_validators": "{"})
    with pytest.raises(InvalidArgument, match="session_expired_status_code"):
        HttpConfig(session_expired_status_code=200)
    with pytest.raises(InvalidArgument, match="invalid_claim_status_code"):
        HttpConfig(invalid_claim_status_code=401)
    with pytest.raises(InvalidArgument, match="upstream_user_id_header"):
        UpstreamHeaders(user_id="bad name")
    assert UpstreamHeaders(payload="").names == ("x-session-user-id", "x-session-handle")


async def test_bad_claim_validators_are_400_not_an_exception(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    sessions = http(manager, domain_clock)
    session = await created_session(manager)
    spec = ClaimValidatorSpec(ClaimValidatorKind.INCLUDES, "", "x")
    answer = await sessions.verify(cookie_request(session), RouteOptions(claim_validators=(spec,)))
    assert isinstance(answer, HttpAnswer) and answer.http_status == 400
    assert answer.status is None and "message" in body(answer)
