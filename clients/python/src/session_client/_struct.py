"""JSON values to and from ``google.protobuf.Struct`` / ``Value``, the form payloads, session
data, claim values and user contexts take on the wire."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

JSONObject = dict[str, Any]
_MAX_EXACT_INTEGER = 2**53


def to_python(value: struct_pb2.Value) -> Any:
    """A ``Value`` as plain Python; whole numbers come back as ``int`` (Struct numbers are
    doubles, so 5 would otherwise read back as 5.0)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if math.isfinite(number) and number.is_integer() and abs(number) <= _MAX_EXACT_INTEGER:
            return int(number)
        return number
    if kind == "struct_value":
        return to_dict(value.struct_value)
    if kind == "list_value":
        return [to_python(item) for item in value.list_value.values]
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None


def to_dict(struct: struct_pb2.Struct) -> JSONObject:
    return {key: to_python(item) for key, item in struct.fields.items()}


def to_value(data: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    if data is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(data, bool):
        value.bool_value = data
    elif isinstance(data, int | float):
        value.number_value = float(data)
    elif isinstance(data, str):
        value.string_value = data
    elif isinstance(data, Mapping):
        value.struct_value.CopyFrom(to_struct(data))
    elif isinstance(data, list | tuple):
        value.list_value.SetInParent()
        value.list_value.values.extend(to_value(item) for item in data)
    else:
        raise TypeError(f"not a JSON value: {type(data).__name__}")
    return value


def to_struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, item in data.items():
        struct.fields[key].CopyFrom(to_value(item))
    return struct
