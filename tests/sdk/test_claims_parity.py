"""Claim validation: supertokens-python 0.14.0 and the service on the same tokens and the
same validators, through GetSession and ValidateClaimsForSessionHandle.

Each case is one validator; the SDK's outcome (its result, InvalidClaimsError with its
reasons, or the exception it raises) is computed by the SDK itself, against the same core,
at the same instant (``now_ms``), and must equal the service's.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from session_client import SessionClient

from session_common.clock import ManualClock
from tests.reliability import STATS
from tests.sdk.parity import (
    JSON,
    SdkOracle,
    claim_outcome,
    get_session_claims_outcome,
    validator,
)


def _spec(kind: str, key: str, expected: Any, max_age: int | None = None) -> JSON:
    many = kind in ("includes_all", "excludes_all")
    return {"kind": kind, "key": key, "values" if many else "value": expected, "max_age": max_age}


_EXPECTED_KEYS = {
    "has_value": "expectedValue",
    "includes": "expectedToInclude",
    "includes_all": "expectedToInclude",
    "excludes": "expectedToNotInclude",
    "excludes_all": "expectedToNotInclude",
}


def _documented(spec: JSON, sdk_outcome: JSON, payload: JSON) -> JSON:
    """The service's documented outcome for the SDK's: the same, except that a validator the
    SDK raises on fails with the "malformed value" reason."""
    if sdk_outcome["status"] != "RAISED":
        return sdk_outcome
    expected = spec["values"] if "values" in spec else spec["value"]
    reason = {
        "message": "malformed value",
        _EXPECTED_KEYS[spec["kind"]]: expected,
        "storedValue": payload[spec["key"]],
    }
    return {"status": "INVALID_CLAIMS", "invalid_claims": [{"id": spec["key"], "reason": reason}]}


def _sdk_claims_outcome(answer: JSON) -> JSON:
    return {k: answer[k] for k in ("status", "invalid_claims", "raised") if k in answer}


async def _outcomes(
    sdk: SdkOracle,
    client: SessionClient,
    clock: ManualClock,
    payload: JSON,
    cases: list[JSON],
) -> tuple[list[Any], list[Any]]:
    """(case, path, outcome) for every case through both paths: the SDK's, the service's."""
    created = await client.create_session("claims-parity", payload)
    token, handle = created.session.access_token, created.session.session_handle
    theirs: list[Any] = []
    ours: list[Any] = []
    for spec in cases:
        now = clock.now_ms()
        by_token = await sdk.ask("get_session", now_ms=now, access_token=token, validators=[spec])
        by_handle = await sdk.ask(
            "validate_claims_for_session_handle", now_ms=now, handle=handle, validators=[spec]
        )
        theirs += [
            (spec, "token", _sdk_claims_outcome(by_token)),
            (spec, "handle", _sdk_claims_outcome(by_handle)),
        ]
        got = await client.get_session(
            token, claim_validators=[validator(spec)], override_global_claim_validators=True
        )
        validated = await client.validate_claims_for_session_handle(
            handle, [validator(spec)], override_global_claim_validators=True
        )
        ours += [
            (spec, "token", get_session_claims_outcome(got)),
            (spec, "handle", claim_outcome(validated.status.name, validated.invalid_claims)),
        ]
    STATS["SDK parity cases compared"] += len(theirs)
    return theirs, ours


async def test_array_reasons_carry_the_value_as_passed_and_a_list_means_all(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    payload = {"roles": {"v": ["admin", "editor"], "t": now}, "flags": {"v": [True, 2], "t": now}}
    cases = [
        _spec("includes", "roles", "admin"),
        _spec("includes", "roles", "viewer"),
        _spec("excludes", "roles", "viewer"),
        _spec("excludes", "roles", "admin"),
        _spec("includes", "roles", ["admin", "editor"]),
        _spec("includes", "roles", ["admin", "viewer"]),
        _spec("includes", "roles", []),
        _spec("excludes", "roles", ["viewer", "guest"]),
        _spec("excludes", "roles", ["viewer", "admin"]),
        _spec("includes_all", "roles", ["editor", "admin"]),
        _spec("includes_all", "roles", ["editor", "viewer"]),
        _spec("includes_all", "roles", []),
        _spec("excludes_all", "roles", ["viewer"]),
        _spec("excludes_all", "roles", ["viewer", "editor"]),
        _spec("includes", "missing", "admin"),
        _spec("includes", "missing", ["admin"]),
        _spec("excludes_all", "missing", ["admin"]),
        _spec("includes", "flags", 1),  # JSON true equals 1 in the SDK's set
        _spec("includes", "flags", 2.0),
        _spec("excludes", "flags", False),
        _spec("has_value", "roles", ["admin", "editor"]),
        _spec("has_value", "roles", "admin"),
    ]
    theirs, ours = await _outcomes(sdk, client, clock, payload, cases)
    assert ours == theirs
    reasons = {
        (spec["kind"], str(spec["value"])): outcome["invalid_claims"][0]["reason"]
        for spec, _, outcome in theirs
        if "invalid_claims" in outcome and spec["key"] == "roles" and "value" in spec
    }
    # The two reported mismatches, pinned: a scalar stays a scalar, a list is all of it.
    assert reasons[("includes", "viewer")]["expectedToInclude"] == "viewer"
    assert ("includes", "['admin', 'editor']") not in reasons


async def test_malformed_stored_claims_get_the_sdk_outcome_or_a_malformed_value_reason(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    payload = {
        "text": {"v": "admin", "t": now},  # a string where a list is expected
        "mapping": {"v": {"admin": 1}, "t": now},
        "number": {"v": 5, "t": now},
        "nested": {"v": [["a"], "b"], "t": now},
        "objects": {"v": [{"a": 1}], "t": now},
        "untimed": {"v": ["admin"]},
        "untimed-scalar": {"v": "user"},
        "text-time": {"v": ["admin"], "t": "yesterday"},
        "bool-time": {"v": True, "t": True},
        "null-time": {"v": "user", "t": None},
        "bare": "admin",
        "null": None,
        "list": ["admin"],
        "null-value": {"v": None, "t": now},
        "old-nested": {"v": [["a"]], "t": now - 600_000},
    }
    cases = [
        _spec("includes", "text", "a"),
        _spec("includes", "text", "admin"),
        _spec("excludes", "text", "z"),
        _spec("includes", "mapping", "admin"),
        _spec("includes", "number", 5),
        _spec("includes", "nested", "b"),
        _spec("includes", "objects", "a"),
        _spec("includes", "old-nested", "a", max_age=300),
        _spec("includes", "untimed", "admin"),
        _spec("has_value", "untimed-scalar", "user"),
        _spec("has_value", "untimed-scalar", "user", max_age=300),
        _spec("includes", "text-time", "admin"),
        _spec("has_value", "text-time", ["admin"]),
        _spec("has_value", "text-time", ["admin"], max_age=300),
        _spec("has_value", "bool-time", True, max_age=300),
        _spec("has_value", "bool-time", True),
        _spec("has_value", "null-time", "user"),
        _spec("has_value", "null-time", "user", max_age=300),
        _spec("includes", "null-time", "u"),
        _spec("has_value", "bare", "admin"),
        _spec("includes", "bare", "admin"),
        _spec("has_value", "null", "admin"),
        _spec("includes_all", "null", ["admin"]),
        _spec("has_value", "list", ["admin"]),
        _spec("has_value", "null-value", "x"),
        _spec("excludes", "null-value", "x"),
    ]
    theirs, ours = await _outcomes(sdk, client, clock, payload, cases)
    # Where the SDK has an outcome, the service gives it; where the SDK raises, the validator
    # fails with the documented "malformed value" reason (docs/differences.md).
    assert ours == [
        (spec, path, _documented(spec, outcome, payload)) for spec, path, outcome in theirs
    ]
    raised = sorted(
        {(spec["key"], outcome["raised"]) for spec, _, outcome in theirs if "raised" in outcome}
    )
    assert raised == [
        ("bare", "AttributeError"),
        ("list", "AttributeError"),
        ("nested", "TypeError"),
        ("null", "AttributeError"),
        ("null-time", "AssertionError"),
        ("null-time", "TypeError"),
        ("number", "TypeError"),
        ("objects", "TypeError"),
        ("text-time", "TypeError"),
        ("untimed", "AssertionError"),
        ("untimed-scalar", "KeyError"),
    ]


async def test_array_validators_of_objects_are_invalid_arguments_where_the_sdk_raises(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    created = await client.create_session("claims-parity", {"roles": {"v": ["a"], "t": now}})
    token = created.session.access_token
    for spec in (
        _spec("includes", "roles", {"a": 1}),
        _spec("excludes", "roles", [["a"]]),
        _spec("includes_all", "roles", ["a", {"a": 1}]),
        _spec("excludes_all", "roles", [["a"]]),
    ):
        theirs = await sdk.ask("get_session", now_ms=now, access_token=token, validators=[spec])
        assert theirs == {"status": "RAISED", "raised": "TypeError"}, spec
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.get_session(
                token, claim_validators=[validator(spec)], override_global_claim_validators=True
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, spec
        assert "JSON primitive" in (refused.value.details() or "")
    # has_value compares any JSON value, objects included, in both.
    spec = _spec("has_value", "roles", {"a": 1})
    theirs = await sdk.ask("get_session", now_ms=now, access_token=token, validators=[spec])
    ours = await client.get_session(
        token, claim_validators=[validator(spec)], override_global_claim_validators=True
    )
    assert get_session_claims_outcome(ours) == _sdk_claims_outcome(theirs)
    assert theirs["status"] == "INVALID_CLAIMS"


async def test_get_claim_value_reads_as_the_sdk_and_a_malformed_claim_as_absent(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    payload = {"role": {"v": "admin", "t": now}, "no-value": {"t": now}, "bare": "admin"}
    created = await client.create_session("claims-parity", payload)
    handle = created.session.session_handle
    for key in ("role", "no-value", "missing", "bare"):
        theirs = await sdk.ask("get_claim_value", now_ms=now, handle=handle, key=key)
        ours = await client.get_claim_value(handle, key)
        if key == "bare":  # the SDK raises on a claim that is not an object; the service finds none
            assert theirs == {"status": "RAISED", "raised": "AttributeError"}
            assert (ours.status.name, ours.value) == ("OK", None)
        else:
            assert {"status": ours.status.name, "value": ours.value} == theirs, key
    unknown = await sdk.ask("get_claim_value", now_ms=now, handle="no-such-handle", key="role")
    ours = await client.get_claim_value("no-such-handle", "role")
    assert {"status": ours.status.name} == unknown == {"status": "SESSION_DOES_NOT_EXIST"}


async def test_max_ages_zero_and_negative_as_in_the_sdk(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    payload = {
        "role": {"v": "user", "t": now - 1500},
        "roles": {"v": ["admin"], "t": now},
        "future": {"v": ["admin"], "t": now + 5000},
    }
    cases = [
        _spec("has_value", "role", "user", max_age=-5),
        _spec("has_value", "role", "user", max_age=0),
        _spec("has_value", "role", "user", max_age=1),
        _spec("has_value", "role", "user", max_age=2),
        _spec("includes", "roles", "admin", max_age=-1),
        _spec("includes", "roles", "admin", max_age=0),
        _spec("excludes_all", "roles", ["x"], max_age=-1),
        _spec("includes", "future", "admin", max_age=-1),
        _spec("includes", "future", "admin", max_age=-10),
        _spec("includes", "future", "admin", max_age=1),
    ]
    theirs, ours = await _outcomes(sdk, client, clock, payload, cases)
    assert ours == theirs
    statuses = [outcome["status"] for spec, path, outcome in theirs if path == "token"]
    assert statuses == [
        "INVALID_CLAIMS",
        "OK",
        "INVALID_CLAIMS",
        "OK",
        "INVALID_CLAIMS",
        "OK",
        "INVALID_CLAIMS",
        "OK",
        "INVALID_CLAIMS",
        "OK",
    ]


async def test_a_null_expected_value_is_an_invalid_argument_where_the_sdk_compares_it(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    payload = {"role": {"v": "user", "t": now}, "items": {"v": [None, "a"], "t": now}}
    created = await client.create_session("claims-parity", payload)
    token = created.session.access_token
    sdk_outcomes = []
    for spec in (_spec("has_value", "role", None), _spec("includes", "items", None)):
        answer = await sdk.ask("get_session", now_ms=now, access_token=token, validators=[spec])
        sdk_outcomes.append(_sdk_claims_outcome(answer))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.get_session(
                token, claim_validators=[validator(spec)], override_global_claim_validators=True
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "must not be null" in (refused.value.details() or "")
    reason = {"message": "wrong value", "expectedValue": None, "actualValue": "user"}
    assert sdk_outcomes == [
        {"status": "INVALID_CLAIMS", "invalid_claims": [{"id": "role", "reason": reason}]},
        {"status": "OK"},
    ]
