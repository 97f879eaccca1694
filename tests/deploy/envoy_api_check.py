"""Checks Envoy configuration (parsed YAML) against Envoy's generated API as xds-protos
publishes it: run in testkit/xds_venv.py's environment, by path. Reads a JSON list of
``{"label", "type", "value"}`` on stdin (``type`` the full name of the message ``value``
must be); writes ``{"errors": [...], "types": [...]}``: every field name that is not a field
of its message (walking nested messages, map values, lists, and each ``Any``'s ``@type``,
whose package's modules are imported to find it), then protobuf's own JSON parsing of the
whole value (enum names, durations, ...), and the ``@type`` names resolved."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import envoy
from google.protobuf import descriptor_pool, json_format, message_factory

ENVOY_ROOT = Path(envoy.__file__).resolve().parent.parent
# Messages whose JSON form is not their fields.
_SPECIAL = frozenset(
    {
        "google.protobuf.Duration",
        "google.protobuf.Timestamp",
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.BoolValue",
        "google.protobuf.StringValue",
        "google.protobuf.UInt32Value",
        "google.protobuf.UInt64Value",
        "google.protobuf.Int32Value",
        "google.protobuf.Int64Value",
        "google.protobuf.DoubleValue",
        "google.protobuf.FloatValue",
        "google.protobuf.BytesValue",
    }
)

pool = descriptor_pool.Default()
errors: list[str] = []
types: set[str] = set()


def load(full_name: str) -> Any:
    """The descriptor of ``full_name``, importing every module of its proto package."""
    package = full_name.rsplit(".", 1)[0]
    directory = ENVOY_ROOT.joinpath(*package.split("."))
    for module in sorted(directory.glob("*_pb2.py")):
        importlib.import_module(f"{package}.{module.stem}")
    return pool.FindMessageTypeByName(full_name)


def field_of(descriptor: Any, key: str) -> Any:
    field = descriptor.fields_by_name.get(key)
    if field is None:
        field = next((f for f in descriptor.fields if f.json_name == key), None)
    return field


def walk_message(descriptor: Any, value: Any, path: str) -> None:
    if descriptor.full_name == "google.protobuf.Any":
        if not isinstance(value, dict) or "@type" not in value:
            errors.append(f"{path}: an Any without @type")
            return
        name = value["@type"].rsplit("/", 1)[-1]
        try:
            inner = load(name)
        except (KeyError, ModuleNotFoundError):
            errors.append(f"{path}: @type {name} is not in Envoy's API")
            return
        types.add(name)
        walk_message(inner, {k: v for k, v in value.items() if k != "@type"}, f"{path}<{name}>")
        return
    if descriptor.full_name in _SPECIAL or not isinstance(value, dict):
        return
    for key, item in value.items():
        field = field_of(descriptor, key)
        where = f"{path}.{key}"
        if field is None:
            errors.append(f"{where}: {descriptor.full_name} has no field {key!r}")
            continue
        message = field.message_type
        if message is None:
            continue
        if message.GetOptions().map_entry:
            value_type = message.fields_by_name["value"].message_type
            if value_type is not None and isinstance(item, dict):
                for map_key, map_value in item.items():
                    walk_message(value_type, map_value, f"{where}[{map_key}]")
        elif isinstance(item, list):
            for index, element in enumerate(item):
                walk_message(message, element, f"{where}[{index}]")
        else:
            walk_message(message, item, where)


def main() -> None:
    jobs = json.load(sys.stdin)
    for job in jobs:
        descriptor = load(job["type"])
        before = len(errors)
        walk_message(descriptor, job["value"], job["label"])
        if len(errors) == before:
            message_class = message_factory.GetMessageClass(descriptor)
            try:
                json_format.ParseDict(job["value"], message_class())
            except json_format.ParseError as exc:
                errors.append(f"{job['label']}: {exc}")
    json.dump({"errors": errors, "types": sorted(types)}, sys.stdout)


if __name__ == "__main__":
    main()
