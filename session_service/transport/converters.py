"""Protobuf <-> domain conversions for ``session.v1`` (no logic, no I/O).

Request conversion is where gRPC-shaped input becomes plain Python: a malformed message (an
unset oneof, a ``Value`` with no kind, a non-finite number) raises the domain's
``InvalidArgument`` naming the field by its proto path, so the servicer has a single place
that turns it into INVALID_ARGUMENT.

Response conversion carries whatever JSON the core stored or a token holds, as protobuf can
carry it: a lone surrogate (JSON's ``"\ud800"`` escape; UTF-8 cannot encode it) becomes
U+FFFD (of two object keys that then coincide, the later one's value is carried whole, as a
JSON parser reads a repeated key), a number beyond a double's range becomes an infinity (as
JavaScript's and Java's JSON parsers read it), and a time beyond int64 is clamped to int64
(a token signed with ``exp`` 10**30 never expires, as in the SDK, which compares Python
ints). How deep JSON may nest is the domain's rule (``domain/limits.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from google.protobuf import struct_pb2

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import (
    ClaimError,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    InvalidArgument,
    JSONObject,
    JsonWebKey,
    RegeneratedAccessToken,
    Session,
    SessionInformation,
    Status,
    TokenInfo,
    TokenTheft,
    check_depth,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Doubles represent every integer up to 2**53 exactly; whole numbers in that range are
# handed to the domain as ``int`` so that, e.g., ``{"v": 5}`` survives a round trip as 5
# (the SDK's JSON would say 5, not 5.0).
_MAX_EXACT_INTEGER = 2**53

_STATUS_TO_PB: dict[Status, pb.SessionStatus] = {
    Status.OK: pb.SESSION_STATUS_OK,
    Status.UNAUTHORISED: pb.SESSION_STATUS_UNAUTHORISED,
    Status.TRY_REFRESH_TOKEN: pb.SESSION_STATUS_TRY_REFRESH_TOKEN,
    Status.TOKEN_THEFT_DETECTED: pb.SESSION_STATUS_TOKEN_THEFT_DETECTED,
    Status.INVALID_CLAIMS: pb.SESSION_STATUS_INVALID_CLAIMS,
    Status.SESSION_DOES_NOT_EXIST: pb.SESSION_STATUS_SESSION_DOES_NOT_EXIST,
    Status.UNSUPPORTED_ALGORITHM: pb.SESSION_STATUS_UNSUPPORTED_ALGORITHM,
    Status.NO_SESSION: pb.SESSION_STATUS_NO_SESSION,
}
assert set(_STATUS_TO_PB) == set(Status), "every domain Status needs a SessionStatus"

_VALIDATOR_KINDS: dict[str, ClaimValidatorKind] = {
    "has_value": ClaimValidatorKind.HAS_VALUE,
    "includes": ClaimValidatorKind.INCLUDES,
    "excludes": ClaimValidatorKind.EXCLUDES,
    "includes_all": ClaimValidatorKind.INCLUDES_ALL,
    "excludes_all": ClaimValidatorKind.EXCLUDES_ALL,
}


def status_to_pb(status: Status) -> pb.SessionStatus:
    return _STATUS_TO_PB[status]


# -- JSON values ------------------------------------------------------------------------------


def value_to_python(value: struct_pb2.Value, field: str) -> Any:
    """A ``google.protobuf.Value`` as plain JSON-compatible Python."""
    kind = value.WhichOneof("kind")
    if kind == "null_value":
        return None
    if kind == "bool_value":
        return value.bool_value
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise InvalidArgument(field, "numbers must be finite (JSON has no NaN or Infinity)")
        if number.is_integer() and abs(number) <= _MAX_EXACT_INTEGER:
            return int(number)
        return number
    if kind == "struct_value":
        return struct_to_dict(value.struct_value, field)
    if kind == "list_value":
        return [
            value_to_python(item, f"{field}[{i}]") for i, item in enumerate(value.list_value.values)
        ]
    raise InvalidArgument(field, "a google.protobuf.Value must have one of its kinds set")


def struct_to_dict(struct: struct_pb2.Struct, field: str) -> JSONObject:
    """A ``google.protobuf.Struct`` as a plain dict."""
    return {key: value_to_python(item, f"{field}.{key}") for key, item in struct.fields.items()}


def optional_struct(message: Any, name: str) -> JSONObject | None:
    """The dict form of Struct field ``name`` of ``message``, or None when it is unset."""
    if not message.HasField(name):
        return None
    return struct_to_dict(getattr(message, name), name)


def user_context(message: Any) -> JSONObject:
    """A request's ``user_context`` as the fresh dict the SDK's functions take (``{}`` when
    unset): one per call, so override hooks and ``fetch_value`` may add to it. It is held
    to the nesting limit of every JSON input (INVALID_ARGUMENT naming ``user_context``)."""
    context = optional_struct(message, "user_context") or {}
    check_depth("user_context", context)
    return context


def _utf8(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (protobuf strings are UTF-8)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Via UTF-16, so a surrogate pair held as two code points is joined, not replaced.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _int64(value: int) -> int:
    """An int64 field's value: a time past int64 is clamped (it then means "never")."""
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    return _INT64_MAX if value > 0 else _INT64_MIN


