"""Declarative session-claim validation with the SDK's exact reason dicts (§6).

Claims are PrimitiveClaim-shaped: ``payload[key] == {"v": value, "t": set_time_ms}``.
Validators run in the order given and every failure is reported, in that order.
The service cannot refetch claim values (there is no fetch_value callback over gRPC), so
an expired or missing value is simply invalid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from session_service.domain.errors import InvalidArgument
from session_service.domain.limits import MAX_CLAIM_VALUE_DEPTH, check_depth
from session_service.domain.types import (
    ClaimError,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    JSONObject,
)

_SINGLE_VALUE_KINDS = (
    ClaimValidatorKind.HAS_VALUE,
    ClaimValidatorKind.INCLUDES,
    ClaimValidatorKind.EXCLUDES,
)
_INCLUDE_KINDS = (ClaimValidatorKind.INCLUDES, ClaimValidatorKind.INCLUDES_ALL)


def check_claim_validators(specs: Sequence[ClaimValidatorSpec], field: str) -> None:
    """Refuse specs that could never be evaluated meaningfully, naming the bad field."""
    for index, spec in enumerate(specs):
        where = f"{field}[{index}]"
        if not isinstance(spec, ClaimValidatorSpec):
            raise InvalidArgument(where, "must be a ClaimValidatorSpec")
        if not isinstance(spec.kind, ClaimValidatorKind):
            raise InvalidArgument(f"{where}.kind", "unknown validator kind")
        if not isinstance(spec.key, str) or not spec.key:
            raise InvalidArgument(f"{where}.key", "must be a non-empty string")
        if spec.kind in _SINGLE_VALUE_KINDS and spec.value is None:
            raise InvalidArgument(f"{where}.value", f"is required for {spec.kind.value}")
        if spec.kind not in _SINGLE_VALUE_KINDS and spec.value is not None:
            raise InvalidArgument(
                f"{where}.value", f"is not used by {spec.kind.value}; set values instead"
            )
        if spec.kind in _SINGLE_VALUE_KINDS and spec.values:
            raise InvalidArgument(
                f"{where}.values", f"is not used by {spec.kind.value}; set value instead"
            )
        max_age = spec.max_age_seconds
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int)):
            raise InvalidArgument(f"{where}.max_age_seconds", "must be an integer")
        if max_age is not None and max_age < 0:
            raise InvalidArgument(f"{where}.max_age_seconds", "must not be negative")
        if spec.id is not None and (not isinstance(spec.id, str) or not spec.id):
            raise InvalidArgument(f"{where}.id", "must be a non-empty string when set")
        # A value deeper than any claim value could be would not fit in the failure reason.
        check_depth(f"{where}.value", spec.value, MAX_CLAIM_VALUE_DEPTH)
        for position, item in enumerate(spec.values):
            check_depth(f"{where}.values[{position}]", item, MAX_CLAIM_VALUE_DEPTH)


def claim_value_for_payload(value: Any, now_ms: int) -> JSONObject:
    """The stored form of a PrimitiveClaim value (``add_to_payload_``)."""
    return {"v": value, "t": now_ms}


def get_claim_value(payload: JSONObject, key: str) -> Any:
    """``payload[key]["v"]``, or None when absent (or not claim-shaped)."""
    stored = payload.get(key)
    if not isinstance(stored, dict):
        return None
    return stored.get("v")


def _last_set_ms(payload: JSONObject, key: str) -> int | float:
    stored = payload.get(key)
    t = stored.get("t") if isinstance(stored, dict) else None
    # A value without a usable timestamp counts as infinitely old.
    if isinstance(t, bool) or not isinstance(t, int | float):
        return 0
    return t


def _effective_max_age(spec: ClaimValidatorSpec) -> int | None:
    # The SDK computes ``max_age or default``; with no default, 0 means "no limit".
    return spec.max_age_seconds or None


def _expired_reason(
    payload: JSONObject, spec: ClaimValidatorSpec, now_ms: int
) -> JSONObject | None:
    max_age = _effective_max_age(spec)
    if max_age is None:
        return None
    last_set_ms = _last_set_ms(payload, spec.key)
    try:
        age_seconds = (now_ms - last_set_ms) / 1000
    except OverflowError:  # a timestamp integer beyond a double's range
        age_seconds = math.inf if now_ms > last_set_ms else -math.inf
    if age_seconds > max_age:
        return {"message": "expired", "ageInSeconds": age_seconds, "maxAgeInSeconds": max_age}
    return None


def _has_value(payload: JSONObject, spec: ClaimValidatorSpec, now_ms: int) -> JSONObject | None:
    actual = get_claim_value(payload, spec.key)
    if actual is None:
        return {"message": "value does not exist", "expectedValue": spec.value, "actualValue": None}
    expired = _expired_reason(payload, spec, now_ms)
    if expired is not None:
        return expired
    if actual != spec.value:
        return {"message": "wrong value", "expectedValue": spec.value, "actualValue": actual}
    return None


def _array(payload: JSONObject, spec: ClaimValidatorSpec, now_ms: int) -> JSONObject | None:
    """PrimitiveArrayClaim's validators. Reasons carry the expected value as it was given: an
    item for includes/excludes, a list for includes_all/excludes_all. As in the SDK, a list
    given to includes/excludes means all of its items."""
    is_include = spec.kind in _INCLUDE_KINDS
    expected_key = "expectedToInclude" if is_include else "expectedToNotInclude"
    expected = spec.value if spec.kind in _SINGLE_VALUE_KINDS else list(spec.values)
    actual = get_claim_value(payload, spec.key)
    if actual is None:
        return {"message": "value does not exist", expected_key: expected, "actualValue": None}
    expired = _expired_reason(payload, spec, now_ms)
    if expired is not None:
        return expired
    wrong = {"message": "wrong value", expected_key: expected, "actualValue": actual}
    if not isinstance(actual, list):
        return wrong
    for item in expected if isinstance(expected, list) else [expected]:
        if (item in actual) != is_include:
            return wrong
    return None


def validate_claims(
    payload: JSONObject, specs: Sequence[ClaimValidatorSpec], now_ms: int
) -> list[ClaimError]:
    """Run ``specs`` against ``payload``; return the failures in validator order."""
    errors: list[ClaimError] = []
    for spec in specs:
        if spec.kind is ClaimValidatorKind.HAS_VALUE:
            reason = _has_value(payload, spec, now_ms)
        else:
            reason = _array(payload, spec, now_ms)
        if reason is not None:
            errors.append(ClaimError(id=spec.validator_id, reason=reason))
    return errors
