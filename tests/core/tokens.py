"""Test helpers to look inside tokens independently of the code under test."""

from __future__ import annotations

import base64
import json
from typing import Any


def b64url_json(segment: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(value, dict)
    return value


def jwt_header(token: str) -> dict[str, Any]:
    return b64url_json(token.split(".", maxsplit=1)[0])


def jwt_payload(token: str) -> dict[str, Any]:
    return b64url_json(token.split(".")[1])
