"""Refreshing and signing out: rotation, promotion and theft with cookies, which tokens each
answer clears, and a revoked session cleared once the core is asked."""

from __future__ import annotations

from session_client import SessionClient
from session_client.http import ResponseChanges

from session_common.clock import ManualClock
from tests.clients.http.exchange import (
    ATTRS,
    CLEARED_COOKIES,
    CLEARED_HEADERS,
    EPOCH,
    cookies_of,
    error,
    http_sessions,
    ok,
    request,
    set_cookies,
    sign_in_with_cookies,
)


async def test_refresh_rotation_promotion_and_theft_with_cookies(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    session, response = await sign_in_with_cookies(sessions)
    r0 = cookies_of(response)["sRefreshToken"]
    csrf0 = response.headers["anti-csrf"]

    refreshed = await sessions.refresh_session(
        request("POST", cookie=f"sRefreshToken={r0}", anti_csrf=csrf0)
    )
    assert ok(refreshed).session_handle == session.session_handle
    r1 = cookies_of(refreshed.response)["sRefreshToken"]
    a1 = cookies_of(refreshed.response)["sAccessToken"]
    assert r1 != r0 and a1 != session.session.access_token
    assert refreshed.response.headers["anti-csrf"] not in ("", csrf0)

    # The first use of the new access token promotes the session: a new access token.
    promoted = await sessions.get_session(request(cookie=f"sAccessToken={a1}"))
    assert ok(promoted).session_handle == session.session_handle
    new_access = cookies_of(promoted.response)["sAccessToken"]
    assert new_access not in ("", a1)
    assert promoted.response.headers["front-token"] == ok(promoted).session.front_token

    theft = error(
        await sessions.refresh_session(
            request("POST", cookie=f"sRefreshToken={r0}", anti_csrf=csrf0)
        )
    )
    assert (theft.status.name, theft.http_status, theft.body) == (
        "TOKEN_THEFT_DETECTED",
        401,
        {"message": "token theft detected"},
    )
    assert theft.response.headers == CLEARED_HEADERS
    assert set_cookies(theft.response) == CLEARED_COOKIES
    # The session was revoked before answering: the legitimate token is dead too.
    info = await via_token.get_session_information(session.session_handle)
    assert info.info is None
    after = error(await sessions.refresh_session(request("POST", cookie=f"sRefreshToken={r1}")))
    assert after.body == {"message": "unauthorised"}
    assert set_cookies(after.response) == CLEARED_COOKIES


async def test_refresh_without_a_token_clears_only_the_legacy_cookie(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    missing = error(await sessions.refresh_session(request("POST")))
    assert missing.body == {"message": "unauthorised"}
    assert missing.response.header_items() == []
    legacy = error(await sessions.refresh_session(request("POST", cookie="sIdRefreshToken=x")))
    assert set_cookies(legacy.response) == [f"sIdRefreshToken=; Path=/; Expires={EPOCH}; {ATTRS}"]


async def test_refresh_prefers_the_header_and_clears_the_cookies(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    created = await sessions.create_new_session(request("POST"), "dave")
    refresh_token = created.response.headers["st-refresh-token"]
    refreshed = await sessions.refresh_session(
        request("POST", authorization=f"Bearer {refresh_token}", cookie="sRefreshToken=stale")
    )
    assert ok(refreshed).transfer_method == "header"
    assert set_cookies(refreshed.response) == CLEARED_COOKIES
    assert refreshed.response.headers["st-refresh-token"] not in ("", refresh_token)
    assert refreshed.response.headers["front-token"] != "remove"


async def test_a_revoked_session_is_cleared_when_the_core_is_asked(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    created = await sessions.create_new_session(request("POST"), "erin")
    await via_token.revoke_session(created.value.session_handle)
    bearer = request(authorization=f"Bearer {created.response.headers['st-access-token']}")
    # Without check_database the token stays valid until it expires, as in the SDK.
    assert ok(await sessions.get_session(bearer)).user_id == "erin"
    gone = error(await sessions.get_session(bearer, check_database=True))
    assert gone.body == {"message": "unauthorised"}
    assert gone.response.headers == CLEARED_HEADERS
    assert set_cookies(gone.response) == CLEARED_COOKIES


async def test_sign_out_revokes_and_clears(via_token: SessionClient, clock: ManualClock) -> None:
    sessions = http_sessions(via_token, clock)
    session, response = await sign_in_with_cookies(sessions)
    cookie = f"sAccessToken={cookies_of(response)['sAccessToken']}"
    signed_out = await sessions.sign_out(
        request("POST", cookie=cookie, anti_csrf=response.headers["anti-csrf"])
    )
    assert ok(signed_out).session_handle == session.session_handle
    assert set_cookies(signed_out.response) == CLEARED_COOKIES
    assert signed_out.response.headers == {
        "front-token": "remove",
        "access-control-expose-headers": "front-token",
    }
    info = await via_token.get_session_information(session.session_handle)
    assert info.info is None
    nobody = await sessions.sign_out(request("POST"))
    assert ok(nobody) is None
    assert nobody.response.header_items() == []
    # An application's own sign-out path can clear one method by hand.
    by_hand = ResponseChanges()
    sessions.clear_session(by_hand, "header")
    assert by_hand.headers == {
        **CLEARED_HEADERS,
        "access-control-expose-headers": "st-access-token, st-refresh-token, front-token",
    }
    assert by_hand.cookies == ()
