"""Session RPCs end to end, ported from the SDK's tests (session-semantics.md §8 A, B, C).

Every call goes over gRPC to the real service, which talks HTTP to the real core. Whether
the core was consulted is read from the core's own per-path request counter.
"""

from __future__ import annotations

import base64
import json

import grpc
from google.protobuf import struct_pb2
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from tests.service.conftest import MakeService

VERIFY = "/recipe/session/verify"
PROTECTED_CLAIMS = {
    "sub",
    "iat",
    "exp",
    "sessionHandle",
    "refreshTokenHash1",
    "parentRefreshTokenHash1",
    "antiCsrfToken",
}
ACCESS_TOKEN_VALIDITY_MS = 3600 * 1000  # the core's default access_token_validity


# -- A. verification without core calls ---------------------------------------------------------


async def test_fresh_token_verifies_locally_without_calling_the_core(
    client: SessionClient, core: RunningCore
) -> None:
    created = await client.create_session("user-id", {"role": "admin"})
    verifies_before = core.requests[VERIFY]

    result = await client.get_session(created.session.access_token)

    assert result.status is SessionStatus.OK
    assert result.session is not None
    assert result.session.user_id == "user-id"
    assert result.session.session_handle == created.session.session_handle
    assert result.session.access_token == created.session.access_token
    assert result.new_access_token is None
    assert core.requests[VERIFY] == verifies_before


async def test_answers_from_the_token_cache_equal_a_fresh_verification(
    make_service: MakeService,
) -> None:
    """A repeated token's OK answer is rendered once and its bytes sent again after: it must
    say exactly what a service without the cache says, and a request with other needs (a
    failing claim validator) must still get its own answer."""
    cached = await make_service()
    uncached = await make_service(token_cache=False)
    get_session = "/session.v1.SessionService/GetSession"
    async with (
        grpc.aio.insecure_channel(cached.address) as with_cache,
        grpc.aio.insecure_channel(uncached.address) as without_cache,
    ):
        created = await SessionClient(with_cache).create_session("user-id", {"role": "admin"})
        token = created.session.access_token
        plain = pb.GetSessionRequest(access_token=token).SerializeToString()
        missing_claim = pb.ClaimValidator(
            has_value=pb.ClaimValidator.ValueCheck(
                key="st-perm", value=struct_pb2.Value(string_value="write")
            )
        )
        with_validator = pb.GetSessionRequest(
            access_token=token, claim_validators=[missing_claim]
        ).SerializeToString()

        cached_get = with_cache.unary_unary(get_session)
        answers = [await cached_get(plain) for _ in range(3)]
        invalid = pb.GetSessionResponse.FromString(await cached_get(with_validator))
        after_invalid = await cached_get(plain)
        reference = await without_cache.unary_unary(get_session)(plain)

    first, *repeats = (pb.GetSessionResponse.FromString(a) for a in answers)
    assert first == pb.GetSessionResponse.FromString(reference)
    assert all(repeat == first for repeat in repeats)
    assert after_invalid == answers[-1]
    assert first.status == pb.SESSION_STATUS_OK
    assert first.session.access_token == token
    assert first.session.access_token_payload["role"] == "admin"
    assert not first.HasField("new_access_token")
    assert invalid.status == pb.SESSION_STATUS_INVALID_CLAIMS
    assert [error.id for error in invalid.invalid_claims] == ["st-perm"]
    assert invalid.session.session_handle == first.session.session_handle


async def test_only_the_first_verify_after_a_refresh_calls_the_core(
    client: SessionClient, core: RunningCore
) -> None:
    """SDK test_that_once_the_info_is_loaded_it_doesnt_query_again."""
    created = await client.create_session("user-id")
    refreshed = await client.refresh_session(created.refresh_token.token)
    assert refreshed.status is SessionStatus.OK
    assert refreshed.session is not None
    verifies_before = core.requests[VERIFY]

    first = await client.get_session(refreshed.session.access_token)
    assert first.status is SessionStatus.OK
    assert first.new_access_token is not None
    assert first.session is not None
    assert first.session.access_token == first.new_access_token.token
    assert core.requests[VERIFY] == verifies_before + 1

    second = await client.get_session(first.new_access_token.token)
    assert second.status is SessionStatus.OK
    assert second.new_access_token is None
    assert core.requests[VERIFY] == verifies_before + 1

    revoked = await client.revoke_session(created.session.session_handle)
    assert revoked.status is SessionStatus.OK