def python_to_value(data: Any) -> struct_pb2.Value:
    """Plain JSON-compatible Python as a ``google.protobuf.Value``."""
    value = struct_pb2.Value()
    _fill_value(value, data)
    return value


def dict_to_struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    _fill_struct(struct, data)
    return struct


def _fill_value(target: struct_pb2.Value, data: Any) -> None:
    # bool before int: bool is an int subclass.
    if data is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif isinstance(data, bool):
        target.bool_value = data
    elif isinstance(data, int | float):
        try:
            target.number_value = data
        except OverflowError:  # an integer beyond a double's range
            target.number_value = math.inf if data > 0 else -math.inf
    elif isinstance(data, str):
        try:
            target.string_value = data
        except UnicodeEncodeError:
            target.string_value = _utf8(data)
    elif isinstance(data, Mapping):
        _fill_struct(target.struct_value, data)
    elif isinstance(data, list | tuple):
        target.list_value.SetInParent()
        for item in data:
            _fill_value(target.list_value.values.add(), item)
    else:
        raise TypeError(f"not a JSON value: {type(data).__name__}")


def _fill_struct(target: struct_pb2.Struct, data: Mapping[str, Any]) -> None:
    target.SetInParent()
    fields = target.fields
    for key, item in data.items():
        try:
            value = fields[key]
        except UnicodeEncodeError:
            # Keys that differ only in lone surrogates become one key: start again from
            # keys as protobuf carries them, so the later value replaces the earlier one
            # (as a JSON parser reads a repeated key) instead of merging into it.
            target.Clear()
            _fill_struct(target, {_utf8(key): item for key, item in data.items()})
            return
        _fill_value(value, item)


# -- requests -------------------------------------------------------------------------------


def claim_validators_from_pb(
    validators: Iterable[pb.ClaimValidator], field: str
) -> tuple[ClaimValidatorSpec, ...]:
    """Declarative validators as domain specs; the domain checks keys, ages and ids."""
    return tuple(
        _claim_validator_from_pb(validator, f"{field}[{index}]")
        for index, validator in enumerate(validators)
    )


