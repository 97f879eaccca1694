"""POST /recipe/session/remove, GET /recipe/session and /recipe/session/user, PUT
/recipe/session/data and /recipe/jwt/data, POST /recipe/session/regenerate: revoking,
session information, a user's handles, session data, the access-token payload, regeneration."""

from __future__ import annotations

from tests.core.conftest import CoreClient
from tests.core.tokens import jwt_header, jwt_payload

NO_SESSION = {"status": "UNAUTHORISED", "message": "Session does not exist."}


# -- remove ------------------------------------------------------------------------------------


async def test_remove_by_handles_returns_what_was_deleted(core: CoreClient) -> None:
    handles = [(await core.create("u"))["session"]["handle"] for _ in range(3)]
    reply = await core.ok(
        "POST", "/recipe/session/remove", {"sessionHandles": [handles[0], handles[2], "nope"]}
    )
    assert reply["status"] == "OK"
    assert sorted(reply["sessionHandlesRevoked"]) == sorted([handles[0], handles[2]])
    left = await core.ok("GET", "/recipe/session/user", {"userId": "u"})
    assert left["sessionHandles"] == [handles[1]]
    empty = await core.ok("POST", "/recipe/session/remove", {"sessionHandles": []})
    assert empty == {"status": "OK", "sessionHandlesRevoked": []}


async def test_remove_by_user_takes_exactly_that_users_sessions(core: CoreClient) -> None:
    mine = {(await core.create("alice"))["session"]["handle"] for _ in range(3)}
    other = (await core.create("bob"))["session"]["handle"]
    reply = await core.ok("POST", "/recipe/session/remove", {"userId": "alice"})
    assert set(reply["sessionHandlesRevoked"]) == mine
    assert len(reply["sessionHandlesRevoked"]) == 3
    assert (await core.ok("GET", "/recipe/session", {"sessionHandle": other}))["status"] == "OK"


async def test_remove_by_user_skips_expired_sessions(core: CoreClient) -> None:
    old = (await core.create("carol"))["session"]["handle"]
    core.clock.advance(144000 * 60_000 + 1)
    new = (await core.create("carol"))["session"]["handle"]
    reply = await core.ok("POST", "/recipe/session/remove", {"userId": "carol"})
    assert reply["sessionHandlesRevoked"] == [new]
    assert await core.core.storage.get_session(old) is not None


async def test_remove_input_rules(core: CoreClient) -> None:
    one_of = "Invalid JSON input - use one of userId or sessionHandles array\n"
    for body, message in (
        ({}, one_of),
        ({"userId": "u", "sessionHandles": []}, one_of),
        ({"sessionHandles": ["a", 1]}, "Field name 'sessionHandles' is invalid in JSON input\n"),
        ({"sessionHandles": "a"}, "Field name 'sessionHandles' is invalid in JSON input\n"),
        ({"userId": None}, "Field name 'userId' is invalid in JSON input\n"),
        ({"userId": 5}, "Field name 'userId' is invalid in JSON input\n"),
    ):
        r = await core.post("/recipe/session/remove", body)
        assert (r.status_code, r.text) == (400, message), body


# -- information and lookups -------------------------------------------------------------------


async def test_session_information(core: CoreClient) -> None:
    now = core.clock.now_ms()
    created = await core.create("info", jwt={"j": 1}, db={"d": [1, 2]})
    handle = created["session"]["handle"]
    reply = await core.ok("GET", "/recipe/session", {"sessionHandle": handle})
    assert reply == {
        "status": "OK",
        "sessionHandle": handle,
        "userId": "info",
        "userDataInDatabase": {"d": [1, 2]},
        "userDataInJWT": {"j": 1},
        "expiry": now + 144000 * 60_000,
        "timeCreated": now,
    }
    assert await core.ok("GET", "/recipe/session", {"sessionHandle": "nope"}) == NO_SESSION
    core.clock.advance(144000 * 60_000)  # expires_at <= now counts as gone
    assert await core.ok("GET", "/recipe/session", {"sessionHandle": handle}) == NO_SESSION


async def test_missing_query_parameters(core: CoreClient) -> None:
    for path, name in (
        ("/recipe/session", "sessionHandle"),
        ("/recipe/session/user", "userId"),
        ("/recipe/session/data", "sessionHandle"),
        ("/recipe/jwt/data", "sessionHandle"),
    ):
        r = await core.get(path)
        assert (r.status_code, r.text) == (
            400,
            f"Field name '{name}' is missing in GET request\n",
        )


