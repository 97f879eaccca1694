"""JSON values as ``json.loads`` builds them, walked without recursion.

A request body may nest as deep as ``json.loads`` manages (nearly Python's recursion
limit), so nothing that inspects parsed JSON may recurse per level: these helpers keep
their own stack.
"""

from __future__ import annotations

from typing import Any

# A JSON object as ``json.loads`` builds it (payloads, session data, claim values, replies).
JSONObject = dict[str, Any]

_CONTAINERS = (dict, list)


def json_depth(value: Any) -> int:
    """How many objects and arrays nest in ``value``: 0 for a scalar, 1 for ``{}``,
    ``[1]`` or ``{"a": 1}``, 2 for ``{"a": []}``. (One level at a time, in comprehensions:
    GetSession runs this on every token it verifies.)"""
    depth = 0
    level = [value] if isinstance(value, _CONTAINERS) else []
    while level:
        depth += 1
        level = [
            item
            for container in level
            for item in (container.values() if isinstance(container, dict) else container)
            if isinstance(item, _CONTAINERS)
        ]
    return depth


def json_equal(a: Any, b: Any) -> bool:
    """JSON value equality; unlike ``==`` it tells ``true`` from ``1``."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if isinstance(x, bool) or isinstance(y, bool):
            if type(x) is not type(y) or x != y:
                return False
        elif isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            pending.extend((x[key], y[key]) for key in x)
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif isinstance(x, int | float) and isinstance(y, int | float):
            if x != y:
                return False
        elif type(x) is not type(y) or not bool(x == y):
            return False
    return True
