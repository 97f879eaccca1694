"""GetSession with claims to fetch: a value is fetched exactly when the SDK would (missing,
or older than the validator's max age), merged, and answered with the new access token;
the cached fast path steps aside while a claim may need fetching."""

from __future__ import annotations

import grpc
import pytest
from session_client import SessionClient, SessionStatus, has_value, includes, includes_all

from session_common.clock import ManualClock
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import ClaimValidatorKind, ClaimValidatorSpec
from session_service.server import RunningService
from tests.service import fetched_claims
from tests.service.claims_module.conftest import CLAIMS, ISSUER, front_token_payload
from tests.service.conftest import MakeService
from tests.service.domain.domain_helpers import decode_payload as payload_of
from tests.service.fetched_claims import fetch_calls, seen_contexts


async def test_a_missing_value_is_fetched_and_the_answer_carries_a_new_token(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    created = await claims_client.create_session("alice", {"role": "admin"})
    old_token = created.session.access_token
    validators = [has_value("verified", True)]

    result = await claims_client.get_session(old_token, claim_validators=validators)

    assert result.status is SessionStatus.OK
    assert fetch_calls == {"verified": 1}
    assert seen_contexts == [("verified", "alice", {})]
    assert result.new_access_token is not None
    assert result.session is not None
    new_token = result.new_access_token.token
    assert result.session.access_token == new_token != old_token
    stored = {"v": True, "t": clock.now_ms()}
    assert payload_of(new_token)["verified"] == stored
    assert payload_of(new_token)["role"] == "admin"
    assert payload_of(new_token)["sessionHandle"] == created.session.session_handle
    assert result.session.access_token_payload == payload_of(new_token)
    assert front_token_payload(result.session.front_token) == {
        "ate": result.session.expiry,
        "uid": "alice",
        "up": payload_of(new_token),
    }
    assert result.session.expiry == created.session.expiry  # regenerate keeps the expiry
    info = await claims_client.get_session_information(created.session.session_handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {
        "role": "admin",
        "iss": ISSUER,
        "verified": stored,
    }

    again = await claims_client.get_session(new_token, claim_validators=validators)
    assert again.status is SessionStatus.OK
    assert again.new_access_token is None
    assert fetch_calls == {"verified": 1}  # the new token carries the value

    # The old token still lacks it: the SDK fetches again for it.
    stale = await claims_client.get_session(old_token, claim_validators=validators)
    assert stale.status is SessionStatus.OK
    assert stale.new_access_token is not None
    assert fetch_calls == {"verified": 2}


async def test_the_first_use_after_a_refresh_is_promoted_and_then_gets_the_fetched_value(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("amy")
    refreshed = await claims_client.refresh_session(created.refresh_token.token)
    assert refreshed.session is not None
    assert payload_of(refreshed.session.access_token)["parentRefreshTokenHash1"] is not None

    result = await claims_client.get_session(
        refreshed.session.access_token, claim_validators=[has_value("verified", True)]
    )

    assert result.status is SessionStatus.OK
    assert fetch_calls == {"verified": 1}
    assert result.new_access_token is not None
    final = payload_of(result.new_access_token.token)
    assert final["verified"]["v"] is True
    assert final["parentRefreshTokenHash1"] is None  # the core promoted, then regenerated
    again = await claims_client.get_session(
        result.new_access_token.token, claim_validators=[has_value("verified", True)]
    )
    assert (again.status, again.new_access_token) == (SessionStatus.OK, None)


async def test_a_value_is_fetched_again_once_older_than_the_max_age(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    set_at = clock.now_ms()
    created = await claims_client.create_session("bob", {"verified": {"v": True, "t": set_at}})
    token = created.session.access_token
    validators = [has_value("verified", True, max_age_seconds=300)]

    fresh = await claims_client.get_session(token, claim_validators=validators)
    assert (fresh.status, fresh.new_access_token, fetch_calls["verified"]) == (
        SessionStatus.OK,
        None,
        0,
    )

    clock.advance(300_000)  # exactly the max age: not older than it
    boundary = await claims_client.get_session(token, claim_validators=validators)
    assert (boundary.status, boundary.new_access_token) == (SessionStatus.OK, None)
    assert fetch_calls["verified"] == 0

    clock.advance(1)
    old = await claims_client.get_session(token, claim_validators=validators)
    assert old.status is SessionStatus.OK
    assert fetch_calls["verified"] == 1
    assert old.new_access_token is not None
    assert payload_of(old.new_access_token.token)["verified"] == {"v": True, "t": clock.now_ms()}

    # Without a max age an old value is never fetched again.
    clock.advance(3_000_000)
    ageless = await claims_client.get_session(token, claim_validators=[has_value("verified", True)])
    assert (ageless.status, ageless.new_access_token) == (SessionStatus.OK, None)
    assert fetch_calls["verified"] == 1


async def test_a_claims_default_max_age_applies_when_the_validator_sets_none(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    created = await claims_client.create_session(
        "carol", {"aged": {"v": False, "t": clock.now_ms() - 301_000}}
    )
    token = created.session.access_token
    # ValidateClaimsInJwtPayload never fetches: the old value is reported expired against
    # the claim's default max age of 300 s.
    checked = await claims_client.validate_claims_in_jwt_payload(
        "carol", payload_of(token), [has_value("aged", True)]
    )
    assert checked.status is SessionStatus.INVALID_CLAIMS
    assert [(e.id, e.reason) for e in checked.invalid_claims] == [
        ("aged", {"message": "expired", "ageInSeconds": 301, "maxAgeInSeconds": 300})
    ]
    assert fetch_calls["aged"] == 0

    result = await claims_client.get_session(token, claim_validators=[has_value("aged", True)])
    assert result.status is SessionStatus.OK
    assert fetch_calls["aged"] == 1
    assert result.new_access_token is not None
    assert payload_of(result.new_access_token.token)["aged"] == {"v": True, "t": clock.now_ms()}


async def test_no_value_found_means_no_new_token_and_invalid_claims(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("dave")
    result = await claims_client.get_session(
        created.session.access_token, claim_validators=[has_value("plan", "pro")]
    )
    assert result.status is SessionStatus.INVALID_CLAIMS
    assert fetch_calls["plan"] == 1
    assert result.new_access_token is None
    assert [(e.id, e.reason) for e in result.invalid_claims] == [
        ("plan", {"message": "value does not exist", "expectedValue": "pro", "actualValue": None})
    ]


async def test_a_fetched_wrong_value_is_invalid_and_its_new_token_still_returned(
    claims_client: SessionClient,
) -> None:
    fetched_claims.values["verified"] = False
    created = await claims_client.create_session("erin")
    result = await claims_client.get_session(
        created.session.access_token, claim_validators=[has_value("verified", True)]
    )
    assert result.status is SessionStatus.INVALID_CLAIMS
    assert [(e.id, e.reason) for e in result.invalid_claims] == [
        ("verified", {"message": "wrong value", "expectedValue": True, "actualValue": False})
    ]
    # As in the SDK, the value was merged before validation failed: the caller gets the token.
    assert result.new_access_token is not None
    assert payload_of(result.new_access_token.token)["verified"]["v"] is False


async def test_array_claims_and_one_fetch_for_several_validators_of_a_claim(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("frank")
    result = await claims_client.get_session(
        created.session.access_token,
        claim_validators=[
            includes("roles", "admin"),
            includes_all("roles", ["admin", "user"]),
            has_value("tier", "gold"),  # a synchronous fetch_value
        ],
    )
    assert result.status is SessionStatus.OK
    assert fetch_calls == {"roles": 1, "tier": 1}
    assert result.new_access_token is not None
    new_payload = payload_of(result.new_access_token.token)
    assert new_payload["roles"]["v"] == ["admin", "user"]
    assert new_payload["tier"]["v"] == "gold"


async def test_a_validator_that_does_not_fit_its_claim_is_invalid_argument(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("grace")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await claims_client.get_session(
            created.session.access_token,
            claim_validators=[has_value("verified", True), has_value("roles", "admin")],
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "claim_validators[1]" in (raised.value.details() or "")
    assert fetch_calls == {}


async def test_a_validator_of_an_undefined_key_only_reads(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("heidi")
    result = await claims_client.get_session(
        created.session.access_token, claim_validators=[has_value("st-ev", True)]
    )
    assert result.status is SessionStatus.INVALID_CLAIMS
    assert result.new_access_token is None
    assert fetch_calls == {}


async def test_a_revoked_session_whose_claims_are_fetched_is_unauthorised(
    make_service: MakeService,
) -> None:
    # Without the revocation feed, which would refuse the session before any fetch
    # (tests/service/test_revocation_follower.py).
    service = await make_service(claims_module=CLAIMS, revocation_feed=False)
    async with SessionClient.insecure(service.address) as claims_client:
        created = await claims_client.create_session("ivan")
        await claims_client.revoke_session(created.session.session_handle)
        # Verified locally (the SDK does not ask the core) until the merge asks the core.
        result = await claims_client.get_session(
            created.session.access_token, claim_validators=[has_value("verified", True)]
        )
    assert result.status is SessionStatus.UNAUTHORISED
    assert result.message == "Session does not exist anymore."
    assert fetch_calls["verified"] == 1


async def test_a_server_wide_validator_of_a_claim_fetches_and_keeps_the_fast_path_off(
    make_service: MakeService, clock: ManualClock
) -> None:
    validator = ClaimValidatorSpec(
        kind=ClaimValidatorKind.HAS_VALUE, key="verified", value=True, max_age_seconds=300
    )
    service = await make_service(claims_module=CLAIMS, required_claim_validators=(validator,))
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("judy")
        first = await client.get_session(created.session.access_token)
        assert first.status is SessionStatus.OK
        assert first.new_access_token is not None
        token = first.new_access_token.token
        assert fetch_calls["verified"] == 1

        for _ in range(3):  # a verified token, seen again and again: no fetch, no new token
            again = await client.get_session(token)
            assert (again.status, again.new_access_token) == (SessionStatus.OK, None)
        assert fetch_calls["verified"] == 1
        wire = pb.GetSessionRequest(access_token=token).SerializeToString()
        assert service.servicer.fast_path.answer(wire) is None

        clock.advance(300_001)  # the cached OK answer would now be wrong: the value is old
        due = await client.get_session(token)
        assert due.status is SessionStatus.OK
        assert due.new_access_token is not None
        assert fetch_calls["verified"] == 2


async def test_a_claims_module_alone_keeps_the_fast_path(
    claims_service: RunningService, claims_client: SessionClient
) -> None:
    created = await claims_client.create_session("ken")
    token = created.session.access_token
    for _ in range(2):  # first sight, then the decoded tier
        assert (await claims_client.get_session(token)).status is SessionStatus.OK
    wire = pb.GetSessionRequest(access_token=token).SerializeToString()
    answer = claims_service.servicer.fast_path.answer(wire)
    assert answer is not None
    assert answer.status == pb.SESSION_STATUS_OK
    # The same token with a user_context is no token-only request: the parser answers it.
    with_context = pb.GetSessionRequest(access_token=token)
    with_context.user_context.update({"request_id": "r-1"})
    assert claims_service.servicer.fast_path.answer(with_context.SerializeToString()) is None
    verified = await claims_client.get_session(token, user_context={"request_id": "r-1"})
    assert verified.status is SessionStatus.OK
    assert fetch_calls == {}
