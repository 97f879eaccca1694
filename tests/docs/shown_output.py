"""Output shown in the documentation, compared with what a block wrote: JSON as a stream of
values whose objects must have every key shown, with strings equal, numbers any number and
``…`` in a string matching any text; anything else line by line, ``…`` matching any text
within a line."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.docs.blocks import Block

ELLIPSIS = "…"


def _pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in shown.split(ELLIPSIS)), re.DOTALL)


def json_mismatches(shown: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from the ``shown`` JSON (see the module docstring)."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)[:80]}"]
        found = []
        for key, value in shown.items():
            if key not in actual:
                found.append(f"{path}: no key {key!r} (keys: {sorted(actual)})")
            else:
                found += json_mismatches(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(shown, list):
        if not isinstance(actual, list) or len(actual) != len(shown):
            return [f"{path}: expected a list of {len(shown)}, got {json.dumps(actual)[:80]}"]
        return [
            m for i, v in enumerate(shown) for m in json_mismatches(v, actual[i], f"{path}[{i}]")
        ]
    if isinstance(shown, str):
        if isinstance(actual, str) and _pattern(shown).fullmatch(actual):
            return []
        return [f"{path}: expected {shown!r}, got {json.dumps(actual)[:80]}"]
    if isinstance(shown, int | float) and not isinstance(shown, bool):
        ok = isinstance(actual, int | float) and not isinstance(actual, bool)
        return [] if ok else [f"{path}: expected a number, got {json.dumps(actual)[:80]}"]
    return [] if shown == actual else [f"{path}: expected {shown!r}, got {actual!r}"]


def json_values(text: str) -> list[Any]:
    """The JSON values written one after another in ``text``."""
    decoder = json.JSONDecoder()
    values, position = [], 0
    while (position := _skip_space(text, position)) < len(text):
        value, position = decoder.raw_decode(text, position)
        values.append(value)
    return values


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def output_mismatches(block: Block, shown: str, actual: str) -> list[str]:
    if block.language == "json":
        try:
            values = json_values(actual)
        except json.JSONDecodeError as exc:
            return [f"the output is not JSON ({exc}):\n{actual}"]
        return json_mismatches(json_values(shown), values)
    want = [line.rstrip() for line in shown.rstrip().splitlines()]
    got = [line.rstrip() for line in actual.rstrip().splitlines()]
    if len(want) == len(got) and all(
        _pattern(w).fullmatch(g) for w, g in zip(want, got, strict=True)
    ):
        return []
    return [f"expected lines:\n{shown}\ngot:\n{actual}"]
