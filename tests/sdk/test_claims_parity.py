"""Claim validation: supertokens-python 0.14.0 and the service on the same tokens and the
same validators, through GetSession and ValidateClaimsForSessionHandle.

Each case is one validator; the SDK's outcome (its result, InvalidClaimsError with its
reasons, or the exception it raises) is computed by the SDK itself, against the same core,
at the same instant (``now_ms``), and must equal the service's.
"""

from __future__ import annotations

from typing import Any

from session_client import SessionClient

from session_core.clock import ManualClock
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