async def test_check_database_asks_the_core_every_time(
    client: SessionClient, core: RunningCore
) -> None:
    created = await client.create_session("user-id")
    verifies_before = core.requests[VERIFY]
    for expected_calls in (1, 2):
        result = await client.get_session(created.session.access_token, check_database=True)
        assert result.status is SessionStatus.OK
        assert core.requests[VERIFY] == verifies_before + expected_calls


async def test_access_token_is_v3_with_the_protected_claims_and_custom_payload(
    client: SessionClient,
) -> None:
    created = await client.create_session("user-id", {"role": "admin", "level": 3})
    header_segment = created.session.access_token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(header_segment + "=" * (-len(header_segment) % 4)))
    assert header["version"] == "3"
    assert header["kid"].startswith("d-")

    result = await client.get_session(created.session.access_token)
    assert result.session is not None
    payload = result.session.access_token_payload
    assert set(payload) == PROTECTED_CLAIMS | {"iss", "role", "level"}
    assert payload["sub"] == "user-id"
    assert payload["sessionHandle"] == created.session.session_handle
    assert payload["role"] == "admin"
    assert payload["level"] == 3
    assert payload["iss"] == "http://localhost:3001/auth"
    assert result.session.expiry == payload["exp"] * 1000 == created.access_token.expiry


async def test_front_token_carries_user_expiry_and_payload(client: SessionClient) -> None:
    created = await client.create_session("user-id", {"role": "admin"})
    front = json.loads(base64.b64decode(created.session.front_token))
    assert front["uid"] == "user-id"
    assert front["ate"] == created.session.expiry
    assert front["up"] == created.session.access_token_payload


async def test_missing_or_unparsable_token_is_no_session_only_when_not_required(
    client: SessionClient,
) -> None:
    for token in ("", "not-a-jwt", "a.b.c"):
        optional = await client.get_session(token, session_required=False)
        assert optional.status is SessionStatus.NO_SESSION, token
        assert optional.session is None
        required = await client.get_session(token)
        assert required.status is SessionStatus.UNAUTHORISED, token
        assert required.session is None


async def test_expired_access_token_asks_for_a_refresh(
    client: SessionClient, clock: ManualClock
) -> None:
    created = await client.create_session("user-id")
    clock.advance(ACCESS_TOKEN_VALIDITY_MS + 1000)

    result = await client.get_session(created.session.access_token)
    assert result.status is SessionStatus.TRY_REFRESH_TOKEN
    assert result.session is None
    assert created.session.access_token not in result.message

    refreshed = await client.refresh_session(created.refresh_token.token)
    assert refreshed.status is SessionStatus.OK
    assert refreshed.session is not None
    again = await client.get_session(refreshed.session.access_token)
    assert again.status is SessionStatus.OK


