"""Checks of the recipe functions' arguments: a bad one is ``InvalidArgument`` naming it."""

from __future__ import annotations

import json

from session_common.json_values import JSONObject
from session_service.domain.errors import InvalidArgument
from session_service.domain.limits import check_depth


def required_str(field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(field, "is required")
    return value


def json_object(field: str, value: object, *, optional: bool = False) -> JSONObject | None:
    """A JSON object within the nesting limit (None passes when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(field, "must be a JSON object")
    check_depth(field, value)
    ensure_json(field, value)
    return value


def ensure_json(field: str, value: object) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise InvalidArgument(field, "must be JSON (finite numbers, string keys)") from None
