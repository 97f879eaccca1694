"""Requests with a session: no usable access token, invalid claims (403 with the SDK's body),
and the ``rid`` header ``VIA_CUSTOM_HEADER`` needs on cookie requests."""

from __future__ import annotations

from session_client import SessionClient, includes
from session_client.http import HttpConfig, HttpSessions

from session_common.clock import ManualClock
from tests.clients.http.exchange import (
    cookies_of,
    error,
    http_sessions,
    ok,
    request,
    sign_in_with_cookies,
)
from tests.service.conftest import MakeService


async def test_requests_without_a_usable_access_token(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    session, response = await sign_in_with_cookies(sessions)
    cookie = f"sAccessToken={cookies_of(response)['sAccessToken']}"

    none = error(await sessions.get_session(request()))
    assert (none.status.name, none.http_status, none.body) == (
        "UNAUTHORISED",
        401,
        {"message": "unauthorised"},
    )
    assert none.response.header_items() == []  # nothing to clear: no token was sent
    optional = await sessions.get_session(request(), session_required=False)
    assert ok(optional) is None

    # A bearer token that is not an access token does not hide the cookie.
    stray = await sessions.get_session(request(authorization="Bearer abc.def", cookie=cookie))
    assert ok(stray).transfer_method == "cookie"

    legacy = error(await sessions.get_session(request(cookie=f"{cookie}; sIdRefreshToken=x")))
    assert legacy.body == {"message": "try refresh token"}

    header_only = HttpSessions(
        via_token,
        HttpConfig(anti_csrf="VIA_TOKEN", get_token_transfer_method=lambda _r, _c: "header"),
    )
    ignored = error(await header_only.get_session(request(cookie=cookie)))
    assert ignored.body == {"message": "unauthorised"}
    assert session.user_id == "alice"


async def test_invalid_claims_answer_403_with_the_sdk_body(
    via_token: SessionClient, clock: ManualClock
) -> None:
    sessions = http_sessions(via_token, clock)
    created = await sessions.create_new_session(
        request("POST"), "carol", {"st-role": {"v": ["user"], "t": clock.now_ms()}}
    )
    bearer = f"Bearer {created.response.headers['st-access-token']}"
    denied = error(
        await sessions.get_session(
            request(authorization=bearer), claim_validators=[includes("st-role", "admin")]
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
        request(authorization=bearer), claim_validators=[includes("st-role", "user")]
    )
    assert ok(allowed).user_id == "carol"


async def test_via_custom_header_needs_rid_on_cookie_requests(
    make_service: MakeService, clock: ManualClock
) -> None:
    service = await make_service()  # the service on NONE: the rid check is the gateway's
    client = SessionClient.insecure(service.address)
    sessions = http_sessions(client, clock, anti_csrf="VIA_CUSTOM_HEADER")
    _, response = await sign_in_with_cookies(sessions)
    assert "anti-csrf" not in response.headers
    cookies = cookies_of(response)
    access = f"sAccessToken={cookies['sAccessToken']}"
    refresh = f"sRefreshToken={cookies['sRefreshToken']}"

    assert ok(await sessions.get_session(request("GET", cookie=access))).user_id == "alice"
    no_rid = error(await sessions.get_session(request("POST", cookie=access)))
    assert no_rid.body == {"message": "try refresh token"}
    assert "rid" in no_rid.reason
    with_rid = await sessions.get_session(request("POST", cookie=access, rid="session"))
    assert ok(with_rid).user_id == "alice"

    refused = error(await sessions.refresh_session(request("POST", cookie=refresh)))
    assert refused.body == {"message": "unauthorised"}
    assert refused.response.header_items() == []  # clear_tokens=False
    refreshed = await sessions.refresh_session(request("POST", cookie=refresh, rid="session"))
    assert ok(refreshed).transfer_method == "cookie"
    await client.close()
