"""Claim validators written as JSON: a list of ``session.v1.ClaimValidator`` in the proto3
JSON mapping (the form of ``--required-claim-validators``), read without protobuf.

What the mapping gives, for this message: each field under its proto name or its JSON
(lowerCamelCase) name; ``null`` leaves a field unset (``null`` as ``value`` is the JSON
null, refused as a validator value); at most one of the ``check`` fields; strings without
unpaired surrogates; ``max_age_seconds`` an int64 as a number or a decimal string; any JSON
as ``value``. Numbers in values are doubles there, so they read back as the gRPC request's
would (``converters.value_to_python``): an integral one up to 2**53 as an ``int``, NaN and
infinities refused.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from session_service.domain.errors import InvalidArgument
from session_service.domain.limits import MAX_CLAIM_VALUE_DEPTH, check_depth
from session_service.domain.types import ClaimValidatorKind, ClaimValidatorSpec

MESSAGE = "session.v1.ClaimValidator"
# Proto field name -> kind, for the fields of the ``check`` oneof.
CHECKS = {
    "has_value": ClaimValidatorKind.HAS_VALUE,
    "includes": ClaimValidatorKind.INCLUDES,
    "excludes": ClaimValidatorKind.EXCLUDES,
    "includes_all": ClaimValidatorKind.INCLUDES_ALL,
    "excludes_all": ClaimValidatorKind.EXCLUDES_ALL,
}
_SINGLE_VALUE_CHECKS = ("has_value", "includes", "excludes")
_VALIDATOR_FIELDS = ("id", *CHECKS)
_VALUE_CHECK_FIELDS = ("key", "value", "max_age_seconds")
_VALUES_CHECK_FIELDS = ("key", "values", "max_age_seconds")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_EXACT_INTEGER = 2**53
_UNPAIRED_SURROGATE = re.compile(
    "[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]"
)


class _NotAValidator(ValueError):
    """An entry that the proto3 JSON mapping does not read as a ClaimValidator."""


def claim_validators_from_json(text: str, field: str) -> tuple[ClaimValidatorSpec, ...]:
    """The validators ``text`` lists. Raises ``InvalidArgument`` naming ``field`` (or the
    entry, ``field[i]``) when it is not such a list; the values are checked as every
    validator's are (``claims.check_claim_validators``) where they are used."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(field, f"is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise InvalidArgument(field, "nests too deeply") from None
    except ValueError:  # an integer past CPython's digit limit (int_max_str_digits)
        raise InvalidArgument(field, "holds a number too long to read") from None
    if not isinstance(raw, list):
        raise InvalidArgument(field, "must be a JSON list of claim validators")
    specs = []
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        try:
            specs.append(_validator(item, where))
        except _NotAValidator as exc:
            raise InvalidArgument(where, f"entry {index} is not a {MESSAGE}: {exc}") from None
    return tuple(specs)


def _fields(item: object, names: tuple[str, ...], message: str) -> dict[str, Any]:
    """The non-null fields of JSON object ``item`` by proto name; each may be given under
    its proto name or its JSON name, not both."""
    if not isinstance(item, dict):
        raise _NotAValidator(f"{message} must be a JSON object")
    by_json_name = {_json_name(name): name for name in names}
    found: dict[str, Any] = {}
    for key, value in item.items():
        name = key if key in names else by_json_name.get(key)
        if name is None:
            # JSON-quoted: the name may hold anything JSON can escape (lone surrogates).
            raise _NotAValidator(f"{message} has no field named {json.dumps(key)}")
        if value is None:
            continue
        if name in found:
            raise _NotAValidator(f'{message} has "{name}" twice')
        found[name] = value
    return found


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _validator(item: object, where: str) -> ClaimValidatorSpec:
    fields = _fields(item, _VALIDATOR_FIELDS, MESSAGE)
    checks = [name for name in CHECKS if name in fields]
    if len(checks) > 1:
        raise _NotAValidator(f"{', '.join(checks)}: only one check may be set")
    if not checks:
        raise InvalidArgument(where, f"one of {', '.join(CHECKS)} must be set")
    (check,) = checks
    validator_id = _string(fields["id"], "id") if "id" in fields else None
    at = f"{where}.{check}"
    if check in _SINGLE_VALUE_CHECKS:
        one = _fields(fields[check], _VALUE_CHECK_FIELDS, f"{MESSAGE}.ValueCheck")
        if "value" not in one and not _sets_null_value(fields[check]):
            raise InvalidArgument(f"{at}.value", "is required")
        if "value" not in one:
            raise InvalidArgument(f"{at}.value", "must not be null")
        return ClaimValidatorSpec(
            kind=CHECKS[check],
            key=_string(one.get("key", ""), "key"),
            value=_value(one["value"], f"{at}.value"),
            max_age_seconds=_max_age(one),
            id=validator_id,
        )
    many = _fields(fields[check], _VALUES_CHECK_FIELDS, f"{MESSAGE}.ValuesCheck")
    values = many.get("values", [])
    if not isinstance(values, list):
        raise _NotAValidator("values must be a JSON list")
    return ClaimValidatorSpec(
        kind=CHECKS[check],
        key=_string(many.get("key", ""), "key"),
        values=tuple(_value(v, f"{at}.values[{i}]") for i, v in enumerate(values)),
        max_age_seconds=_max_age(many),
        id=validator_id,
    )


def _sets_null_value(check: dict[str, Any]) -> bool:
    """Whether a ValueCheck object gives ``value`` as JSON null (a Value holding null)."""
    return any(key == "value" and value is None for key, value in check.items())


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise _NotAValidator(f"{name} must be a string")
    if _UNPAIRED_SURROGATE.search(value):
        raise _NotAValidator(f"{name} holds an unpaired surrogate")
    return value


def _max_age(check: dict[str, Any]) -> int | None:
    """An int64 as the proto3 JSON mapping reads one: a number with no fraction, or a
    string that Python reads as an integer or as a float with no fraction; not a bool."""
    if "max_age_seconds" not in check:
        return None
    raw = check["max_age_seconds"]
    number: int | float
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _NotAValidator("max_age_seconds must be an integer")
    if isinstance(raw, str):
        if " " in raw:
            raise _NotAValidator("max_age_seconds must be an integer")
        try:
            number = int(raw)
        except ValueError:
            try:
                number = float(raw)
            except ValueError:
                raise _NotAValidator("max_age_seconds must be an integer") from None
    else:
        number = raw
    if isinstance(number, float):
        if not number.is_integer():
            raise _NotAValidator("max_age_seconds must be an integer")
        number = int(number)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise _NotAValidator("max_age_seconds is out of the int64 range")
    return number


def _value(value: Any, where: str) -> Any:
    """A JSON value as a ``google.protobuf.Value`` carries it (see the module docstring).
    The depth is checked first, so the walk below is bounded."""
    check_depth(where, value, MAX_CLAIM_VALUE_DEPTH)
    return _as_value(value, where)


def _as_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _string(value, "a string value")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise InvalidArgument(where, "numbers must be finite (JSON has no NaN or Infinity)")
        if number.is_integer() and abs(number) <= _MAX_EXACT_INTEGER:
            return int(number)
        return number
    if isinstance(value, list):
        return [_as_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return {_string(key, "a key"): _as_value(item, f"{where}.{key}") for key, item in value.items()}
