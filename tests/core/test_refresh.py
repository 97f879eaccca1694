"""POST /recipe/session/refresh: rotation, promotion, theft, expiry. A refresh token stays
usable until one of its children is promoted (the child refreshes, or an access token
carrying it as parent verifies); refreshing with it after that, or with any older
ancestor, is theft, as in the SuperTokens core's ``SessionTest2.tokenTheft_*`` tests."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.core.conftest import CoreClient, CoreFactory
from tests.core.storage.contract import user_last_active
from tests.core.tokens import jwt_header, jwt_payload

REFRESH_VALIDITY_MS = 144000 * 60_000


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _row_count(core: CoreClient, user_id: str) -> int:
    reply = await core.ok("GET", "/recipe/session/user", {"userId": user_id})
    return len(reply["sessionHandles"])


async def _expiry(core: CoreClient, handle: str) -> int:
    reply = await core.ok("GET", "/recipe/session", {"sessionHandle": handle})
    return int(reply["expiry"])


async def test_refresh_reply_and_token_chain(core: CoreClient) -> None:
    created = await core.create("u", jwt={"p": 1}, anti_csrf=False)
    r0 = created["refreshToken"]["token"]
    core.clock.advance(1234)
    refreshed = await core.refresh(r0)
    assert set(refreshed) == {"status", "session", "accessToken", "refreshToken"}
    assert refreshed["session"] == created["session"]
    r1, at1 = refreshed["refreshToken"]["token"], refreshed["accessToken"]["token"]
    assert r1 != r0 and at1 != created["accessToken"]["token"]
    claims = jwt_payload(at1)
    assert claims["refreshTokenHash1"] == h(r1)
    assert claims["parentRefreshTokenHash1"] == h(r0)
    assert claims["p"] == 1 and claims["antiCsrfToken"] is None
    now = core.clock.now_ms()
    assert refreshed["refreshToken"]["createdTime"] == now
    assert refreshed["refreshToken"]["expiry"] == now + REFRESH_VALIDITY_MS
    assert await _row_count(core, "u") == 1


async def test_refresh_with_anti_csrf_mints_a_new_one(core: CoreClient) -> None:
    created = await core.create(anti_csrf=True)
    refreshed = await core.refresh(
        created["refreshToken"]["token"], anti_csrf=True, csrf_token=created["antiCsrfToken"]
    )
    assert len(refreshed) == 5
    assert refreshed["antiCsrfToken"] != created["antiCsrfToken"]
    assert (
        jwt_payload(refreshed["accessToken"]["token"])["antiCsrfToken"]
        == (refreshed["antiCsrfToken"])
    )


async def test_refresh_anti_csrf_rules(core: CoreClient) -> None:
    created = await core.create(anti_csrf=True)
    r0 = created["refreshToken"]["token"]
    failed = {"status": "UNAUTHORISED", "message": "Anti CSRF token missing, or not matching"}
    assert await core.refresh(r0, anti_csrf=True) == failed
    assert await core.refresh(r0, anti_csrf=True, csrf_token="wrong") == failed
    # enableAntiCsrf false: the embedded token is ignored, and none is minted (on/off/on).
    off = await core.refresh(r0, anti_csrf=False)
    assert off["status"] == "OK" and "antiCsrfToken" not in off
    on = await core.refresh(off["refreshToken"]["token"], anti_csrf=True)
    assert on["status"] == "OK" and "antiCsrfToken" in on


async def test_invalid_refresh_tokens_are_unauthorised(core: CoreClient) -> None:
    token = (await core.create())["refreshToken"]["token"]
    appended = await core.refresh(token + "garbage")
    assert appended == {
        "status": "UNAUTHORISED",
        "message": "io.supertokens.session.refreshToken.RefreshToken$"
        "InvalidRefreshTokenFormatException: version of refresh token not recognised",
    }
    for bad in ("garbage" + token, "x", "a.b.V2", token.replace(".V2", ".V3")):
        assert (await core.refresh(bad))["status"] == "UNAUTHORISED"


async def test_unpromoted_token_may_be_reused(core: CoreClient) -> None:
    r0 = (await core.create())["refreshToken"]["token"]
    first = await core.refresh(r0)
    second = await core.refresh(r0)
    assert first["status"] == second["status"] == "OK"
    assert first["refreshToken"]["token"] != second["refreshToken"]["token"]


async def _theft(reply: dict[str, Any], created: dict[str, Any]) -> None:
    assert reply == {
        "status": "TOKEN_THEFT_DETECTED",
        "session": {"handle": created["session"]["handle"], "userId": "thief-victim"},
    }


async def test_theft_s1_r1_s2_r1(core: CoreClient) -> None:
    created = await core.create("thief-victim")
    r0 = created["refreshToken"]["token"]
    at1 = (await core.refresh(r0))["accessToken"]["token"]
    promoted = await core.verify(at1)
    assert "accessToken" in promoted  # verify promoted R1
    await _theft(await core.refresh(r0), created)
    # The core leaves the row alone; the SDK revokes it.
    assert await _row_count(core, "thief-victim") == 1


async def test_theft_s1_r1_r2_r1(core: CoreClient) -> None:
    created = await core.create("thief-victim")
    r0 = created["refreshToken"]["token"]
    r1 = (await core.refresh(r0))["refreshToken"]["token"]
    assert (await core.refresh(r1))["status"] == "OK"  # promotes R1, issues R2
    await _theft(await core.refresh(r0), created)


async def test_theft_with_a_sibling_after_the_other_was_promoted(core: CoreClient) -> None:
    created = await core.create("thief-victim")
    r0 = created["refreshToken"]["token"]
    r1a = (await core.refresh(r0))["refreshToken"]["token"]
    r1b = (await core.refresh(r0))["refreshToken"]["token"]
    assert (await core.refresh(r1a))["status"] == "OK"
    await _theft(await core.refresh(r1b), created)


async def test_promotion_by_verify_moves_expiry_and_then_stops(core: CoreClient) -> None:
    created = await core.create()
    handle, r0 = created["session"]["handle"], created["refreshToken"]["token"]
    t0 = core.clock.now_ms()
    core.clock.advance(600_000)
    refreshed = await core.refresh(r0)
    assert await _expiry(core, handle) == t0 + REFRESH_VALIDITY_MS  # case A changes nothing
    core.clock.advance(1000)
    promoted = await core.verify(refreshed["accessToken"]["token"])
    assert await _expiry(core, handle) == core.clock.now_ms() + REFRESH_VALIDITY_MS
    new_token = promoted["accessToken"]["token"]
    claims = jwt_payload(new_token)
    assert claims["parentRefreshTokenHash1"] is None
    assert claims["refreshTokenHash1"] == h(refreshed["refreshToken"]["token"])
    assert await core.verify(new_token) == {"status": "OK", "session": created["session"]}


async def test_promotion_by_refresh_moves_expiry(core: CoreClient) -> None:
    created = await core.create()
    handle = created["session"]["handle"]
    r1 = (await core.refresh(created["refreshToken"]["token"]))["refreshToken"]["token"]
    core.clock.advance(5000)
    assert (await core.refresh(r1))["status"] == "OK"
    assert await _expiry(core, handle) == core.clock.now_ms() + REFRESH_VALIDITY_MS


async def test_verify_of_grandparent_access_token_is_ok(core: CoreClient) -> None:
    created = await core.create()
    at0 = created["accessToken"]["token"]
    first = await core.refresh(created["refreshToken"]["token"])
    at1 = first["accessToken"]["token"]
    await core.verify(at1)
    second = await core.refresh(first["refreshToken"]["token"])
    await core.verify(second["accessToken"]["token"])
    for old in (at0, at1):
        assert await core.verify(old) == {"status": "OK", "session": created["session"]}


async def test_verify_of_unpromoted_token_without_row_is_unauthorised(core: CoreClient) -> None:
    created = await core.create()
    at1 = (await core.refresh(created["refreshToken"]["token"]))["accessToken"]["token"]
    await core.ok(
        "POST", "/recipe/session/remove", {"sessionHandles": [created["session"]["handle"]]}
    )
    assert await core.verify(at1) == {"status": "UNAUTHORISED", "message": "Session missing in db"}


async def test_create_verify_refresh_rounds(core: CoreClient) -> None:
    created = await core.create("rounds")
    access, refresh = created["accessToken"]["token"], created["refreshToken"]["token"]
    for _ in range(5):
        first = await core.verify(access)
        access = first.get("accessToken", {}).get("token", access)
        second = await core.verify(access)
        assert "accessToken" not in second
        core.clock.advance(3_600_001)
        assert (await core.verify(access))["status"] == "TRY_REFRESH_TOKEN"
        refreshed = await core.refresh(refresh)
        assert refreshed["status"] == "OK"
        access, refresh = refreshed["accessToken"]["token"], refreshed["refreshToken"]["token"]
        assert await _row_count(core, "rounds") == 1


async def test_refresh_after_session_expiry(core: CoreClient) -> None:
    created = await core.create("expiring")
    handle = created["session"]["handle"]
    core.clock.advance(REFRESH_VALIDITY_MS + 1)
    assert await core.refresh(created["refreshToken"]["token"]) == {
        "status": "UNAUTHORISED",
        "message": "Session missing in db or has expired",
    }
    # The row stays until the cleanup job runs.
    assert await core.core.storage.get_session(handle) is not None
    assert await core.core.sessions.delete_expired() == 1
    assert await core.core.storage.get_session(handle) is None


async def test_refresh_after_revoke_is_unauthorised(core: CoreClient) -> None:
    created = await core.create()
    await core.ok(
        "POST", "/recipe/session/remove", {"sessionHandles": [created["session"]["handle"]]}
    )
    reply = await core.refresh(created["refreshToken"]["token"])
    assert reply == {"status": "UNAUTHORISED", "message": "Session missing in db or has expired"}


async def test_refresh_uses_the_db_payload(core: CoreClient) -> None:
    created = await core.create(jwt={"v": 1})
    await core.ok(
        "PUT",
        "/recipe/jwt/data",
        {"sessionHandle": created["session"]["handle"], "userDataInJWT": {"v": 2}},
    )
    refreshed = await core.refresh(created["refreshToken"]["token"])
    assert refreshed["session"]["userDataInJWT"] == {"v": 2}
    assert jwt_payload(refreshed["accessToken"]["token"])["v"] == 2
    promoted = await core.verify(refreshed["accessToken"]["token"])
    assert promoted["session"]["userDataInJWT"] == {"v": 2}


async def test_user_last_active_is_updated(core: CoreClient) -> None:
    created = await core.create("active")
    assert await user_last_active(core.core.config.database, "active") == core.clock.now_ms()
    core.clock.advance(10_000)
    await core.refresh(created["refreshToken"]["token"])
    assert await user_last_active(core.core.config.database, "active") == core.clock.now_ms()


async def test_long_lifetimes_are_exact(make_core: CoreFactory) -> None:
    two_years_s = 2 * 365 * 24 * 3600
    core = await make_core(
        access_token_validity=two_years_s, refresh_token_validity=2 * 365 * 24 * 60 + 1
    )
    created = await core.create()
    refreshed = await core.refresh(created["refreshToken"]["token"])
    for reply in (created, refreshed):
        access, refresh = reply["accessToken"], reply["refreshToken"]
        assert access["expiry"] - access["createdTime"] == two_years_s * 1000
        assert refresh["expiry"] - refresh["createdTime"] == (2 * 365 * 24 * 60 + 1) * 60_000
        assert jwt_header(access["token"])["version"] == "3"
