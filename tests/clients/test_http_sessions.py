"""``HttpSessions`` / ``SyncHttpSessions`` against the real service and core: the SDK's
request layer (session-semantics.md §2 "Request layer", §4 transport names, §5) as headers,
exact ``Set-Cookie`` strings and the SDK's 401/403 bodies."""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import pytest
from session_client import SessionClient, SyncSessionClient, includes
from session_client.http import (
    HUNDRED_YEARS_MS,
    HttpConfig,
    HttpError,
    HttpOk,
    HttpRequest,
    HttpResult,
    HttpSessions,
    RequestSession,
    ResponseChanges,
    SyncHttpSessions,
)

from session_common.clock import ManualClock
from tests.service.conftest import MakeService

REFRESH_VALIDITY_MS = 144_000 * 60 * 1000  # the core's default: 100 days
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
ATTRS = "HttpOnly; SameSite=Lax"


def _date(ms: int) -> str:
    return formatdate(ms // 1000, usegmt=True)


def _request(method: str = "GET", **headers: str) -> HttpRequest:
    return HttpRequest(method, {name.replace("_", "-"): value for name, value in headers.items()})


def _cookies(response: ResponseChanges) -> dict[str, str]:
    return {c.name: c.value for c in response.cookies}


def _set_cookies(response: ResponseChanges) -> list[str]:
    return [value for name, value in response.header_items() if name == "set-cookie"]


def _ok(result: HttpResult[Any]) -> Any:
    assert isinstance(result, HttpOk), result
    return result.value


def _error(result: HttpResult[Any]) -> HttpError:
    assert isinstance(result, HttpError), result
    return result


CLEARED_HEADERS = {
    "st-access-token": "",
    "st-refresh-token": "",
    "front-token": "remove",
    "access-control-expose-headers": "front-token, st-access-token, st-refresh-token",
}
CLEARED_COOKIES = [
    f"sAccessToken=; Path=/; Expires={EPOCH}; {ATTRS}",
    f"sRefreshToken=; Path=/auth/session/refresh; Expires={EPOCH}; {ATTRS}",
]


@pytest.fixture
async def via_token(make_service: MakeService) -> SessionClient:
    service = await make_service(anti_csrf="VIA_TOKEN")
    return SessionClient.insecure(service.address)


def _sessions(client: SessionClient, clock: ManualClock, **config: Any) -> HttpSessions:
    config.setdefault("anti_csrf", "VIA_TOKEN")
    return HttpSessions(client, HttpConfig(**config), clock=lambda: clock.now_ms() / 1000)


async def _sign_in_with_cookies(
    sessions: HttpSessions, user_id: str = "alice"
) -> tuple[RequestSession, ResponseChanges]:
    created = await sessions.create_new_session(
        _request("POST", st_auth_mode="cookie"), user_id, {"role": "admin"}
    )
    return created.value, created.response


async def test_sign_in_sends_headers_by_default_without_anti_csrf(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    created = await sessions.create_new_session(_request("POST"), "alice", {"role": "admin"})
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
    verified = _ok(
        await sessions.get_session(
            _request("POST", authorization=f"Bearer {headers['st-access-token']}")
        )
    )
    assert verified.session_handle == session.session_handle
    refreshed = _ok(
        await sessions.refresh_session(
            _request("POST", authorization=f"Bearer {headers['st-refresh-token']}")
        )
    )
    assert refreshed.transfer_method == "header"


async def test_sign_in_with_cookies_exact_set_cookie_strings(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    session, response = await _sign_in_with_cookies(sessions)
    assert session.transfer_method == "cookie"
    cookies = _cookies(response)
    assert cookies["sAccessToken"] == session.session.access_token
    now = clock.now_ms()
    assert _set_cookies(response) == [
        f"sAccessToken={quote(cookies['sAccessToken'])}; Path=/;"
        f" Expires={_date(now + HUNDRED_YEARS_MS)}; {ATTRS}",
        # Refresh tokens hold "+" and "/": URL-encoded as the SDK does (quote, "/" kept).
        f"sRefreshToken={quote(cookies['sRefreshToken'])}; Path=/auth/session/refresh;"
        f" Expires={_date(now + REFRESH_VALIDITY_MS)}; {ATTRS}",
    ]
    headers = response.headers
    assert set(headers) == {"front-token", "anti-csrf", "access-control-expose-headers"}
    assert headers["anti-csrf"]
    assert headers["access-control-expose-headers"] == "front-token, anti-csrf"

    # Cookie mode: a GET needs no anti-CSRF token and sets nothing; a POST needs it.
    cookie_header = f"sAccessToken={cookies['sAccessToken']}"
    plain = await sessions.get_session(_request("GET", cookie=cookie_header))
    assert _ok(plain).transfer_method == "cookie"
    assert plain.response.header_items() == []
    missing = _error(await sessions.get_session(_request("POST", cookie=cookie_header)))
    assert (missing.http_status, missing.body) == (401, {"message": "try refresh token"})
    assert missing.response.header_items() == []
    wrong = await sessions.get_session(_request("POST", cookie=cookie_header, anti_csrf="not-it"))
    assert _error(wrong).body == {"message": "try refresh token"}
    right = await sessions.get_session(
        _request("POST", cookie=cookie_header, anti_csrf=headers["anti-csrf"])
    )
    assert _ok(right).session_handle == session.session_handle
    unchecked = await sessions.get_session(
        _request("POST", cookie=cookie_header), anti_csrf_check=False
    )
    assert _ok(unchecked).user_id == "alice"


async def test_secure_cookies_with_a_domain_and_the_token_exposed(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(
        via_token,
        clock,
        cookie_secure=True,
        cookie_same_site="none",
        cookie_domain=".example.com",
        refresh_token_path="/api/refresh",
        expose_access_token_to_frontend_in_cookie_based_auth=True,
    )
    session, response = await _sign_in_with_cookies(sessions)
    access, refresh = _set_cookies(response)
    assert access.endswith(
        f"; Path=/; Expires={_date(clock.now_ms() + HUNDRED_YEARS_MS)};"
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
    cross_site = _sessions(
        via_token,
        clock,
        cookie_same_site="none",
        api_domain="https://api.example.com",
        website_domain="https://example.com",
    )
    with pytest.raises(ValueError, match="please use https on your apiDomain"):
        await _sign_in_with_cookies(cross_site)
    local = _sessions(
        via_token,
        clock,
        cookie_same_site="none",
        api_domain="http://localhost:3001",
        website_domain="http://127.0.0.1:3000",
    )
    session, _ = await _sign_in_with_cookies(local)
    assert session.transfer_method == "cookie"
    with pytest.raises(ValueError, match="cookie same site"):
        HttpConfig(cookie_same_site="sideways")  # type: ignore[arg-type]


async def test_sign_in_clears_the_tokens_of_the_other_method(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    created = await sessions.create_new_session(
        _request("POST", cookie="sAccessToken=old-token"), "bob"
    )
    assert created.value.transfer_method == "header"
    assert _set_cookies(created.response) == CLEARED_COOKIES
    # Cleared first, then the new session's front token replaces "remove".
    assert created.response.headers["front-token"] == created.value.session.front_token
    assert created.response.headers["st-access-token"] == created.value.session.access_token


async def test_requests_without_a_usable_access_token(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    session, response = await _sign_in_with_cookies(sessions)
    cookie = f"sAccessToken={_cookies(response)['sAccessToken']}"

    none = _error(await sessions.get_session(_request()))
    assert (none.status.name, none.http_status, none.body) == (
        "UNAUTHORISED",
        401,
        {"message": "unauthorised"},
    )
    assert none.response.header_items() == []  # nothing to clear: no token was sent
    optional = await sessions.get_session(_request(), session_required=False)
    assert _ok(optional) is None

    # A bearer token that is not an access token does not hide the cookie.
    stray = await sessions.get_session(_request(authorization="Bearer abc.def", cookie=cookie))
    assert _ok(stray).transfer_method == "cookie"

    legacy = _error(await sessions.get_session(_request(cookie=f"{cookie}; sIdRefreshToken=x")))
    assert legacy.body == {"message": "try refresh token"}

    header_only = HttpSessions(
        via_token,
        HttpConfig(anti_csrf="VIA_TOKEN", get_token_transfer_method=lambda _r, _c: "header"),
    )
    ignored = _error(await header_only.get_session(_request(cookie=cookie)))
    assert ignored.body == {"message": "unauthorised"}
    assert session.user_id == "alice"


async def test_invalid_claims_answer_403_with_the_sdk_body(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    created = await sessions.create_new_session(
        _request("POST"), "carol", {"st-role": {"v": ["user"], "t": clock.now_ms()}}
    )
    bearer = f"Bearer {created.response.headers['st-access-token']}"
    denied = _error(
        await sessions.get_session(
            _request(authorization=bearer), claim_validators=[includes("st-role", "admin")]
        )
    )
    assert denied.http_status == 403
    assert denied.body == {
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
    allowed = await sessions.get_session(
        _request(authorization=bearer), claim_validators=[includes("st-role", "user")]
    )
    assert _ok(allowed).user_id == "carol"


async def test_refresh_rotation_promotion_and_theft_with_cookies(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    session, response = await _sign_in_with_cookies(sessions)
    r0 = _cookies(response)["sRefreshToken"]
    csrf0 = response.headers["anti-csrf"]

    refreshed = await sessions.refresh_session(
        _request("POST", cookie=f"sRefreshToken={r0}", anti_csrf=csrf0)
    )
    assert _ok(refreshed).session_handle == session.session_handle
    r1 = _cookies(refreshed.response)["sRefreshToken"]
    a1 = _cookies(refreshed.response)["sAccessToken"]
    assert r1 != r0 and a1 != session.session.access_token
    assert refreshed.response.headers["anti-csrf"] not in ("", csrf0)

    # The first use of the new access token promotes the session: a new access token.
    promoted = await sessions.get_session(_request(cookie=f"sAccessToken={a1}"))
    assert _ok(promoted).session_handle == session.session_handle
    new_access = _cookies(promoted.response)["sAccessToken"]
    assert new_access not in ("", a1)
    assert promoted.response.headers["front-token"] == _ok(promoted).session.front_token

    theft = _error(
        await sessions.refresh_session(
            _request("POST", cookie=f"sRefreshToken={r0}", anti_csrf=csrf0)
        )
    )
    assert (theft.status.name, theft.http_status, theft.body) == (
        "TOKEN_THEFT_DETECTED",
        401,
        {"message": "token theft detected"},
    )
    assert theft.response.headers == CLEARED_HEADERS
    assert _set_cookies(theft.response) == CLEARED_COOKIES
    # The session was revoked before answering: the legitimate token is dead too.
    info = await via_token.get_session_information(session.session_handle)
    assert info.info is None
    after = _error(await sessions.refresh_session(_request("POST", cookie=f"sRefreshToken={r1}")))
    assert after.body == {"message": "unauthorised"}
    assert _set_cookies(after.response) == CLEARED_COOKIES


async def test_refresh_without_a_token_clears_only_the_legacy_cookie(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    missing = _error(await sessions.refresh_session(_request("POST")))
    assert missing.body == {"message": "unauthorised"}
    assert missing.response.header_items() == []
    legacy = _error(await sessions.refresh_session(_request("POST", cookie="sIdRefreshToken=x")))
    assert _set_cookies(legacy.response) == [f"sIdRefreshToken=; Path=/; Expires={EPOCH}; {ATTRS}"]


async def test_refresh_prefers_the_header_and_clears_the_cookies(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    created = await sessions.create_new_session(_request("POST"), "dave")
    refresh_token = created.response.headers["st-refresh-token"]
    refreshed = await sessions.refresh_session(
        _request("POST", authorization=f"Bearer {refresh_token}", cookie="sRefreshToken=stale")
    )
    assert _ok(refreshed).transfer_method == "header"
    assert _set_cookies(refreshed.response) == CLEARED_COOKIES
    assert refreshed.response.headers["st-refresh-token"] not in ("", refresh_token)
    assert refreshed.response.headers["front-token"] != "remove"


async def test_a_revoked_session_is_cleared_when_the_core_is_asked(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = _sessions(via_token, clock)
    created = await sessions.create_new_session(_request("POST"), "erin")
    await via_token.revoke_session(created.value.session_handle)
    bearer = _request(authorization=f"Bearer {created.response.headers['st-access-token']}")
    # Without check_database the token stays valid until it expires, as in the SDK.
    assert _ok(await sessions.get_session(bearer)).user_id == "erin"
    gone = _error(await sessions.get_session(bearer, check_database=True))
    assert gone.body == {"message": "unauthorised"}
    assert gone.response.headers == CLEARED_HEADERS
    assert _set_cookies(gone.response) == CLEARED_COOKIES


async def test_sign_out_revokes_and_clears(via_token: SessionClient, clock: ManualClock) -> None:
    sessions = _sessions(via_token, clock)
    session, response = await _sign_in_with_cookies(sessions)
    cookie = f"sAccessToken={_cookies(response)['sAccessToken']}"
    signed_out = await sessions.sign_out(
        _request("POST", cookie=cookie, anti_csrf=response.headers["anti-csrf"])
    )
    assert _ok(signed_out).session_handle == session.session_handle
    assert _set_cookies(signed_out.response) == CLEARED_COOKIES
    assert signed_out.response.headers == {
        "front-token": "remove",
        "access-control-expose-headers": "front-token",
    }
    info = await via_token.get_session_information(session.session_handle)
    assert info.info is None
    nobody = await sessions.sign_out(_request("POST"))
    assert _ok(nobody) is None
    assert nobody.response.header_items() == []
    # An application's own sign-out path can clear one method by hand.
    by_hand = ResponseChanges()
    sessions.clear_session(by_hand, "header")
    assert by_hand.headers == {
        **CLEARED_HEADERS,
        "access-control-expose-headers": "st-access-token, st-refresh-token, front-token",
    }
    assert by_hand.cookies == ()


async def test_via_custom_header_needs_rid_on_cookie_requests(
    make_service: MakeService, clock: ManualClock
) -> None:
    service = await make_service()  # the service on NONE: the rid check is the gateway's
    client = SessionClient.insecure(service.address)
    sessions = _sessions(client, clock, anti_csrf="VIA_CUSTOM_HEADER")
    _, response = await _sign_in_with_cookies(sessions)
    assert "anti-csrf" not in response.headers
    cookies = _cookies(response)
    access = f"sAccessToken={cookies['sAccessToken']}"
    refresh = f"sRefreshToken={cookies['sRefreshToken']}"

    assert _ok(await sessions.get_session(_request("GET", cookie=access))).user_id == "alice"
    no_rid = _error(await sessions.get_session(_request("POST", cookie=access)))
    assert no_rid.body == {"message": "try refresh token"}
    assert "rid" in no_rid.reason
    with_rid = await sessions.get_session(_request("POST", cookie=access, rid="session"))
    assert _ok(with_rid).user_id == "alice"

    refused = _error(await sessions.refresh_session(_request("POST", cookie=refresh)))
    assert refused.body == {"message": "unauthorised"}
    assert refused.response.header_items() == []  # clear_tokens=False
    refreshed = await sessions.refresh_session(_request("POST", cookie=refresh, rid="session"))
    assert _ok(refreshed).transfer_method == "cookie"
    await client.close()


def _sync_journey(address: str) -> None:
    with SyncSessionClient.insecure(address) as client:
        sessions = SyncHttpSessions(client, HttpConfig(anti_csrf="VIA_TOKEN"))
        created = sessions.create_new_session(_request("POST", st_auth_mode="cookie"), "frank")
        cookies = _cookies(created.response)
        csrf = created.response.headers["anti-csrf"]
        access = f"sAccessToken={cookies['sAccessToken']}"
        assert _ok(sessions.get_session(_request("GET", cookie=access))).user_id == "frank"
        denied = _error(sessions.get_session(_request("POST", cookie=access)))
        assert denied.body == {"message": "try refresh token"}

        old_refresh = f"sRefreshToken={cookies['sRefreshToken']}"
        refreshed = sessions.refresh_session(_request("POST", cookie=old_refresh, anti_csrf=csrf))
        assert _ok(refreshed).user_id == "frank"
        new_access = f"sAccessToken={_cookies(refreshed.response)['sAccessToken']}"
        assert _ok(sessions.get_session(_request("GET", cookie=new_access))).user_id == "frank"
        theft = _error(
            sessions.refresh_session(_request("POST", cookie=old_refresh, anti_csrf=csrf))
        )
        assert theft.body == {"message": "token theft detected"}
        assert _set_cookies(theft.response) == CLEARED_COOKIES
        assert client.get_session_information(_ok(refreshed).session_handle).info is None

        nobody = sessions.sign_out(_request("POST"))
        assert _ok(nobody) is None


async def test_sync_http_sessions(make_service: MakeService) -> None:
    service = await make_service(anti_csrf="VIA_TOKEN")
    await asyncio.to_thread(_sync_journey, service.address)
