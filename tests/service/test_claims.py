"""Session claims end to end, as supertokens-python 0.14.0's claims framework
(``recipe/session/claim_base_classes``) and its tests (``tests/sessions/claims``) have them:
declarative validators with the SDK's exact reason dicts, server-wide validators and their
override, and the Set/Get/Remove/ValidateClaims RPCs."""

from __future__ import annotations

from typing import Any

from session_client import (
    SessionClient,
    SessionStatus,
    excludes,
    excludes_all,
    has_value,
    includes,
    includes_all,
)

from session_common.clock import ManualClock
from session_service.domain.api import ClaimValidatorKind, ClaimValidatorSpec
from tests.service.conftest import MakeService

ST_EV_IS_TRUE = ClaimValidatorSpec(kind=ClaimValidatorKind.HAS_VALUE, key="st-ev", value=True)


def claim(value: Any, set_at_ms: int) -> dict[str, Any]:
    """A PrimitiveClaim as stored in the payload."""
    return {"v": value, "t": set_at_ms}


async def test_has_value_reasons_missing_wrong_and_expired(
    client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    created = await client.create_session(
        "user-id", {"role": claim("user", now), "old": claim(True, now - 600_000)}
    )
    token = created.session.access_token

    result = await client.get_session(
        token,
        claim_validators=[
            has_value("st-ev", True),
            has_value("role", "admin"),
            has_value("old", True, max_age_seconds=300),
            has_value("role", "user", id="role-is-user"),
        ],
    )

    assert result.status is SessionStatus.INVALID_CLAIMS
    assert result.session is not None  # a verified session, whose claims are not enough
    assert [(e.id, e.reason) for e in result.invalid_claims] == [
        ("st-ev", {"message": "value does not exist", "expectedValue": True, "actualValue": None}),
        ("role", {"message": "wrong value", "expectedValue": "admin", "actualValue": "user"}),
        ("old", {"message": "expired", "ageInSeconds": 600, "maxAgeInSeconds": 300}),
    ]


async def test_valid_claims_pass(client: SessionClient, clock: ManualClock) -> None:
    now = clock.now_ms()
    created = await client.create_session("user-id", {"st-ev": claim(True, now)})
    result = await client.get_session(
        created.session.access_token,
        claim_validators=[has_value("st-ev", True, max_age_seconds=300)],
    )
    assert result.status is SessionStatus.OK
    assert result.invalid_claims == ()


async def test_array_validators(client: SessionClient, clock: ManualClock) -> None:
    now = clock.now_ms()
    created = await client.create_session("user-id", {"perms": claim(["read", "write"], now)})
    token = created.session.access_token
    passing = [
        includes("perms", "read"),
        excludes("perms", "delete"),
        includes_all("perms", ["read", "write"]),
        excludes_all("perms", ["delete", "admin"]),
    ]
    ok = await client.get_session(token, claim_validators=passing)
    assert ok.status is SessionStatus.OK

    failing = [
        includes("perms", "delete"),
        excludes("perms", "write"),
        includes_all("perms", ["read", "admin"]),
        excludes_all("perms", ["admin", "read"]),
        includes("missing", "x"),
    ]
    result = await client.get_session(token, claim_validators=failing)
    assert result.status is SessionStatus.INVALID_CLAIMS
    actual = ["read", "write"]
    assert [e.reason for e in result.invalid_claims] == [
        {"message": "wrong value", "expectedToInclude": "delete", "actualValue": actual},
        {"message": "wrong value", "expectedToNotInclude": "write", "actualValue": actual},
        {"message": "wrong value", "expectedToInclude": ["read", "admin"], "actualValue": actual},
        {
            "message": "wrong value",
            "expectedToNotInclude": ["admin", "read"],
            "actualValue": actual,
        },
        {"message": "value does not exist", "expectedToInclude": "x", "actualValue": None},
    ]


async def test_server_wide_validators_apply_unless_overridden(
    make_service: MakeService, clock: ManualClock
) -> None:
    service = await make_service(required_claim_validators=(ST_EV_IS_TRUE,))
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("user-id")
        token = created.session.access_token

        required = await client.get_session(token)
        assert required.status is SessionStatus.INVALID_CLAIMS
        assert [e.id for e in required.invalid_claims] == ["st-ev"]

        overridden = await client.get_session(token, override_global_claim_validators=True)
        assert overridden.status is SessionStatus.OK

        added = await client.get_session(token, claim_validators=[has_value("role", "admin")])
        assert [e.id for e in added.invalid_claims] == ["st-ev", "role"]

        verified = await client.create_session("user-id", {"st-ev": claim(True, clock.now_ms())})
        passing = await client.get_session(verified.session.access_token)
        assert passing.status is SessionStatus.OK


async def test_set_get_remove_claim_by_handle(client: SessionClient, clock: ManualClock) -> None:
    created = await client.create_session("user-id")
    handle = created.session.session_handle

    assert (await client.set_claim_value(handle, "st-role", ["admin"])).status is SessionStatus.OK
    value = await client.get_claim_value(handle, "st-role")
    assert value.status is SessionStatus.OK
    assert value.value == ["admin"]
    info = await client.get_session_information(handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {
        "iss": "http://localhost:3001/auth",
        "st-role": {"v": ["admin"], "t": clock.now_ms()},
    }

    assert (await client.remove_claim(handle, "st-role")).status is SessionStatus.OK
    removed = await client.get_claim_value(handle, "st-role")
    assert removed.status is SessionStatus.OK
    assert removed.value is None
    info = await client.get_session_information(handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {"iss": "http://localhost:3001/auth"}


async def test_claims_set_by_handle_reach_the_next_token(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    await client.set_claim_value(created.session.session_handle, "st-ev", True)
    validators = [has_value("st-ev", True)]

    stale = await client.get_session(created.session.access_token, claim_validators=validators)
    assert stale.status is SessionStatus.INVALID_CLAIMS  # the old token predates the claim

    fresh = await client.get_session(
        created.session.access_token, check_database=True, claim_validators=validators
    )
    assert fresh.status is SessionStatus.OK
    assert fresh.new_access_token is not None


async def test_validate_claims_for_session_handle(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    handle = created.session.session_handle
    await client.set_claim_value(handle, "st-role", "user")

    ok = await client.validate_claims_for_session_handle(handle, [has_value("st-role", "user")])
    assert ok.status is SessionStatus.OK
    assert ok.invalid_claims == ()

    bad = await client.validate_claims_for_session_handle(handle, [has_value("st-role", "admin")])
    assert bad.status is SessionStatus.INVALID_CLAIMS
    assert [(e.id, e.reason) for e in bad.invalid_claims] == [
        ("st-role", {"message": "wrong value", "expectedValue": "admin", "actualValue": "user"})
    ]


async def test_claim_rpcs_on_an_unknown_handle(client: SessionClient) -> None:
    unknown = "no-such-handle"
    assert (await client.set_claim_value(unknown, "k", 1)).status is (
        SessionStatus.SESSION_DOES_NOT_EXIST
    )
    assert (await client.get_claim_value(unknown, "k")).status is (
        SessionStatus.SESSION_DOES_NOT_EXIST
    )
    assert (await client.remove_claim(unknown, "k")).status is SessionStatus.SESSION_DOES_NOT_EXIST
    validated = await client.validate_claims_for_session_handle(unknown, [has_value("k", 1)])
    assert validated.status is SessionStatus.SESSION_DOES_NOT_EXIST