async def test_handles_per_user(core: CoreClient) -> None:
    a = {(await core.create("a"))["session"]["handle"] for _ in range(2)}
    b = (await core.create("b"))["session"]["handle"]
    assert (
        set((await core.ok("GET", "/recipe/session/user", {"userId": "a"}))["sessionHandles"]) == a
    )
    assert (await core.ok("GET", "/recipe/session/user", {"userId": "b"}))["sessionHandles"] == [b]
    assert (await core.ok("GET", "/recipe/session/user", {"userId": "z"}))["sessionHandles"] == []
    core.clock.advance(144000 * 60_000 + 1)
    assert (await core.ok("GET", "/recipe/session/user", {"userId": "a"}))["sessionHandles"] == []


# -- session data --------------------------------------------------------------------------------


async def test_session_data_is_replaced(core: CoreClient) -> None:
    handle = (await core.create(db={"a": 1, "b": 2}))["session"]["handle"]
    body = {"sessionHandle": handle, "userDataInDatabase": {"c": 3}}
    assert await core.ok("PUT", "/recipe/session/data", body) == {"status": "OK"}
    info = await core.ok("GET", "/recipe/session", {"sessionHandle": handle})
    assert info["userDataInDatabase"] == {"c": 3}
    assert await core.ok("GET", "/recipe/session/data", {"sessionHandle": handle}) == {
        "status": "OK",
        "userDataInDatabase": {"c": 3},
    }
    unknown = {"sessionHandle": "nope", "userDataInDatabase": {}}
    assert await core.ok("PUT", "/recipe/session/data", unknown) == NO_SESSION
    assert await core.ok("GET", "/recipe/session/data", {"sessionHandle": "nope"}) == NO_SESSION


async def test_expired_session_cannot_be_updated(core: CoreClient) -> None:
    handle = (await core.create("exp"))["session"]["handle"]
    core.clock.advance(144000 * 60_000 + 1)
    for path, field in (
        ("/recipe/session/data", "userDataInDatabase"),
        ("/recipe/jwt/data", "userDataInJWT"),
    ):
        assert await core.ok("PUT", path, {"sessionHandle": handle, field: {"x": 1}}) == NO_SESSION
    stored = await core.core.storage.get_session(handle)
    assert stored is not None and stored.session_data == {} and stored.jwt_user_payload == {}


# -- JWT data ---------------------------------------------------------------------------------


async def test_jwt_data_is_replaced_and_tokens_untouched(core: CoreClient) -> None:
    created = await core.create(jwt={"a": 1})
    handle = created["session"]["handle"]
    body = {"sessionHandle": handle, "userDataInJWT": {"b": 2}}
    assert await core.ok("PUT", "/recipe/jwt/data", body) == {"status": "OK"}
    assert await core.ok("GET", "/recipe/jwt/data", {"sessionHandle": handle}) == {
        "status": "OK",
        "userDataInJWT": {"b": 2},
    }
    assert jwt_payload(created["accessToken"]["token"])["a"] == 1
    assert (await core.verify(created["accessToken"]["token"]))["session"]["userDataInJWT"] == {
        "a": 1
    }
    await core.ok("PUT", "/recipe/jwt/data", {"sessionHandle": handle, "userDataInJWT": {}})
    info = await core.ok("GET", "/recipe/session", {"sessionHandle": handle})
    assert info["userDataInJWT"] == {}
    unknown = {"sessionHandle": "nope", "userDataInJWT": {}}
    assert await core.ok("PUT", "/recipe/jwt/data", unknown) == NO_SESSION


async def test_jwt_data_with_protected_claim_is_400_and_unchanged(core: CoreClient) -> None:
    handle = (await core.create(jwt={"a": 1}))["session"]["handle"]
    r = await core.put("/recipe/jwt/data", {"sessionHandle": handle, "userDataInJWT": {"sub": "x"}})
    assert (r.status_code, r.text) == (400, "The user payload contains protected field\n")
    info = await core.ok("GET", "/recipe/session", {"sessionHandle": handle})
    assert info["userDataInJWT"] == {"a": 1}


async def test_jwt_data_null_payload_is_400(core: CoreClient) -> None:
    handle = (await core.create())["session"]["handle"]
    for body in ({"sessionHandle": handle, "userDataInJWT": None}, {"sessionHandle": handle}):
        r = await core.put("/recipe/jwt/data", body)
        assert (r.status_code, r.text) == (
            400,
            "Field name 'userDataInJWT' is invalid in JSON input\n",
        )


# -- regenerate --------------------------------------------------------------------------------


