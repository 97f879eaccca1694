"""get_session against the real core (get_session.py): local verification, promotion after a
refresh, revocation with check_database, anti-CSRF, session_required, signing-key mode, expiry,
legacy v2 tokens."""

from __future__ import annotations

import asyncio

import pytest

from session_common.clock import ManualClock
from session_core.access_token import AccessTokenInfo, encode_access_token
from session_core.app import RunningCore
from session_core.crypto import generate_key_string, load_signing_key
from session_service.domain.api import (
    Session,
    SessionRecipe,
    Status,
)
from tests.service.domain.domain_helpers import (
    ISSUER,
    MakeManager,
    core_calls,
    created_session,
    decode_payload,
    forge,
    v3_header,
)

VERIFY = "/recipe/session/verify"
JWKS = "/.well-known/jwks.json"


async def test_verification_needs_no_core_call(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await created_session(manager)
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
    session = await created_session(manager, access_token_payload={"k": "v"})
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


async def test_revocation_with_and_without_check_database(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    session = await created_session(manager)
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
    session = await created_session(manager)
    result = await manager.get_session(session.access_token, check_database=True)
    assert result.status is Status.OK and result.session is not None
    assert result.session.new_access_token is None  # payload unchanged: no new token
    assert core_calls(core_node, VERIFY) == 1


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
    session = await created_session(manager)
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
    session = await created_session(manager, disable_anti_csrf=True)
    assert session.anti_csrf_token is None
    checked = await manager.get_session(session.access_token, anti_csrf_token="x")
    assert checked.status is Status.TRY_REFRESH_TOKEN
    assert checked.message == "Access token does not contain the anti-csrf token"
    unchecked = await manager.get_session(session.access_token, anti_csrf_check=False)
    assert unchecked.status is Status.OK


async def test_anti_csrf_mode_none_never_checks(manager: SessionRecipe) -> None:
    session = await created_session(manager)
    result = await manager.get_session(session.access_token, anti_csrf_token="anything")
    assert result.status is Status.OK


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
    # Errors after parsing are not turned into NO_SESSION (the SDK's
    # RecipeImplementation.get_session lets them through).
    session = await created_session(manager)
    domain_clock.advance(3_600_000)
    result = await manager.get_session(session.access_token, session_required=False)
    assert result.status is Status.TRY_REFRESH_TOKEN


async def test_signing_key_mode_mismatch(make_manager: MakeManager, core_node: RunningCore) -> None:
    dynamic = await make_manager(core_node.url)
    static = await make_manager(core_node.url, use_dynamic_access_token_signing_key=False)
    dynamic_session = await created_session(dynamic)
    static_session = await created_session(static)
    assert dynamic_session.access_token_payload is not None
    mismatch = "The access token doesn't match the useDynamicAccessTokenSigningKey setting"
    result = await static.get_session(dynamic_session.access_token)
    assert (result.status, result.message) == (Status.TRY_REFRESH_TOKEN, mismatch)
    result = await dynamic.get_session(static_session.access_token)
    assert (result.status, result.message) == (Status.TRY_REFRESH_TOKEN, mismatch)
    assert (await static.get_session(static_session.access_token)).status is Status.OK
    assert (await dynamic.get_session(dynamic_session.access_token)).status is Status.OK


async def test_expiry_boundary(manager: SessionRecipe, domain_clock: ManualClock) -> None:
    session = await created_session(manager)
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
    session = await created_session(manager)
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
    session = await created_session(manager)
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
    session = await created_session(manager, access_token_payload={"stored": 1})
    token = await _v2_token(core_node, session)
    result = await manager.get_session(token, check_database=True)
    assert result.status is Status.OK and result.session is not None
    assert result.session.access_token_payload == {"stored": 1, "iss": ISSUER}
    assert core_calls(core_node, VERIFY) == 1
