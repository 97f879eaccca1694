"""What the service can carry back to its callers: how deep a JSON value may nest. It is
checked before the service writes anything, so a session it writes can always be served
back; what others wrote through the core's own API is refused with a status when it passes
the limit (docs/security.md, "Limits").

Nesting. Payloads and session data travel as ``google.protobuf.Struct``, and every JSON
object in a Struct costs three message levels (``Struct``, its map entry, ``Value``), every
array two (``ListValue``, ``Value``). Protobuf's parsers stop at 100 message levels by
default (C++, Java and Python; Go allows 10 000), counted from the response, in which
payloads sit two levels down (``GetSessionResponse.session.access_token_payload``): so a
caller can parse a payload of at most 33 nested objects. ``MAX_JSON_DEPTH`` keeps one
level of that to spare.
"""

from __future__ import annotations

from typing import Any

from session_core.json_values import json_depth
from session_service.domain.errors import InvalidArgument

# The deepest nesting of objects and arrays the service serves or writes in a JSON value
# ({} and {"a": 1} nest 1, {"a": [1]} 2), counting the payload or session data object itself.
MAX_JSON_DEPTH = 32
# A claim value is stored as {key: {"v": value, ...}} in the payload: two levels down.
MAX_CLAIM_VALUE_DEPTH = MAX_JSON_DEPTH - 2


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``value`` cannot be served (it nests deeper than ``limit``), or None."""
    depth = json_depth(value)
    if depth <= limit:
        return None
    return (
        f"nests {depth} levels of objects and arrays, more than the {limit} the service "
        "can return (protobuf's nesting limit)"
    )


def check_depth(field: str, value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a value the service is asked to write but could not serve back."""
    reason = too_deep(value, limit)
    if reason is not None:
        raise InvalidArgument(field, reason)