def _claim_validator_from_pb(validator: pb.ClaimValidator, where: str) -> ClaimValidatorSpec:
    check = validator.WhichOneof("check")
    if check is None:
        raise InvalidArgument(where, f"one of {', '.join(_VALIDATOR_KINDS)} must be set")
    kind = _VALIDATOR_KINDS[check]
    spec_id = validator.id if validator.HasField("id") else None
    if kind in (ClaimValidatorKind.INCLUDES_ALL, ClaimValidatorKind.EXCLUDES_ALL):
        many: pb.ClaimValidator.ValuesCheck = getattr(validator, check)
        return ClaimValidatorSpec(
            kind=kind,
            key=many.key,
            values=tuple(
                value_to_python(v, f"{where}.{check}.values[{i}]")
                for i, v in enumerate(many.values)
            ),
            max_age_seconds=many.max_age_seconds if many.HasField("max_age_seconds") else None,
            id=spec_id,
        )
    one: pb.ClaimValidator.ValueCheck = getattr(validator, check)
    if not one.HasField("value"):
        raise InvalidArgument(f"{where}.{check}.value", "is required")
    value = value_to_python(one.value, f"{where}.{check}.value")
    if value is None:
        raise InvalidArgument(f"{where}.{check}.value", "must not be null")
    return ClaimValidatorSpec(
        kind=kind,
        key=one.key,
        value=value,
        max_age_seconds=one.max_age_seconds if one.HasField("max_age_seconds") else None,
        id=spec_id,
    )


# -- responses ------------------------------------------------------------------------------


def token_info_to_pb(token: TokenInfo) -> pb.TokenInfo:
    return pb.TokenInfo(
        token=_utf8(token.token),
        expiry=_int64(token.expiry_ms),
        created_time=_int64(token.created_time_ms),
    )


def session_to_pb(session: Session) -> pb.Session:
    return pb.Session(
        user_id=_utf8(session.user_id),
        session_handle=_utf8(session.session_handle),
        access_token_payload=dict_to_struct(session.access_token_payload),
        expiry=_int64(session.access_token_expiry_ms),
        front_token=session.front_token,
        access_token=session.access_token,
    )


class RenderedResponse:
    """A response message serialized once and sent as those bytes (see ``serializer``).

    ``status`` is the message's ``status`` field, for the metrics and tracing layers that
    label RPCs by it. ``check``: Envoy's allowing CheckResponse for the same token, rendered
    the first time a Check needed it and kept here, with the token's cache entry
    (``ext_authz_fast.py``).
    """

    __slots__ = ("check", "data", "status")

    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.data = data
        self.check: RenderedResponse | None = None


def serializer(message_class: Any) -> Callable[[Any], bytes]:
    """The response serializer of an RPC: a message, or a ``RenderedResponse`` as is."""
    serialize = message_class.SerializeToString

    def to_bytes(response: Any) -> bytes:
        if response.__class__ is RenderedResponse:
            data: bytes = response.data
            return data
        return serialize(response)  # type: ignore[no-any-return]

    return to_bytes


def token_theft_to_pb(theft: TokenTheft) -> pb.TokenTheft:
    return pb.TokenTheft(session_handle=_utf8(theft.session_handle), user_id=_utf8(theft.user_id))


def claim_errors_to_pb(errors: Sequence[ClaimError]) -> list[pb.ClaimValidationError]:
    return [
        pb.ClaimValidationError(
            id=error.id, reason=None if error.reason is None else dict_to_struct(error.reason)
        )
        for error in errors
    ]


def session_information_to_pb(info: SessionInformation) -> pb.SessionInformation:
    return pb.SessionInformation(
        session_handle=_utf8(info.session_handle),
        user_id=_utf8(info.user_id),
        session_data_in_database=dict_to_struct(info.session_data_in_database),
        expiry=_int64(info.expiry_ms),
        custom_claims_in_access_token_payload=dict_to_struct(
            info.custom_claims_in_access_token_payload
        ),
        time_created=_int64(info.time_created_ms),
    )


def regenerated_session_to_pb(regenerated: RegeneratedAccessToken) -> pb.SessionObject:
    return pb.SessionObject(
        session_handle=_utf8(regenerated.session_handle),
        user_id=_utf8(regenerated.user_id),
        user_data_in_jwt=dict_to_struct(regenerated.access_token_payload),
    )


def json_web_key_to_pb(key: JsonWebKey) -> pb.JsonWebKey:
    return pb.JsonWebKey(kty=key.kty, kid=key.kid, n=key.n, e=key.e, alg=key.alg, use=key.use)
