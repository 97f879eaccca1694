"""The claim-validator builders: validators as data (``session.v1.ClaimValidator``), one
builder per kind of supertokens-python's ``PrimitiveClaim`` / ``PrimitiveArrayClaim``
validators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from session_client._pb.session.v1 import session_service_pb2 as pb
from session_client._struct import to_value


def _value_check(key: str, value: Any, max_age_seconds: int | None) -> pb.ClaimValidator.ValueCheck:
    check = pb.ClaimValidator.ValueCheck(key=key, value=to_value(value))
    if max_age_seconds is not None:
        check.max_age_seconds = max_age_seconds
    return check


def _values_check(
    key: str, values: Sequence[Any], max_age_seconds: int | None
) -> pb.ClaimValidator.ValuesCheck:
    check = pb.ClaimValidator.ValuesCheck(key=key, values=[to_value(v) for v in values])
    if max_age_seconds is not None:
        check.max_age_seconds = max_age_seconds
    return check


def has_value(
    key: str, value: Any, *, max_age_seconds: int | None = None, id: str | None = None
) -> pb.ClaimValidator:
    """The claim's value equals ``value`` (SDK ``has_value``; ``is_true`` is ``value=True``)."""
    return pb.ClaimValidator(id=id, has_value=_value_check(key, value, max_age_seconds))


def includes(
    key: str, value: Any, *, max_age_seconds: int | None = None, id: str | None = None
) -> pb.ClaimValidator:
    """The claim's list contains ``value`` (each of its items when ``value`` is a list, as
    the SDK's ``includes``)."""
    return pb.ClaimValidator(id=id, includes=_value_check(key, value, max_age_seconds))


def excludes(
    key: str, value: Any, *, max_age_seconds: int | None = None, id: str | None = None
) -> pb.ClaimValidator:
    """The claim's list does not contain ``value`` (none of its items when ``value`` is a
    list, as the SDK's ``excludes``)."""
    return pb.ClaimValidator(id=id, excludes=_value_check(key, value, max_age_seconds))


def includes_all(
    key: str, values: Sequence[Any], *, max_age_seconds: int | None = None, id: str | None = None
) -> pb.ClaimValidator:
    """The claim's list contains every one of ``values``."""
    return pb.ClaimValidator(id=id, includes_all=_values_check(key, values, max_age_seconds))


def excludes_all(
    key: str, values: Sequence[Any], *, max_age_seconds: int | None = None, id: str | None = None
) -> pb.ClaimValidator:
    """The claim's list contains none of ``values``."""
    return pb.ClaimValidator(id=id, excludes_all=_values_check(key, values, max_age_seconds))
