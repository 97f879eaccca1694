"""POST /recipe/session and POST /recipe/session/verify: the v3 access token they issue and
check, anti-CSRF (``enableAntiCsrf``, ``doAntiCsrfCheck``) and ``checkDatabase``."""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.core.conftest import CoreClient
from tests.core.storage.contract import user_last_active
from tests.core.tokens import jwt_header, jwt_payload

PROTECTED = [
    "sub",
    "exp",
    "iat",
    "sessionHandle",
    "refreshTokenHash1",
    "parentRefreshTokenHash1",
    "antiCsrfToken",
]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


async def test_create_reply_shape_and_token_format(core: CoreClient) -> None:
    now = core.clock.now_ms()
    reply = await core.create("user-1", jwt={"key": "value"}, db={"d": 1})
    assert set(reply) == {"status", "session", "accessToken", "refreshToken"}
    assert reply["status"] == "OK"
    assert reply["session"] == {
        "handle": reply["session"]["handle"],
        "userId": "user-1",
        "userDataInJWT": {"key": "value"},
    }
    assert UUID_RE.fullmatch(reply["session"]["handle"])
    access, refresh = reply["accessToken"], reply["refreshToken"]
    assert set(access) == set(refresh) == {"token", "expiry", "createdTime"}

    header, payload = jwt_header(access["token"]), jwt_payload(access["token"])
    assert set(header) == {"alg", "typ", "version", "kid"}
    assert (header["alg"], header["typ"], header["version"]) == ("RS256", "JWT", "3")
    assert header["kid"].startswith("d-")
    assert set(payload) == {*PROTECTED, "key"}  # 8 claims for one custom claim
    assert "userData" not in payload and payload["key"] == "value"
    assert payload["sub"] == "user-1"
    assert payload["sessionHandle"] == reply["session"]["handle"]
    assert payload["parentRefreshTokenHash1"] is None and payload["antiCsrfToken"] is None
    assert re.fullmatch(r"[0-9]{10}", str(payload["iat"]))
    assert payload["iat"] == now // 1000
    assert payload["exp"] == (now + 3_600_000) // 1000
    assert access["createdTime"] == payload["iat"] * 1000
    assert access["expiry"] == payload["exp"] * 1000
    assert refresh["createdTime"] == now
    assert refresh["expiry"] == now + 144000 * 60_000
    assert refresh["token"].endswith(".V2")


async def test_create_with_anti_csrf(core: CoreClient) -> None:
    reply = await core.create(anti_csrf=True)
    assert len(reply) == 5
    assert UUID_RE.fullmatch(reply["antiCsrfToken"])
    assert jwt_payload(reply["accessToken"]["token"])["antiCsrfToken"] == reply["antiCsrfToken"]


async def test_static_key_is_used_only_on_explicit_false(core: CoreClient) -> None:
    static = await core.create(useDynamicSigningKey=False)
    dynamic = await core.create(useDynamicSigningKey=True)
    assert jwt_header(static["accessToken"]["token"])["kid"].startswith("s-")
    assert jwt_header(dynamic["accessToken"]["token"])["kid"].startswith("d-")
    refreshed = await core.refresh(static["refreshToken"]["token"])
    assert jwt_header(refreshed["accessToken"]["token"])["kid"].startswith("s-")


@pytest.mark.parametrize("claim", PROTECTED)
async def test_protected_claim_in_create_is_400_and_writes_nothing(
    core: CoreClient, claim: str
) -> None:
    r = await core.post(
        "/recipe/session",
        {
            "userId": "victim",
            "userDataInJWT": {claim: "x"},
            "userDataInDatabase": {},
            "enableAntiCsrf": False,
        },
    )
    assert (r.status_code, r.text) == (400, "The user payload contains protected field\n")
    handles = await core.ok("GET", "/recipe/session/user", {"userId": "victim"})
    assert handles["sessionHandles"] == []
    assert await user_last_active(core.core.config.database, "victim") is None


async def test_verify_round_trips_data_without_new_token(core: CoreClient) -> None:
    payload = {"nested": {"deep": [1, {"x": None}], "b": True}, "nullProp": None}
    created = await core.create("user-2", jwt=payload)
    reply = await core.verify(created["accessToken"]["token"])
    assert reply == {"status": "OK", "session": created["session"]}
    assert reply["session"]["userDataInJWT"] == payload


async def test_empty_payload_round_trips(core: CoreClient) -> None:
    created = await core.create(jwt={})
    assert set(jwt_payload(created["accessToken"]["token"])) == set(PROTECTED)
    assert (await core.verify(created["accessToken"]["token"]))["session"]["userDataInJWT"] == {}


async def test_expiry_has_no_leeway(core: CoreClient) -> None:
    created = await core.create()
    token, expiry = created["accessToken"]["token"], created["accessToken"]["expiry"]
    core.clock.set(expiry)
    assert (await core.verify(token))["status"] == "OK"
    core.clock.advance(1)
    assert await core.verify(token) == {
        "status": "TRY_REFRESH_TOKEN",
        "message": "Access token expired",
    }


