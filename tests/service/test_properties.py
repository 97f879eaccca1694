"""Property-based tests (hypothesis): token parsing, and every request message of the
contract sent to the real service over a real channel. No input produces INTERNAL/UNKNOWN,
an unhandled exception in the service, or a 500 in the core."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor, struct_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.token_parsing import TokenParseError, parse_access_token
from session_service.server import RunningService
from tests.reliability import STATS

SERVICE = pb.DESCRIPTOR.services_by_name["SessionService"]
FD = descriptor.FieldDescriptor
OK_CODES = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}

json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-(2**60), 2**60) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _segment(raw: bytes, urlsafe: bool) -> str:
    encoded = base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)
    return encoded.decode().rstrip("=") if urlsafe else encoded.decode()


@st.composite
def token_like(draw: st.DrawFn) -> str:
    """Strings shaped like tokens: JWT-ish segments of random JSON, bytes or text."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["json", "bytes", "text", "header"]))
        if kind == "json":
            raw = json.dumps(draw(json_values)).encode()
        elif kind == "header":
            raw = json.dumps(
                {
                    "alg": draw(st.sampled_from(["RS256", "none", "HS256"])),
                    "typ": "JWT",
                    "version": draw(st.sampled_from(["2", "3", "4", "x"])),
                    "kid": draw(st.text(max_size=12)),
                }
            ).encode()
        elif kind == "bytes":
            raw = draw(st.binary(max_size=64))
        else:
            parts.append(draw(st.text(max_size=40)))
            continue
        parts.append(_segment(raw, draw(st.booleans())))
    return ".".join(parts)


tokens = st.one_of(st.text(max_size=200), token_like())


@settings(max_examples=500, deadline=None)
@given(token=tokens)
def test_parsing_any_string_returns_or_raises_token_parse_error(token: str) -> None:
    STATS["property examples"] += 1
    try:
        parsed = parse_access_token(token, max_length=16_384)
    except TokenParseError:
        return
    assert parsed.version >= 2 and isinstance(parsed.payload, dict)


def _value(python: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    if python is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(python, bool):
        value.bool_value = python
    elif isinstance(python, int | float):
        value.number_value = float(python)
    elif isinstance(python, str):
        value.string_value = python
    elif isinstance(python, list):
        value.list_value.values.extend(_value(v) for v in python)
    else:
        for key, item in python.items():
            value.struct_value.fields[key].CopyFrom(_value(item))
    return value


def _field_strategy(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FD.TYPE_MESSAGE:
        name = field.message_type.full_name
        if name == "google.protobuf.Struct":
            return st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(
                lambda d: _value(d).struct_value
            )
        if name == "google.protobuf.Value":
            return json_values.map(_value)
        if depth > 3:
            return st.none()
        return message_strategy(field.message_type, depth + 1)
    if field.type == FD.TYPE_STRING:
        if field.name in ("access_token", "refresh_token"):
            return tokens
        return st.text(max_size=30)
    if field.type == FD.TYPE_BOOL:
        return st.booleans()
    if field.type == FD.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values] + [99])
    if field.type == FD.TYPE_DOUBLE:
        return st.floats()
    if field.type in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return st.integers(-(2**63), 2**63 - 1)
    if field.type in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if field.type in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return st.integers(-(2**31), 2**31 - 1)
    if field.type in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    raise AssertionError(f"no strategy for {field.full_name}")


def message_strategy(message: descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    cls = _message_class(message)
    builders = {}
    for field in message.fields:
        values = _field_strategy(field, depth)
        if field.is_repeated:
            values = st.lists(values, max_size=3)
        builders[field.name] = st.none() | values

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        instance = cls()
        for name, strategy in builders.items():
            value = draw(strategy)
            if value is None:
                continue
            field = message.fields_by_name[name]
            if field.is_repeated:
                target = getattr(instance, name)
                for item in value:
                    if item is None:
                        continue
                    if field.type == FD.TYPE_MESSAGE:
                        target.add().CopyFrom(item)
                    else:
                        target.append(item)
            elif field.type == FD.TYPE_MESSAGE:
                getattr(instance, name).CopyFrom(value)
            else:
                setattr(instance, name, value)
        return instance

    return build()


def _message_class(message: descriptor.Descriptor) -> Any:
    """The generated class, nested ones (e.g. ClaimValidator.ValueCheck) included."""
    if message.containing_type is None:
        return getattr(pb, message.name)
    return getattr(_message_class(message.containing_type), message.name)


requests = st.sampled_from(list(SERVICE.methods)).flatmap(
    lambda method: st.tuples(st.just(method.name), message_strategy(method.input_type))
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests)
async def test_any_request_message_gets_a_typed_answer(
    request: tuple[str, Message],
    channel: grpc.aio.Channel,
    service: RunningService,
    core: RunningCore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    method, message = request
    caplog.set_level(logging.ERROR)
    call = channel.unary_unary(
        f"/{SERVICE.full_name}/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    STATS["property examples"] += 1
    try:
        await call(message, timeout=10)
        code = grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
    STATS["INTERNAL or UNKNOWN answers"] += code in (
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    )
    assert code in OK_CODES, (method, message)
    assert service.servicer.internal_errors == 0
    # The core never failed on what the service sent it (it logs every 500).
    assert [r for r in caplog.records if r.name.startswith("session_core")] == []
