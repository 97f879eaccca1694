"""Declarative claim validators: every kind, the SDK's exact reason dicts and order,
server-wide validators and the override flag, and the by-handle claim functions."""

from __future__ import annotations

from typing import Any

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_service.domain.api import (
    ClaimError,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    InvalidArgument,
    SessionRecipe,
    Status,
)
from session_service.domain.claims import validate_claims
from tests.service.domain.domain_helpers import ISSUER, MakeManager, core_calls, domain_config

HAS = ClaimValidatorKind.HAS_VALUE
INC = ClaimValidatorKind.INCLUDES
EXC = ClaimValidatorKind.EXCLUDES
INC_ALL = ClaimValidatorKind.INCLUDES_ALL
EXC_ALL = ClaimValidatorKind.EXCLUDES_ALL
NOW = 1_800_000_000_000


def _claim(value: Any, age_s: float = 0) -> dict[str, Any]:
    return {"v": value, "t": NOW - int(age_s * 1000)}


PAYLOAD = {
    "role": _claim("admin"),
    "verified": _claim(True, age_s=600),
    "perms": _claim(["read", "write"]),
    "old-perms": _claim(["read"], age_s=600),
    "bare": "admin",
    "untimed": {"v": 1},
}


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (ClaimValidatorSpec(HAS, "role", value="admin"), None),
        (
            ClaimValidatorSpec(HAS, "role", value="user"),
            {"message": "wrong value", "expectedValue": "user", "actualValue": "admin"},
        ),
        (
            ClaimValidatorSpec(HAS, "missing", value="x"),
            {"message": "value does not exist", "expectedValue": "x", "actualValue": None},
        ),
        # is_true with a max age: too old is reported before the value is compared.
        (
            ClaimValidatorSpec(HAS, "verified", value=False, max_age_seconds=300),
            {"message": "expired", "ageInSeconds": 600, "maxAgeInSeconds": 300},
        ),
        (ClaimValidatorSpec(HAS, "verified", value=True, max_age_seconds=600), None),
        (ClaimValidatorSpec(HAS, "verified", value=True, max_age_seconds=0), None),
        (
            ClaimValidatorSpec(HAS, "verified", value=False),
            {"message": "wrong value", "expectedValue": False, "actualValue": True},
        ),
        (ClaimValidatorSpec(INC, "perms", value="read"), None),
        (
            ClaimValidatorSpec(INC, "perms", value="admin"),
            {
                "message": "wrong value",
                "expectedToInclude": "admin",
                "actualValue": ["read", "write"],
            },
        ),
        (
            ClaimValidatorSpec(INC, "missing", value="admin"),
            {"message": "value does not exist", "expectedToInclude": "admin", "actualValue": None},
        ),
        (ClaimValidatorSpec(EXC, "perms", value="admin"), None),
        (
            ClaimValidatorSpec(EXC, "perms", value="write"),
            {
                "message": "wrong value",
                "expectedToNotInclude": "write",
                "actualValue": ["read", "write"],
            },
        ),
        (ClaimValidatorSpec(INC_ALL, "perms", values=("read", "write")), None),
        (ClaimValidatorSpec(INC_ALL, "perms", values=()), None),
        (
            ClaimValidatorSpec(INC_ALL, "perms", values=("read", "delete")),
            {
                "message": "wrong value",
                "expectedToInclude": ["read", "delete"],
                "actualValue": ["read", "write"],
            },
        ),
        (
            ClaimValidatorSpec(INC_ALL, "missing", values=("a",)),
            {"message": "value does not exist", "expectedToInclude": ["a"], "actualValue": None},
        ),
        (ClaimValidatorSpec(EXC_ALL, "perms", values=("delete", "admin")), None),
        (
            ClaimValidatorSpec(EXC_ALL, "perms", values=("delete", "write")),
            {
                "message": "wrong value",
                "expectedToNotInclude": ["delete", "write"],
                "actualValue": ["read", "write"],
            },
        ),
        (
            ClaimValidatorSpec(EXC_ALL, "old-perms", values=("x",), max_age_seconds=599),
            {"message": "expired", "ageInSeconds": 600, "maxAgeInSeconds": 599},
        ),
        (ClaimValidatorSpec(EXC_ALL, "old-perms", values=("x",), max_age_seconds=600), None),
        # A string claim is its set of characters to the SDK's array validators.
        (ClaimValidatorSpec(INC, "role", value="a"), None),
        (
            ClaimValidatorSpec(INC, "role", value="ad"),
            {"message": "wrong value", "expectedToInclude": "ad", "actualValue": "admin"},
        ),
        # A claim the SDK cannot read (it raises) fails as malformed.
        (
            ClaimValidatorSpec(INC, "bare", value="a"),
            {"message": "malformed value", "expectedToInclude": "a", "storedValue": "admin"},
        ),
        (
            ClaimValidatorSpec(HAS, "untimed", value=1, max_age_seconds=60),
            {"message": "malformed value", "expectedValue": 1, "storedValue": {"v": 1}},
        ),
        (ClaimValidatorSpec(HAS, "untimed", value=1), None),
    ],
)
def test_reason_dicts(spec: ClaimValidatorSpec, reason: dict[str, Any] | None) -> None:
    errors = validate_claims(PAYLOAD, [spec], NOW)
    if reason is None:
        assert errors == []
    else:
        assert errors == [ClaimError(id=spec.key, reason=reason)]