async def test_tampered_payload_is_try_refresh(core: CoreClient) -> None:
    token = (await core.create(jwt={"role": "user"}))["accessToken"]["token"]
    other = (await core.create(jwt={"role": "admin"}))["accessToken"]["token"]
    h, _, s = token.split(".")
    forged = f"{h}.{other.split('.')[1]}.{s}"
    assert (await core.verify(forged))["status"] == "TRY_REFRESH_TOKEN"


async def test_random_token_is_try_refresh(core: CoreClient) -> None:
    assert await core.verify("token") == {
        "status": "TRY_REFRESH_TOKEN",
        "message": "io.supertokens.session.jwt.JWT$JWTException: Invalid JWT",
    }


async def test_unknown_kid_is_try_refresh(core: CoreClient) -> None:
    token = (await core.create())["accessToken"]["token"]
    _, p, s = token.split(".")
    header = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": "d-123"}
    h2 = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    reply = await core.verify(f"{h2}.{p}.{s}")
    assert reply["status"] == "TRY_REFRESH_TOKEN"
    assert "Key not found" in reply["message"]


# -- anti-CSRF ---------------------------------------------------------------------------------


async def test_anti_csrf_combinations(core: CoreClient) -> None:
    created = await core.create(anti_csrf=True)
    token, csrf = created["accessToken"]["token"], created["antiCsrfToken"]
    assert (await core.verify(token, anti_csrf=True, check=True, csrf_token=csrf))["status"] == "OK"
    failed = {"status": "TRY_REFRESH_TOKEN", "message": "anti-csrf check failed"}
    assert await core.verify(token, anti_csrf=True, check=True, csrf_token="wrong") == failed
    assert await core.verify(token, anti_csrf=True, check=True) == failed
    # The check runs only when both flags are set.
    for enable, check in ((True, False), (False, True), (False, False)):
        reply = await core.verify(token, anti_csrf=enable, check=check, csrf_token="wrong")
        assert reply["status"] == "OK"


async def test_anti_csrf_check_on_token_without_one(core: CoreClient) -> None:
    token = (await core.create(anti_csrf=False))["accessToken"]["token"]
    reply = await core.verify(token, anti_csrf=True, check=True, csrf_token="x")
    assert reply == {
        "status": "TRY_REFRESH_TOKEN",
        "message": "Access token does not contain all the information. "
        "Maybe the structure has changed?",
    }


# -- checkDatabase -----------------------------------------------------------------------------


async def test_check_database_after_revoke(core: CoreClient) -> None:
    created = await core.create()
    token, handle = created["accessToken"]["token"], created["session"]["handle"]
    await core.ok("POST", "/recipe/session/remove", {"sessionHandles": [handle]})
    assert (await core.verify(token))["status"] == "OK"  # valid until it expires
    assert await core.verify(token, check_database=True) == {
        "status": "UNAUTHORISED",
        "message": "Either the session has ended or has been blacklisted",
    }
    core.clock.advance(3_600_001)
    assert (await core.verify(token))["status"] == "TRY_REFRESH_TOKEN"
    refreshed = await core.refresh(created["refreshToken"]["token"])
    assert refreshed["status"] == "UNAUTHORISED"


async def test_check_database_reissues_when_payload_changed(core: CoreClient) -> None:
    created = await core.create(jwt={"v": 1})
    token, handle = created["accessToken"]["token"], created["session"]["handle"]
    assert await core.verify(token, check_database=True) == {
        "status": "OK",
        "session": created["session"],
    }
    await core.ok("PUT", "/recipe/jwt/data", {"sessionHandle": handle, "userDataInJWT": {"v": 2}})
    without = await core.verify(token)
    assert without == {"status": "OK", "session": {**created["session"], "userDataInJWT": {"v": 1}}}
    core.clock.advance(5000)
    reply = await core.verify(token, check_database=True)
    assert set(reply) == {"status", "session", "accessToken"}
    assert reply["session"]["userDataInJWT"] == {"v": 2}
    new_payload = jwt_payload(reply["accessToken"]["token"])
    assert new_payload["v"] == 2 and new_payload["parentRefreshTokenHash1"] is None
    assert new_payload["iat"] == core.clock.now_ms() // 1000
    # A boolean is not the number 1: the payload differs, so the token is re-issued.
    await core.ok(
        "PUT", "/recipe/jwt/data", {"sessionHandle": handle, "userDataInJWT": {"v": True}}
    )
    again = await core.verify(reply["accessToken"]["token"], check_database=True)
    assert again["session"]["userDataInJWT"] == {"v": True}


async def test_protected_claim_in_db_payload_at_reissue_is_400(core: CoreClient) -> None:
    # A row written by an old CDI could hold a protected name; only the storage can do it.
    created = await core.create(jwt={"a": 1})
    handle = created["session"]["handle"]
    await core.core.storage.update_session(
        handle, now_ms=core.clock.now_ms(), jwt_user_payload={"sub": "x"}
    )
    r = await core.post(
        "/recipe/session/verify",
        {
            "accessToken": created["accessToken"]["token"],
            "doAntiCsrfCheck": False,
            "enableAntiCsrf": False,
            "checkDatabase": True,
        },
    )
    assert (r.status_code, r.text) == (400, "The user payload contains protected field\n")
    refreshed = await core.refresh(created["refreshToken"]["token"])
    assert refreshed == {
        "status": "UNAUTHORISED",
        "message": "The user payload contains protected field",
    }
