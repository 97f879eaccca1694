"""GetSession end to end: a fresh token verifies without a core call, only the first use
after a refresh and ``check_database`` ask the core, the token cache answers as a fresh
verification would; the token's format, expiry, tampering and anti-CSRF. Ported from
supertokens-python 0.14.0's tests (tests/test_session.py::
test_that_once_the_info_is_loaded_it_doesnt_query_again and
::test_that_verify_session_doesnt_always_call_core, tests/sessions/test_access_token_v3.py).

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
