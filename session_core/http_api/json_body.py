"""Request bodies and query parameters, read with the SuperTokens core's exact 400 messages
(``webserver/InputParser.java``): a body that is not a JSON object is ``Invalid Json
Input``; a required field that is missing, of the wrong JSON type or ``null`` is
``Field name '<name>' is invalid in JSON input``, and so is an optional one given as
``null`` or with the wrong type; a missing query parameter is ``Field name '<name>' is
missing in GET request``; fields nobody asked for are ignored.

Limits the SuperTokens core leaves to its JSON library: a body of at most ``MAX_BODY_BYTES``
(aiohttp answers 413 beyond it), nesting at most ``MAX_BODY_DEPTH`` levels, and no NaN,
Infinity or number beyond a double.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from session_common.json_values import JSONObject, json_depth
from session_core.errors import BadRequest

MAX_BODY_BYTES = 10 * 1024 * 1024
# Request bodies may nest at most this many objects and arrays (the body itself is one).
# Python's json parses nearly 1000 levels (its recursion limit) but every later step must
# then stay clear of that limit too; 255 is also the default nesting limit of Gson's
# JsonReader, the JSON library of Java backends and cores. Deeper input is a 400.
MAX_BODY_DEPTH = 255
TOO_DEEP_MESSAGE = f"JSON input nests deeper than {MAX_BODY_DEPTH} levels"
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_MISSING = object()


def _invalid(name: str) -> BadRequest:
    return BadRequest(f"Field name '{name}' is invalid in JSON input")


def _reject_constant(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


class JsonBody:
    """Typed access to the fields of a request body (see the module docstring)."""

    def __init__(self, data: JSONObject) -> None:
        self._data = data

    def _get(self, name: str, required: bool) -> Any:
        if name not in self._data:
            if required:
                raise _invalid(name)
            return _MISSING
        return self._data[name]

    def string(self, name: str) -> str:
        value = self._get(name, True)
        if not isinstance(value, str):
            raise _invalid(name)
        return value

    def optional_string(self, name: str) -> str | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise _invalid(name)
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name, True)
        if not isinstance(value, bool):
            raise _invalid(name)
        return value

    def optional_boolean(self, name: str) -> bool | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, bool):
            raise _invalid(name)
        return value

    def object(self, name: str) -> JSONObject:
        value = self._get(name, True)
        if not isinstance(value, dict):
            raise _invalid(name)
        return value

    def optional_object(self, name: str) -> JSONObject | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            raise _invalid(name)
        return value

    def long(self, name: str) -> int:
        """A JSON number read as a Java long (a fraction is truncated, as Gson does)."""
        value = self._get(name, True)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(name)
        number = int(value)
        if not _LONG_MIN <= number <= _LONG_MAX:
            raise _invalid(name)
        return number

    def optional_string_list(self, name: str) -> list[str] | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name)
        return value


async def read_json_body(request: web.Request) -> JsonBody:
    raw = await request.read()
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except ValueError:
        raise BadRequest("Invalid Json Input") from None
    except RecursionError:  # only nesting makes json recurse that deep
        raise BadRequest(TOO_DEEP_MESSAGE) from None
    if not isinstance(data, dict):
        raise BadRequest("Invalid Json Input")
    if json_depth(data) > MAX_BODY_DEPTH:
        raise BadRequest(TOO_DEEP_MESSAGE)
    return JsonBody(data)


def query_param(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if value is None:
        raise BadRequest(f"Field name '{name}' is missing in GET request")
    return value
