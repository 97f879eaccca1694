"""The session functions against the real core (session_functions.py): create, refresh,
theft, revocation, the handle lists, session information and data, merges and
regeneration."""

from __future__ import annotations

import base64
import json

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_service.domain.api import (
    InvalidArgument,
    SessionRecipe,
    Status,
)
from tests.service.domain.domain_helpers import (
    ISSUER,
    MakeManager,
    core_calls,
    created_session,
    decode_payload,
)

VERIFY = "/recipe/session/verify"
JWKS = "/.well-known/jwks.json"


async def test_create_returns_tokens_payload_and_front_token(manager: SessionRecipe) -> None:
    session = await created_session(
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


async def test_reusing_a_superseded_refresh_token_is_theft(manager: SessionRecipe) -> None:
    session = await created_session(manager, "thief-victim")
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


async def test_revoke_all_multiple_and_list_handles(manager: SessionRecipe) -> None:
    mine = [(await created_session(manager, "u-many")).session_handle for _ in range(3)]
    other = (await created_session(manager, "u-other")).session_handle
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


async def test_refresh_with_anti_csrf(make_manager: MakeManager, core_node: RunningCore) -> None:
    manager = await make_manager(core_node.url, anti_csrf="VIA_TOKEN")
    session = await created_session(manager)
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


async def test_session_information_and_data(manager: SessionRecipe) -> None:
    session = await created_session(
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
    session = await created_session(manager, access_token_payload={"keep": 1, "drop": 2})
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
    session = await created_session(manager, access_token_payload={"old": True})
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
    session = await created_session(manager)
    parts = session.access_token.split(".")
    other = await created_session(manager, "mallory")
    spliced = ".".join([parts[0], other.access_token.split(".")[1], parts[2]])
    result = await manager.regenerate_access_token(spliced, {"x": 1})
    assert result.status is Status.TRY_REFRESH_TOKEN
    assert core_calls(core_node, "/recipe/session/regenerate") == 0
    with pytest.raises(InvalidArgument) as raised:
        await manager.regenerate_access_token("not.a.token-secret")
    assert raised.value.field == "access_token"
    assert "token-secret" not in str(raised.value)