def test_all_failures_reported_in_validator_order_with_ids() -> None:
    specs = [
        ClaimValidatorSpec(HAS, "role", value="user", id="must-be-user"),
        ClaimValidatorSpec(INC, "perms", value="read"),
        ClaimValidatorSpec(HAS, "missing", value=1),
    ]
    errors = validate_claims(PAYLOAD, specs, NOW)
    assert [e.id for e in errors] == ["must-be-user", "missing"]


def test_a_negative_max_age_expires_every_value_not_set_in_the_future() -> None:
    payload = {"now": {"v": [1], "t": NOW}, "later": {"v": [1], "t": NOW + 2000}}
    specs = [
        ClaimValidatorSpec(INC, "now", value=1, max_age_seconds=-1),
        ClaimValidatorSpec(INC, "later", value=1, max_age_seconds=-1),
        ClaimValidatorSpec(INC, "later", value=1, max_age_seconds=-3, id="much-later"),
    ]
    assert validate_claims(payload, specs, NOW) == [
        ClaimError("now", {"message": "expired", "ageInSeconds": 0.0, "maxAgeInSeconds": -1}),
        ClaimError(
            "much-later", {"message": "expired", "ageInSeconds": -2.0, "maxAgeInSeconds": -3}
        ),
    ]


def test_expired_age_is_fractional_seconds() -> None:
    payload = {"k": {"v": 1, "t": NOW - 1500}}
    spec = ClaimValidatorSpec(HAS, "k", value=1, max_age_seconds=1)
    [error] = validate_claims(payload, [spec], NOW)
    assert error.reason == {"message": "expired", "ageInSeconds": 1.5, "maxAgeInSeconds": 1}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (ClaimValidatorSpec(HAS, "", value=1), "claim_validators[0].key"),
        (ClaimValidatorSpec(HAS, "k"), "claim_validators[0].value"),
        (ClaimValidatorSpec(INC_ALL, "k", value=1), "claim_validators[0].value"),
        (ClaimValidatorSpec(INC, "k", value=1, values=(1,)), "claim_validators[0].values"),
        (ClaimValidatorSpec(HAS, "k", value=1, id=""), "claim_validators[0].id"),
        (ClaimValidatorSpec(INC, "k", value={"a": 1}), "claim_validators[0].value"),
        (ClaimValidatorSpec(EXC, "k", value=["a", ["b"]]), "claim_validators[0].value"),
        (ClaimValidatorSpec(INC_ALL, "k", values=("a", {})), "claim_validators[0].values"),
    ],
)
async def test_bad_validators_are_invalid_arguments(
    manager: SessionRecipe, spec: ClaimValidatorSpec, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await manager.get_session("irrelevant", claim_validators=[spec])
    assert raised.value.field == field


async def test_get_session_validates_claims_in_the_token(
    manager: SessionRecipe, core_node: RunningCore, domain_clock: ManualClock
) -> None:
    now = domain_clock.now_ms()
    created = await manager.create_new_session(
        "u", {"st-role": {"v": ["admin"], "t": now}, "st-ev": {"v": False, "t": now}}
    )
    assert created.session is not None
    token = created.session.access_token
    ok = await manager.get_session(
        token, claim_validators=[ClaimValidatorSpec(INC, "st-role", value="admin")]
    )
    assert ok.status is Status.OK and ok.invalid_claims == ()
    bad = await manager.get_session(
        token,
        claim_validators=[
            ClaimValidatorSpec(HAS, "st-ev", value=True),
            ClaimValidatorSpec(EXC, "st-role", value="admin", id="not-admin"),
        ],
    )
    assert bad.status is Status.INVALID_CLAIMS
    assert bad.message == "invalid claim"
    assert bad.invalid_claims == (
        ClaimError(
            "st-ev", {"message": "wrong value", "expectedValue": True, "actualValue": False}
        ),
        ClaimError(
            "not-admin",
            {
                "message": "wrong value",
                "expectedToNotInclude": "admin",
                "actualValue": ["admin"],
            },
        ),
    )
    # The session is still returned with INVALID_CLAIMS (nothing a core issued is lost).
    assert bad.session is not None and bad.session.session_handle == created.session.session_handle
    domain_clock.advance(301_000)
    aged = await manager.get_session(
        token, claim_validators=[ClaimValidatorSpec(HAS, "st-ev", value=False, max_age_seconds=300)]
    )
    assert aged.invalid_claims == (
        ClaimError("st-ev", {"message": "expired", "ageInSeconds": 301.0, "maxAgeInSeconds": 300}),
    )
    assert core_calls(core_node, "/recipe/session/verify") == 0


async def test_global_validators_and_override(
    make_manager: MakeManager, core_node: RunningCore
) -> None:
    required = (ClaimValidatorSpec(HAS, "st-ev", value=True),)
    manager = await make_manager(core_node.url, required_claim_validators=required)
    created = await manager.create_new_session("u", {})
    assert created.session is not None
    token = created.session.access_token
    missing = {"message": "value does not exist", "expectedValue": True, "actualValue": None}

    result = await manager.get_session(token)
    assert result.status is Status.INVALID_CLAIMS
    assert result.invalid_claims == (ClaimError("st-ev", missing),)

    # Request validators run after the global ones.
    extra = ClaimValidatorSpec(HAS, "other", value=1)
    result = await manager.get_session(token, claim_validators=[extra])
    assert [e.id for e in result.invalid_claims] == ["st-ev", "other"]

    # Override replaces the global list: with an empty list nothing is validated.
    result = await manager.get_session(token, override_global_claim_validators=True)
    assert result.status is Status.OK
    result = await manager.get_session(
        token, claim_validators=[extra], override_global_claim_validators=True
    )
    assert [e.id for e in result.invalid_claims] == ["other"]

    # validate_claims_for_session_handle applies the same rules to the stored payload.
    by_handle = await manager.validate_claims_for_session_handle(created.session.session_handle)
    assert by_handle.status is Status.INVALID_CLAIMS
    assert by_handle.invalid_claims == (ClaimError("st-ev", missing),)
    overridden = await manager.validate_claims_for_session_handle(
        created.session.session_handle, override_global_claim_validators=True
    )
    assert overridden.status is Status.OK


def test_config_refuses_bad_global_validators() -> None:
    with pytest.raises(InvalidArgument) as raised:
        domain_config(
            "http://127.0.0.1:1",
            required_claim_validators=(ClaimValidatorSpec(HAS, "k"),),
        )
    assert raised.value.field == "required_claim_validators[0].value"


async def test_set_get_remove_claim_by_handle(
    manager: SessionRecipe, domain_clock: ManualClock
) -> None:
    created = await manager.create_new_session("u", {"keep": 1})
    assert created.session is not None
    handle = created.session.session_handle
    set_at = domain_clock.now_ms()
    assert (await manager.set_claim_value(handle, "st-role", ["admin"])).status is Status.OK
    info = await manager.get_session_information(handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {
        "keep": 1,
        "iss": ISSUER,
        "st-role": {"v": ["admin"], "t": set_at},
    }
    value = await manager.get_claim_value(handle, "st-role")
    assert (value.status, value.value) == (Status.OK, ["admin"])
    absent = await manager.get_claim_value(handle, "nope")
    assert (absent.status, absent.value) == (Status.OK, None)

    # Overwrite, then validate by handle.
    domain_clock.advance(10_000)
    assert (await manager.set_claim_value(handle, "st-role", ["user"])).status is Status.OK
    validated = await manager.validate_claims_for_session_handle(
        handle, claim_validators=[ClaimValidatorSpec(INC, "st-role", value="admin")]
    )
    assert validated.invalid_claims == (
        ClaimError(
            "st-role",
            {"message": "wrong value", "expectedToInclude": "admin", "actualValue": ["user"]},
        ),
    )

    # The claim reaches a token the next time the core mints one.
    checked = await manager.get_session(created.session.access_token, check_database=True)
    assert checked.session is not None and checked.session.new_access_token is not None
    assert checked.session.access_token_payload["st-role"] == {
        "v": ["user"],
        "t": set_at + 10_000,
    }

    assert (await manager.remove_claim(handle, "st-role")).status is Status.OK
    info = await manager.get_session_information(handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {"keep": 1, "iss": ISSUER}


async def test_claim_functions_on_unknown_handle(manager: SessionRecipe) -> None:
    gone = Status.SESSION_DOES_NOT_EXIST
    assert (await manager.set_claim_value("nope", "k", 1)).status is gone
    assert (await manager.get_claim_value("nope", "k")).status is gone
    assert (await manager.remove_claim("nope", "k")).status is gone
    assert (await manager.validate_claims_for_session_handle("nope")).status is gone


async def test_protected_claim_key_is_refused(manager: SessionRecipe) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await manager.set_claim_value("handle", "sub", 1)
    assert raised.value.field == "claim_key"