async def _regenerate(core: CoreClient, token: str, **body: object) -> dict[str, object]:
    return await core.ok("POST", "/recipe/session/regenerate", {"accessToken": token, **body})


async def test_regenerate_with_new_payload_keeps_expiry(core: CoreClient) -> None:
    created = await core.create(jwt={"old": 1})
    token = created["accessToken"]["token"]
    core.clock.advance(10_000)
    reply = await _regenerate(core, token, userDataInJWT={"new": 2})
    assert set(reply) == {"status", "session", "accessToken"}
    assert reply["session"] == {**created["session"], "userDataInJWT": {"new": 2}}
    new_token = reply["accessToken"]
    assert isinstance(new_token, dict)
    old_claims, new_claims = jwt_payload(token), jwt_payload(new_token["token"])
    assert new_claims["exp"] == old_claims["exp"]
    assert new_claims["iat"] == core.clock.now_ms() // 1000
    assert new_token["expiry"] == old_claims["exp"] * 1000
    assert "old" not in new_claims and new_claims["new"] == 2
    for claim in ("sub", "sessionHandle", "refreshTokenHash1", "parentRefreshTokenHash1"):
        assert new_claims[claim] == old_claims[claim]
    assert jwt_header(new_token["token"])["kid"] == jwt_header(token)["kid"]
    info = await core.ok("GET", "/recipe/session", {"sessionHandle": created["session"]["handle"]})
    assert info["userDataInJWT"] == {"new": 2}


async def test_regenerate_with_empty_or_no_payload(core: CoreClient) -> None:
    created = await core.create(jwt={"a": 1})
    token, handle = created["accessToken"]["token"], created["session"]["handle"]
    empty = await _regenerate(core, token, userDataInJWT={})
    assert empty["session"] == {**created["session"], "userDataInJWT": {}}
    await core.ok("PUT", "/recipe/jwt/data", {"sessionHandle": handle, "userDataInJWT": {"db": 1}})
    none = await _regenerate(core, token)
    assert none["session"] == {**created["session"], "userDataInJWT": {"db": 1}}
    assert isinstance(none["accessToken"], dict)
    assert jwt_payload(none["accessToken"]["token"])["db"] == 1


async def test_regenerate_keeps_anti_csrf_and_static_key(core: CoreClient) -> None:
    created = await core.create(anti_csrf=True, useDynamicSigningKey=False)
    reply = await _regenerate(core, created["accessToken"]["token"], userDataInJWT={"x": 1})
    assert isinstance(reply["accessToken"], dict)
    new_token = reply["accessToken"]["token"]
    assert jwt_header(new_token)["kid"].startswith("s-")
    assert jwt_payload(new_token)["antiCsrfToken"] == created["antiCsrfToken"]


async def test_regenerate_after_expiry_returns_no_token(core: CoreClient) -> None:
    created = await core.create(jwt={"a": 1})
    core.clock.advance(3_600_001)
    reply = await _regenerate(core, created["accessToken"]["token"], userDataInJWT={"b": 2})
    assert reply == {"status": "OK", "session": {**created["session"], "userDataInJWT": {"b": 2}}}
    refreshed = await core.refresh(created["refreshToken"]["token"])
    assert jwt_payload(refreshed["accessToken"]["token"])["b"] == 2


async def test_regenerate_of_removed_session(core: CoreClient) -> None:
    created = await core.create()
    await core.ok(
        "POST", "/recipe/session/remove", {"sessionHandles": [created["session"]["handle"]]}
    )
    assert await _regenerate(core, created["accessToken"]["token"], userDataInJWT={}) == NO_SESSION


async def test_regenerate_with_protected_claim_changes_nothing(core: CoreClient) -> None:
    created = await core.create(jwt={"a": 1})
    r = await core.post(
        "/recipe/session/regenerate",
        {"accessToken": created["accessToken"]["token"], "userDataInJWT": {"sub": "x"}},
    )
    assert (r.status_code, r.text) == (400, "The user payload contains protected field\n")
    refreshed = await core.refresh(created["refreshToken"]["token"])
    assert refreshed["status"] == "OK"
    assert refreshed["session"]["userDataInJWT"] == {"a": 1}


async def test_regenerate_of_malformed_token_is_400(core: CoreClient) -> None:
    # The reference answers 500 (an uncaught parse exception); bad input is a 400 here.
    r = await core.post("/recipe/session/regenerate", {"accessToken": "not.a.token"})
    assert (r.status_code, r.text) == (400, "Field name 'accessToken' is invalid in JSON input\n")