async def test_tampered_token_asks_for_a_refresh(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    header, payload, signature = created.session.access_token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    result = await client.get_session(f"{header}.{payload}.{flipped}")
    assert result.status is SessionStatus.TRY_REFRESH_TOKEN


async def test_anti_csrf_via_token(make_service: MakeService) -> None:
    service = await make_service(anti_csrf="VIA_TOKEN")
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("user-id")
        assert created.anti_csrf_token
        token = created.session.access_token

        missing = await client.get_session(token)
        assert missing.status is SessionStatus.TRY_REFRESH_TOKEN
        wrong = await client.get_session(token, anti_csrf_token="wrong")
        assert wrong.status is SessionStatus.TRY_REFRESH_TOKEN
        right = await client.get_session(token, anti_csrf_token=created.anti_csrf_token)
        assert right.status is SessionStatus.OK
        unchecked = await client.get_session(token, anti_csrf_check=False)
        assert unchecked.status is SessionStatus.OK

        no_csrf_refresh = await client.refresh_session(created.refresh_token.token)
        assert no_csrf_refresh.status is SessionStatus.UNAUTHORISED
        refreshed = await client.refresh_session(
            created.refresh_token.token, anti_csrf_token=created.anti_csrf_token
        )
        assert refreshed.status is SessionStatus.OK
        assert refreshed.anti_csrf_token
        assert refreshed.anti_csrf_token != created.anti_csrf_token

        header_mode = await client.create_session("user-id", disable_anti_csrf=True)
        assert header_mode.anti_csrf_token is None


# -- B. session management -----------------------------------------------------------------------


async def test_creating_many_sessions_for_one_user_and_managing_them(client: SessionClient) -> None:
    """SDK test_creating_many_sessions_for_one_user_and_looping."""
    created = [
        await client.create_session("someUser", {"someKey": "someValue"}, {"data": i})
        for i in range(7)
    ]
    listed = await client.get_all_session_handles_for_user("someUser")
    assert listed.status is SessionStatus.OK
    handles = listed.session_handles
    assert sorted(handles) == sorted(c.session.session_handle for c in created)

    for handle in handles:
        info = await client.get_session_information(handle)
        assert info.status is SessionStatus.OK
        assert info.info is not None
        assert info.info.user_id == "someUser"
        assert info.info.custom_claims_in_access_token_payload["someKey"] == "someValue"
        assert info.info.expiry > info.info.time_created > 0

        merged = await client.merge_into_access_token_payload(
            handle, {"someKey2": "someValue", "someKey": None}
        )
        assert merged.status is SessionStatus.OK
        updated = await client.update_session_data_in_database(handle, {"foo": "bar"})
        assert updated.status is SessionStatus.OK

        info = await client.get_session_information(handle)
        assert info.info is not None
        claims = info.info.custom_claims_in_access_token_payload
        assert "someKey" not in claims
        assert claims["someKey2"] == "someValue"
        assert info.info.session_data_in_database == {"foo": "bar"}

    regenerated = await client.regenerate_access_token(
        created[0].session.access_token, {"new": "payload"}
    )
    assert regenerated.status is SessionStatus.OK
    assert regenerated.session_handle == created[0].session.session_handle
    assert regenerated.user_data_in_jwt == {"new": "payload"}
    assert regenerated.access_token is not None
    assert regenerated.access_token.token != created[0].session.access_token
    assert regenerated.access_token.expiry == created[0].access_token.expiry

    for missing in (
        await client.merge_into_access_token_payload("invalidHandle", {"a": 1}),
        await client.update_session_data_in_database("invalidHandle", {"a": 1}),
        await client.revoke_session("invalidHandle"),
    ):
        assert missing.status is SessionStatus.SESSION_DOES_NOT_EXIST
    info = await client.get_session_information("invalidHandle")
    assert info.status is SessionStatus.SESSION_DOES_NOT_EXIST
    assert info.info is None


async def test_revoke_all_and_multiple_return_what_was_revoked(client: SessionClient) -> None:
    sessions = [await client.create_session("user-a") for _ in range(3)]
    handles = [s.session.session_handle for s in sessions]
    other = await client.create_session("user-b")

    revoked = await client.revoke_multiple_sessions([handles[0], "unknown-handle"])
    assert (revoked.status, revoked.session_handles) == (SessionStatus.OK, (handles[0],))
    revoked_all = await client.revoke_all_sessions_for_user("user-a")
    assert revoked_all.status is SessionStatus.OK
    assert sorted(revoked_all.session_handles) == sorted(handles[1:])
    user_a = await client.get_all_session_handles_for_user("user-a")
    assert (user_a.status, user_a.session_handles) == (SessionStatus.OK, ())
    user_b = await client.get_all_session_handles_for_user("user-b")
    assert user_b.session_handles == (other.session.session_handle,)
    assert (await client.revoke_all_sessions_for_user("user-a")).session_handles == ()
    nothing = await client.revoke_multiple_sessions([])
    assert (nothing.status, nothing.session_handles) == (SessionStatus.OK, ())


async def test_regenerate_with_an_expired_token_stores_the_payload_without_a_token(
    client: SessionClient, clock: ManualClock
) -> None:
    created = await client.create_session("user-id", {"a": 1})
    clock.advance(ACCESS_TOKEN_VALIDITY_MS + 1000)

    regenerated = await client.regenerate_access_token(created.session.access_token, {"b": 2})
    assert regenerated.status is SessionStatus.OK
    assert regenerated.access_token is None
    info = await client.get_session_information(created.session.session_handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload["b"] == 2


async def test_regenerate_for_a_revoked_session_is_unauthorised(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    await client.revoke_session(created.session.session_handle)
    regenerated = await client.regenerate_access_token(created.session.access_token, {"b": 2})
    assert regenerated.status is SessionStatus.UNAUTHORISED
    assert regenerated.access_token is None


# -- C. refresh, theft and revocation ------------------------------------------------------------


async def test_refresh_rotates_both_tokens(client: SessionClient) -> None:
    created = await client.create_session("user-id", {"role": "admin"})
    refreshed = await client.refresh_session(created.refresh_token.token)

    assert refreshed.status is SessionStatus.OK
    assert refreshed.session is not None
    assert refreshed.access_token is not None
    assert refreshed.refresh_token is not None
    assert refreshed.session.session_handle == created.session.session_handle
    assert refreshed.access_token.token != created.access_token.token
    assert refreshed.refresh_token.token != created.refresh_token.token
    assert refreshed.session.access_token_payload["role"] == "admin"
    assert refreshed.token_theft is None


async def test_reusing_a_refresh_token_after_its_successor_was_used_is_theft(
    client: SessionClient,
) -> None:
    created = await client.create_session("user-id")
    first = await client.refresh_session(created.refresh_token.token)
    assert first.refresh_token is not None
    # Using the child promotes it; the parent is now an old token.
    second = await client.refresh_session(first.refresh_token.token)
    assert second.status is SessionStatus.OK

    theft = await client.refresh_session(created.refresh_token.token)
    assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
    assert theft.token_theft is not None
    assert theft.token_theft.session_handle == created.session.session_handle
    assert theft.token_theft.user_id == "user-id"
    assert theft.session is None
    assert theft.refresh_token is None


async def _steal_and_get_caught(client: SessionClient) -> tuple[str, str, str]:
    """A thief copies the refresh token R1 and uses it first (getting R2 and an access
    token); the victim then uses R1 too, after R2's promotion: theft. Returns the session
    handle and the thief's newest refresh and access tokens."""
    created = await client.create_session("victim")
    victim = await client.refresh_session(created.refresh_token.token)
    assert victim.refresh_token is not None
    stolen = victim.refresh_token.token
    thief = await client.refresh_session(stolen)
    assert thief.refresh_token is not None and thief.access_token is not None
    promoted = await client.get_session(thief.access_token.token)  # the thief's first use
    assert promoted.status is SessionStatus.OK and promoted.new_access_token is not None
    theft = await client.refresh_session(stolen)
    assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
    assert theft.token_theft is not None
    assert theft.token_theft.session_handle == created.session.session_handle
    return (
        created.session.session_handle,
        thief.refresh_token.token,
        promoted.new_access_token.token,
    )


async def test_token_theft_revokes_the_session_by_default(client: SessionClient) -> None:
    handle, thief_refresh, thief_access = await _steal_and_get_caught(client)
    # As after the SDK's default theft handler: the session is gone for the thief too.
    refreshed = await client.refresh_session(thief_refresh)
    assert refreshed.status is SessionStatus.UNAUTHORISED
    checked = await client.get_session(thief_access, check_database=True)
    assert checked.status is SessionStatus.UNAUTHORISED
    assert (await client.get_all_session_handles_for_user("victim")).session_handles == ()
    assert (await client.revoke_session(handle)).status is SessionStatus.SESSION_DOES_NOT_EXIST


async def test_token_theft_leaves_the_session_to_the_caller_when_configured(
    make_service: MakeService,
) -> None:
    service = await make_service(revoke_session_on_token_theft=False)
    async with SessionClient.insecure(service.address) as client:
        handle, thief_refresh, thief_access = await _steal_and_get_caught(client)
        assert (await client.refresh_session(thief_refresh)).status is SessionStatus.OK
        checked = await client.get_session(thief_access, check_database=True)
        assert checked.status is SessionStatus.OK
        assert (await client.revoke_session(handle)).status is SessionStatus.OK


async def test_refresh_after_revoke_and_with_garbage_is_unauthorised(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    assert (await client.revoke_session(created.session.session_handle)).status is SessionStatus.OK

    after_revoke = await client.refresh_session(created.refresh_token.token)
    assert after_revoke.status is SessionStatus.UNAUTHORISED
    for garbage in ("not-a-refresh-token", ""):
        result = await client.refresh_session(garbage)
        assert result.status is SessionStatus.UNAUTHORISED, garbage
        assert not garbage or garbage not in result.message


async def test_revoked_session_is_caught_only_with_check_database(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    await client.revoke_session(created.session.session_handle)

    local = await client.get_session(created.session.access_token)
    assert local.status is SessionStatus.OK  # stateless until the token expires
    checked = await client.get_session(created.session.access_token, check_database=True)
    assert checked.status is SessionStatus.UNAUTHORISED
    assert checked.session is None
