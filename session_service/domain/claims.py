"""Declarative session-claim validation: the validators of supertokens-python 0.14.0's
PrimitiveClaim, BooleanClaim and PrimitiveArrayClaim (``claim_base_classes/``), with their
exact outcomes and reason dicts.

Claims are PrimitiveClaim-shaped: ``payload[key] == {"v": value, "t": set_time_ms}``.
Validators run in the order given and every failure is reported, in that order. This
module only reads the payload it is given: values of the claims a ``--claims-module``
defines are fetched before it runs (``session_claims.py``), any other missing or expired
value is simply invalid.

Where the SDK's validator raises on a stored claim it cannot read (not an object, a ``t``
that is missing or not a number when it is read, an array claim that is a number or holds
lists or objects), that validator fails with ``{"message": "malformed value", <expected>,
"storedValue": <what is stored under the key>}`` (docs/differences.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from session_common.json_values import JSONObject
from session_service.domain.errors import InvalidArgument
from session_service.domain.limits import MAX_CLAIM_VALUE_DEPTH, check_depth
from session_service.domain.types import (
    ClaimError,
    ClaimValidatorKind,
    ClaimValidatorSpec,
)

_SINGLE_VALUE_KINDS = (
    ClaimValidatorKind.HAS_VALUE,
    ClaimValidatorKind.INCLUDES,
    ClaimValidatorKind.EXCLUDES,
)
_EXPECTED_KEYS = {
    ClaimValidatorKind.HAS_VALUE: "expectedValue",
    ClaimValidatorKind.INCLUDES: "expectedToInclude",
    ClaimValidatorKind.INCLUDES_ALL: "expectedToInclude",
    ClaimValidatorKind.EXCLUDES: "expectedToNotInclude",
    ClaimValidatorKind.EXCLUDES_ALL: "expectedToNotInclude",
}


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
        if spec.kind is not ClaimValidatorKind.HAS_VALUE:
            _check_items(spec, where)
        max_age = spec.max_age_seconds
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int)):
            raise InvalidArgument(f"{where}.max_age_seconds", "must be an integer")
        if spec.id is not None and (not isinstance(spec.id, str) or not spec.id):
            raise InvalidArgument(f"{where}.id", "must be a non-empty string when set")
        # A value deeper than any claim value could be would not fit in the failure reason.
        check_depth(f"{where}.value", spec.value, MAX_CLAIM_VALUE_DEPTH)
        for position, item in enumerate(spec.values):
            check_depth(f"{where}.values[{position}]", item, MAX_CLAIM_VALUE_DEPTH)


def _check_items(spec: ClaimValidatorSpec, where: str) -> None:
    """The items of an array validator must be JSON primitives (the SDK's ``Primitive``;
    it raises TypeError on comparing anything else with a claim)."""
    if spec.kind in _SINGLE_VALUE_KINDS:
        items = spec.value if isinstance(spec.value, list) else [spec.value]
        field, rule = f"{where}.value", "must be a JSON primitive or a list of JSON primitives"
    else:
        items = list(spec.values)
        field, rule = f"{where}.values", "must all be JSON primitives (no objects or lists)"
    if any(isinstance(item, list | dict) for item in items):
        raise InvalidArgument(field, f"{rule} for {spec.kind.value}")


def claim_value_for_payload(value: Any, now_ms: int) -> JSONObject:
    """The stored form of a PrimitiveClaim value (``add_to_payload_``)."""
    return {"v": value, "t": now_ms}


def get_claim_value(payload: JSONObject, key: str) -> Any:
    """``payload[key]["v"]``, or None when absent (or not claim-shaped)."""
    stored = payload.get(key)
    if not isinstance(stored, dict):
        return None
    return stored.get("v")


MALFORMED_MESSAGE = "malformed value"


class _Malformed(Exception):
    """A stored claim the SDK's validator cannot read: it raises there (AttributeError,
    AssertionError, KeyError, TypeError), the service fails the validator instead."""


def _stored(payload: JSONObject, key: str) -> JSONObject | None:
    """``payload[key]``; None when absent. The SDK reads it with ``.get``, so anything but
    an object there is malformed (JSON null included)."""
    if key not in payload:
        return None
    stored = payload[key]
    if not isinstance(stored, dict):
        raise _Malformed
    return stored


def _age_seconds(stored: JSONObject, now_ms: int) -> float:
    """Seconds since ``stored["t"]``. A JSON bool counts as 0 or 1, as in Python; a ``t``
    that is missing or not a number is malformed; one beyond a double's range is infinitely
    long ago or ahead (the SDK's division raises OverflowError there)."""
    set_at = stored.get("t")
    if not isinstance(set_at, int | float):
        raise _Malformed
    try:
        return (now_ms - set_at) / 1000
    except OverflowError:
        return math.inf if now_ms > set_at else -math.inf


def _members(actual: Any) -> set[Any]:
    """The SDK's ``set(claim_val)``: a list's items, a string's characters, an object's
    keys; malformed for anything else, or for a list holding a list or an object."""
    if not isinstance(actual, list | str | dict):
        raise _Malformed
    try:
        return set(actual)
    except TypeError:
        raise _Malformed from None


def _effective_max_age(spec: ClaimValidatorSpec) -> int | None:
    # The SDK computes ``max_age or default``; with no default, 0 means "no limit".
    return spec.max_age_seconds or None


def _expired(age_seconds: float, max_age: int) -> JSONObject:
    return {"message": "expired", "ageInSeconds": age_seconds, "maxAgeInSeconds": max_age}


def _expected(spec: ClaimValidatorSpec) -> tuple[str, Any]:
    """The reason's expected entry: its key, and the value as the validator carried it (an
    item or a list for has_value/includes/excludes, a list for includes_all/excludes_all)."""
    value = spec.value if spec.kind in _SINGLE_VALUE_KINDS else list(spec.values)
    return _EXPECTED_KEYS[spec.kind], value


def _has_value(payload: JSONObject, spec: ClaimValidatorSpec, now_ms: int) -> JSONObject | None:
    """PrimitiveClaim's ``has_value`` (BooleanClaim's ``is_true``/``is_false``)."""
    stored = _stored(payload, spec.key)
    actual = None if stored is None else stored.get("v")
    if actual is None:
        return {"message": "value does not exist", "expectedValue": spec.value, "actualValue": None}
    max_age = _effective_max_age(spec)
    if max_age is not None:
        assert stored is not None
        age = _age_seconds(stored, now_ms)
        if age > max_age:
            return _expired(age, max_age)
    if actual != spec.value:
        return {"message": "wrong value", "expectedValue": spec.value, "actualValue": actual}
    return None


def _array(payload: JSONObject, spec: ClaimValidatorSpec, now_ms: int) -> JSONObject | None:
    """PrimitiveArrayClaim's validators, in the SDK's order and with its set membership
    (so a JSON true is the number 1, and a string claim is its set of characters). As in
    the SDK, a list given to includes/excludes means all of its items."""
    expected_key, expected = _expected(spec)
    is_include = expected_key == "expectedToInclude"
    stored = _stored(payload, spec.key)
    actual = None if stored is None else stored.get("v")
    if actual is None:
        return {"message": "value does not exist", expected_key: expected, "actualValue": None}
    assert stored is not None
    age = _age_seconds(stored, now_ms)  # the SDK reads "t" with or without a max age
    max_age = _effective_max_age(spec)
    if max_age is not None and age > max_age:
        return _expired(age, max_age)
    members = _members(actual)
    for item in expected if isinstance(expected, list) else [expected]:
        if (item in members) != is_include:
            return {"message": "wrong value", expected_key: expected, "actualValue": actual}
    return None


def _malformed_reason(payload: JSONObject, spec: ClaimValidatorSpec) -> JSONObject:
    expected_key, expected = _expected(spec)
    return {"message": MALFORMED_MESSAGE, expected_key: expected, "storedValue": payload[spec.key]}


def validate_claims(
    payload: JSONObject, specs: Sequence[ClaimValidatorSpec], now_ms: int
) -> list[ClaimError]:
    """Run ``specs`` against ``payload``; return the failures in validator order."""
    errors: list[ClaimError] = []
    for spec in specs:
        check = _has_value if spec.kind is ClaimValidatorKind.HAS_VALUE else _array
        try:
            reason = check(payload, spec, now_ms)
        except _Malformed:
            reason = _malformed_reason(payload, spec)
        if reason is not None:
            errors.append(ClaimError(id=spec.validator_id, reason=reason))
    return errors
