"""SessionRecipe against the real core: create/get/refresh, promotion, theft, revocation,
anti-CSRF, session_required, signing-key mode, legacy v2 tokens, expiry, by-handle calls."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from session_common.clock import ManualClock
from session_core.access_token import AccessTokenInfo, encode_access_token
from session_core.app import RunningCore
from session_core.crypto import generate_key_string, load_signing_key
from session_service.domain.api import (
    InvalidArgument,
    Session,
    SessionRecipe,
    Status,
)
from tests.service.domain.domain_helpers import (
    ISSUER,
    MakeManager,
    core_calls,
    decode_payload,
    forge,
    v3_header,
)

VERIFY = "/recipe/session/verify"
JWKS = "/.well-known/jwks.json"


async def _created(manager: SessionRecipe, user_id: str = "user-1", **kw: object) -> Session:
    result = await manager.create_new_session(user_id, **kw)  # type: ignore[arg-type]
    assert result.status is Status.OK and result.session is not None
    return result.session


async def test_create_returns_tokens_payload_and_front_token(manager: SessionRecipe) -> None:
    session = await _created(
        manager, access_token_payload={"role": "admin"}, session_data_in_database={"d": 1}
    )
    payload = session.access_token_payload
    assert payload["sub"] == "user-1"
    assert payload["role"] == "admin"
    assert payload["iss"] == ISSUER  # added like the SDK's public wrapper
    assert payload["parentRefreshTokenHash1"] is None and payload["antiCsrfToken"] is None
    assert len(payload) == 9  # the 7 protected claims + role + iss
    assert session.new_access_token is not None and session.refresh_token is not None
    assert session.access_token == session.new_access_token.token
    assert session.access_token_expiry_ms == payload["exp"] * 1000
    assert session.anti_csrf_token is None  # anti_csrf defaults to NONE
    front = json.loads(base64.b64decode(session.front_token))
    assert front == {"ate": session.access_token_expiry_ms, "uid": "user-1", "up": payload}
    # Key-sorted, compact JSON, exactly as the SDK builds it.
    assert base64.b64decode(session.front_token).decode() == json.dumps(
        front, separators=(",", ":"), sort_keys=True
    )


async def test_verification_needs_no_core_call(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager)
    first = await manager.get_session(session.access_token)
    assert first.status is Status.OK and first.session is not None
    assert first.session.new_access_token is None
    assert first.session.access_token_payload == session.access_token_payload
    before = dict(core_node.requests)
    results = await asyncio.gather(*(manager.get_session(session.access_token) for _ in range(50)))
    assert {r.status for r in results} == {Status.OK}
    assert dict(core_node.requests) == before
    assert core_calls(core_node, VERIFY) == 0
    assert core_calls(core_node, JWKS) == 1


async def test_first_use_after_refresh_promotes_once(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager, access_token_payload={"k": "v"})
    assert session.refresh_token is not None
    refreshed = await manager.refresh_session(session.refresh_token.token)
    assert refreshed.status is Status.OK and refreshed.session is not None
    new = refreshed.session
    assert new.session_handle == session.session_handle
    assert new.refresh_token is not None
    assert new.refresh_token.token != session.refresh_token.token
    assert new.access_token_payload["parentRefreshTokenHash1"] is not None

    promoted = await manager.get_session(new.access_token)
    assert promoted.status is Status.OK and promoted.session is not None
    assert core_calls(core_node, VERIFY) == 1
    issued = promoted.session.new_access_token
    assert issued is not None and promoted.session.access_token == issued.token
    assert promoted.session.access_token_payload == decode_payload(issued.token)
    assert promoted.session.access_token_payload["parentRefreshTokenHash1"] is None
    assert promoted.session.access_token_payload["k"] == "v"
    assert promoted.session.access_token_expiry_ms == issued.expiry_ms

    again = await manager.get_session(issued.token)
    assert again.status is Status.OK and again.session is not None
    assert again.session.new_access_token is None
    assert core_calls(core_node, VERIFY) == 1


async def test_reusing_a_superseded_refresh_token_is_theft(manager: SessionRecipe) -> None:
    session = await _created(manager, "thief-victim")
    assert session.refresh_token is not None
    refreshed = await manager.refresh_session(session.refresh_token.token)
    assert refreshed.session is not None
    promoted = await manager.get_session(refreshed.session.access_token)
    assert promoted.status is Status.OK
    theft = await manager.refresh_session(session.refresh_token.token)
    assert theft.status is Status.TOKEN_THEFT_DETECTED
    assert theft.message == "token theft detected"
    assert theft.theft is not None and theft.session is None
    assert theft.theft.session_handle == session.session_handle
    assert theft.theft.user_id == "thief-victim"


async def test_refresh_with_garbage_or_missing_token_is_unauthorised(
    manager: SessionRecipe,
) -> None:
    garbage = await manager.refresh_session("not-a-refresh-token")
    assert garbage.status is Status.UNAUTHORISED and garbage.session is None
    missing = await manager.refresh_session("")
    assert missing.status is Status.UNAUTHORISED
    assert missing.message.startswith("Refresh token not found")


async def test_revocation_with_and_without_check_database(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager)
    assert session.refresh_token is not None
    revoked = await manager.revoke_session(session.session_handle)
    assert revoked.status is Status.OK
    assert revoked.revoked_session_handles == (session.session_handle,)

    # Without check_database the access token stays valid until it expires (SDK/core rule).
    local = await manager.get_session(session.access_token)
    assert local.status is Status.OK
    assert core_calls(core_node, VERIFY) == 0

    checked = await manager.get_session(session.access_token, check_database=True)
    assert checked.status is Status.UNAUTHORISED
    assert checked.message == "Either the session has ended or has been blacklisted"
    assert core_calls(core_node, VERIFY) == 1

    refresh = await manager.refresh_session(session.refresh_token.token)
    assert refresh.status is Status.UNAUTHORISED

    again = await manager.revoke_session(session.session_handle)
    assert again.status is Status.SESSION_DOES_NOT_EXIST
    assert again.revoked_session_handles == ()


async def test_check_database_on_a_live_session_calls_the_core(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager)
    result = await manager.get_session(session.access_token, check_database=True)
    assert result.status is Status.OK and result.session is not None
    assert result.session.new_access_token is None  # payload unchanged: no new token
    assert core_calls(core_node, VERIFY) == 1


async def test_revoke_all_multiple_and_list_handles(manager: SessionRecipe) -> None:
    mine = [(await _created(manager, "u-many")).session_handle for _ in range(3)]
    other = (await _created(manager, "u-other")).session_handle
    listed = await manager.get_all_session_handles_for_user("u-many")
    assert listed.status is Status.OK and sorted(listed.session_handles) == sorted(mine)

    multiple = await manager.revoke_multiple_sessions([mine[0], "no-such-handle"])
    assert multiple.status is Status.OK and multiple.revoked_session_handles == (mine[0],)
    everything = await manager.revoke_all_sessions_for_user("u-many")
    assert sorted(everything.revoked_session_handles) == sorted(mine[1:])
    assert (await manager.get_all_session_handles_for_user("u-many")).session_handles == ()
    remaining = await manager.get_all_session_handles_for_user("u-other")
    assert remaining.session_handles == (other,)
    assert (await manager.revoke_multiple_sessions([])).revoked_session_handles == ()


@pytest.mark.parametrize(
    ("request_token", "check", "expected", "message"),
    [
        ("right", True, Status.OK, ""),
        ("wrong", True, Status.TRY_REFRESH_TOKEN, "anti-csrf check failed"),
        (None, True, Status.TRY_REFRESH_TOKEN, "Provided antiCsrfToken is undefined"),
        (None, False, Status.OK, ""),
        ("wrong", False, Status.OK, ""),
    ],
)
async def test_anti_csrf_via_token(
    make_manager: MakeManager,
    core_node: RunningCore,
    request_token: str | None,
    check: bool,
    expected: Status,
    message: str,
) -> None:
    manager = await make_manager(core_node.url, anti_csrf="VIA_TOKEN")
    session = await _created(manager)
    assert session.anti_csrf_token is not None
    assert session.access_token_payload["antiCsrfToken"] == session.anti_csrf_token
    given = {"right": session.anti_csrf_token, "wrong": "not-the-token", None: None}[request_token]
    result = await manager.get_session(
        session.access_token, anti_csrf_token=given, anti_csrf_check=check
    )
    assert result.status is expected
    assert result.message.startswith(message)
    if expected is Status.OK:
        assert result.session is not None and result.session.anti_csrf_token == given


async def test_anti_csrf_token_missing_from_access_token(
    make_manager: MakeManager, core_node: RunningCore
) -> None:
    manager = await make_manager(core_node.url, anti_csrf="VIA_TOKEN")
    session = await _created(manager, disable_anti_csrf=True)
    assert session.anti_csrf_token is None
    checked = await manager.get_session(session.access_token, anti_csrf_token="x")
    assert checked.status is Status.TRY_REFRESH_TOKEN
    assert checked.message == "Access token does not contain the anti-csrf token"
    unchecked = await manager.get_session(session.access_token, anti_csrf_check=False)
    assert unchecked.status is Status.OK


async def test_anti_csrf_mode_none_never_checks(manager: SessionRecipe) -> None:
    session = await _created(manager)
    result = await manager.get_session(session.access_token, anti_csrf_token="anything")
    assert result.status is Status.OK


async def test_refresh_with_anti_csrf(make_manager: MakeManager, core_node: RunningCore) -> None:
    manager = await make_manager(core_node.url, anti_csrf="VIA_TOKEN")
    session = await _created(manager)
    assert session.refresh_token is not None and session.anti_csrf_token is not None
    missing = await manager.refresh_session(session.refresh_token.token)
    assert missing.status is Status.UNAUTHORISED
    assert missing.message == "Anti CSRF token missing, or not matching"
    ok = await manager.refresh_session(
        session.refresh_token.token, anti_csrf_token=session.anti_csrf_token
    )
    assert ok.status is Status.OK and ok.session is not None
    assert ok.session.anti_csrf_token not in (None, session.anti_csrf_token)
    # disable_anti_csrf: the core ignores the embedded token and mints none.
    disabled = await manager.refresh_session(session.refresh_token.token, disable_anti_csrf=True)
    assert disabled.status is Status.OK and disabled.session is not None
    assert disabled.session.anti_csrf_token is None
    # The promoted token keeps its anti-CSRF claim and the check goes to the core too.
    assert ok.session.anti_csrf_token is not None
    promoted = await manager.get_session(
        ok.session.access_token, anti_csrf_token=ok.session.anti_csrf_token
    )
    assert promoted.status is Status.OK and promoted.session is not None
    assert promoted.session.new_access_token is not None


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "a.b.c", "x" * 20_000])
async def test_session_required(manager: SessionRecipe, token: str) -> None:
    optional = await manager.get_session(token, session_required=False)
    assert optional.status is Status.NO_SESSION and optional.session is None
    required = await manager.get_session(token)
    assert required.status is Status.UNAUTHORISED
    expected = "Session does not exist." if not token else "Token parsing failed"
    assert required.message.startswith(expected)


async def test_session_not_required_still_reports_invalid_tokens(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    # Errors after parsing are not turned into NO_SESSION (SDK §2a step 4).
    session = await _created(manager)
    domain_clock.advance(3_600_000)
    result = await manager.get_session(session.access_token, session_required=False)
    assert result.status is Status.TRY_REFRESH_TOKEN


async def test_signing_key_mode_mismatch(make_manager: MakeManager, core_node: RunningCore) -> None:
    dynamic = await make_manager(core_node.url)
    static = await make_manager(core_node.url, use_dynamic_access_token_signing_key=False)
    dynamic_session = await _created(dynamic)
    static_session = await _created(static)
    assert dynamic_session.access_token_payload is not None
    mismatch = "The access token doesn't match the useDynamicAccessTokenSigningKey setting"
    result = await static.get_session(dynamic_session.access_token)
    assert (result.status, result.message) == (Status.TRY_REFRESH_TOKEN, mismatch)
    result = await dynamic.get_session(static_session.access_token)
    assert (result.status, result.message) == (Status.TRY_REFRESH_TOKEN, mismatch)
    assert (await static.get_session(static_session.access_token)).status is Status.OK
    assert (await dynamic.get_session(dynamic_session.access_token)).status is Status.OK


async def test_expiry_boundary(manager: SessionRecipe, domain_clock: ManualClock) -> None:
    session = await _created(manager)
    exp_ms = session.access_token_payload["exp"] * 1000
    domain_clock.set(exp_ms - 1)
    assert (await manager.get_session(session.access_token)).status is Status.OK
    domain_clock.set(exp_ms)
    expired = await manager.get_session(session.access_token)
    assert (expired.status, expired.message) == (Status.TRY_REFRESH_TOKEN, "Signature has expired")
    # Refresh still works (the refresh token lives 100 days) and yields a valid token.
    assert session.refresh_token is not None
    refreshed = await manager.refresh_session(session.refresh_token.token)
    assert refreshed.session is not None
    assert (await manager.get_session(refreshed.session.access_token)).status is Status.OK


async def _v2_token(
    core: RunningCore, session: Session, *, parent: str | None = None, foreign: bool = False
) -> str:
    payload = session.access_token_payload
    key = core.signing_keys.dynamic_signing_key()
    if foreign:
        key = load_signing_key("d-1", await asyncio.to_thread(generate_key_string), 1)
    info = AccessTokenInfo(
        version=2,
        session_handle=session.session_handle,
        user_id=session.user_id,
        refresh_token_hash_1=payload["refreshTokenHash1"],
        parent_refresh_token_hash_1=parent,
        anti_csrf_token=None,
        user_data={"legacy": True},
        expiry_ms=payload["exp"] * 1000,
        time_created_ms=payload["iat"] * 1000,
    )
    return encode_access_token(info, key).token


async def test_v2_token_verifies_locally_against_every_key(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager)
    token = await _v2_token(core_node, session)
    assert token.startswith("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0=.")
    result = await manager.get_session(token)
    assert result.status is Status.OK and result.session is not None
    # v2: the payload is userData only (SDK behaviour).
    assert result.session.access_token_payload == {"legacy": True}
    assert result.session.session_handle == session.session_handle
    assert core_calls(core_node, VERIFY) == 0


async def test_v2_token_that_fails_locally_goes_to_the_core(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager)
    forged = await _v2_token(core_node, session, foreign=True)
    result = await manager.get_session(forged)
    assert result.status is Status.TRY_REFRESH_TOKEN
    assert core_calls(core_node, VERIFY) == 1
    # A v3 token that fails locally never reaches the core.
    payload = dict(session.access_token_payload, sub="someone-else")
    key = core_node.signing_keys.dynamic_signing_key()
    tampered = session.access_token.split(".")
    tampered[1] = forge(key, v3_header(key.kid), payload).split(".")[1]
    result = await manager.get_session(".".join(tampered))
    assert (result.status, result.message) == (
        Status.TRY_REFRESH_TOKEN,
        "Signature verification failed",
    )
    assert core_calls(core_node, VERIFY) == 1


async def test_v2_token_with_check_database_uses_the_stored_payload(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager, access_token_payload={"stored": 1})
    token = await _v2_token(core_node, session)
    result = await manager.get_session(token, check_database=True)
    assert result.status is Status.OK and result.session is not None
    assert result.session.access_token_payload == {"stored": 1, "iss": ISSUER}
    assert core_calls(core_node, VERIFY) == 1


async def test_session_information_and_data(manager: SessionRecipe) -> None:
    session = await _created(
        manager, access_token_payload={"a": 1}, session_data_in_database={"db": "x"}
    )
    info = await manager.get_session_information(session.session_handle)
    assert info.status is Status.OK and info.info is not None
    assert info.info.user_id == "user-1"
    assert info.info.session_data_in_database == {"db": "x"}
    assert info.info.custom_claims_in_access_token_payload == {"a": 1, "iss": ISSUER}
    assert info.info.expiry_ms > info.info.time_created_ms

    updated = await manager.update_session_data_in_database(session.session_handle, {"db": "y"})
    assert updated.status is Status.OK
    info = await manager.get_session_information(session.session_handle)
    assert info.info is not None and info.info.session_data_in_database == {"db": "y"}

    missing = await manager.get_session_information("no-such-handle")
    assert missing.status is Status.SESSION_DOES_NOT_EXIST and missing.info is None
    gone = await manager.update_session_data_in_database("no-such-handle", {})
    assert gone.status is Status.SESSION_DOES_NOT_EXIST


async def test_merge_into_access_token_payload(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager, access_token_payload={"keep": 1, "drop": 2})
    merged = await manager.merge_into_access_token_payload(
        session.session_handle, {"drop": None, "new": [1, 2]}
    )
    assert merged.status is Status.OK
    info = await manager.get_session_information(session.session_handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {
        "keep": 1,
        "new": [1, 2],
        "iss": ISSUER,
    }
    # The held token is unchanged; check_database sees the new payload and re-issues.
    plain = await manager.get_session(session.access_token)
    assert plain.session is not None and "new" not in plain.session.access_token_payload
    checked = await manager.get_session(session.access_token, check_database=True)
    assert checked.session is not None and checked.session.new_access_token is not None
    assert checked.session.access_token_payload["new"] == [1, 2]
    assert "drop" not in checked.session.access_token_payload

    unknown = await manager.merge_into_access_token_payload("no-such-handle", {"x": 1})
    assert unknown.status is Status.SESSION_DOES_NOT_EXIST


async def test_regenerate_access_token(manager: SessionRecipe, domain_clock: ManualClock) -> None:
    session = await _created(manager, access_token_payload={"old": True})
    domain_clock.advance(5_000)
    result = await manager.regenerate_access_token(session.access_token, {"fresh": 1})
    assert result.status is Status.OK and result.result is not None
    assert result.result.session_handle == session.session_handle
    assert result.result.access_token_payload == {"fresh": 1}
    new = result.result.new_access_token
    assert new is not None
    new_payload = decode_payload(new.token)
    assert new_payload["exp"] == session.access_token_payload["exp"]  # same expiry
    assert new_payload["fresh"] == 1 and "old" not in new_payload
    assert (await manager.get_session(new.token)).status is Status.OK

    # None is {}, as the SDK sends: the stored payload is cleared.
    cleared = await manager.regenerate_access_token(new.token)
    assert cleared.result is not None and cleared.result.access_token_payload == {}
    info = await manager.get_session_information(session.session_handle)
    assert info.info is not None and info.info.custom_claims_in_access_token_payload == {}

    # An expired (but authentic) token: stored, but no new token.
    domain_clock.advance(3_600_000)
    late = await manager.regenerate_access_token(session.access_token, {"late": 1})
    assert late.status is Status.OK and late.result is not None
    assert late.result.new_access_token is None

    await manager.revoke_session(session.session_handle)
    gone = await manager.regenerate_access_token(session.access_token)
    assert gone.status is Status.UNAUTHORISED


async def test_regenerate_refuses_unverifiable_tokens(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await _created(manager)
    parts = session.access_token.split(".")
    other = await _created(manager, "mallory")
    spliced = ".".join([parts[0], other.access_token.split(".")[1], parts[2]])
    result = await manager.regenerate_access_token(spliced, {"x": 1})
    assert result.status is Status.TRY_REFRESH_TOKEN
    assert core_calls(core_node, "/recipe/session/regenerate") == 0
    with pytest.raises(InvalidArgument) as raised:
        await manager.regenerate_access_token("not.a.token-secret")
    assert raised.value.field == "access_token"
    assert "token-secret" not in str(raised.value)
