"""The inputs of the claims parity test, as plain data that both sides build from: the claims
(key, kind, what ``fetch_value`` returns, default max age) and the scenarios. The service
loads this module as its ``--claims-module`` (``claims``); ``sdk_claims_driver.py`` gets the
same data as JSON and builds the SDK's own claim objects from it.

In a scenario's ``payload`` a claim is written ``{"v": value, "age_ms": n}``: each side stores
it as ``{"v": value, "t": its now - n}`` when it creates the session.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from session_service.domain.session_claims import (
    BooleanClaim,
    PrimitiveArrayClaim,
    PrimitiveClaim,
    SessionClaim,
)

CLAIMS: list[dict[str, Any]] = [
    {"key": "flag", "kind": "boolean", "fetched": True, "default_max_age_in_sec": None},
    {"key": "aged", "kind": "boolean", "fetched": True, "default_max_age_in_sec": 300},
    {"key": "wrong", "kind": "boolean", "fetched": False, "default_max_age_in_sec": None},
    {"key": "roles", "kind": "array", "fetched": ["admin", "user"], "default_max_age_in_sec": None},
    {"key": "plan", "kind": "primitive", "fetched": None, "default_max_age_in_sec": None},
    {"key": "tier", "kind": "primitive", "fetched": "gold", "default_max_age_in_sec": 60},
]


def _has(key: str, value: Any, max_age: int | None = None) -> dict[str, Any]:
    return {"kind": "has_value", "key": key, "value": value, "max_age": max_age}


def _array(kind: str, key: str, value: Any, max_age: int | None = None) -> dict[str, Any]:
    return {"kind": kind, "key": key, "value": value, "max_age": max_age}


FRESH = 1_000
OLD = 600_000
SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "missing",
        "function": "get_session",
        "payload": {},
        "validators": [_has("flag", True)],
    },
    {
        "name": "fresh within max age",
        "function": "get_session",
        "payload": {"flag": {"v": True, "age_ms": FRESH}},
        "validators": [_has("flag", True, 300)],
    },
    {
        "name": "older than max age",
        "function": "get_session",
        "payload": {"flag": {"v": False, "age_ms": OLD}, "keep": 1},
        "validators": [_has("flag", True, 300)],
    },
    {
        "name": "old without max age",
        "function": "get_session",
        "payload": {"flag": {"v": True, "age_ms": OLD}},
        "validators": [_has("flag", True)],
    },
    {
        "name": "default max age",
        "function": "get_session",
        "payload": {"aged": {"v": True, "age_ms": OLD}},
        "validators": [_has("aged", True)],
    },
    {
        "name": "own max age beats the default",
        "function": "get_session",
        "payload": {"aged": {"v": True, "age_ms": OLD}},
        "validators": [_has("aged", True, 3600)],
    },
    {
        "name": "nothing found",
        "function": "get_session",
        "payload": {},
        "validators": [_has("plan", "pro")],
    },
    {
        "name": "fetched a wrong value",
        "function": "get_session",
        "payload": {},
        "validators": [_has("wrong", True)],
    },
    {
        "name": "array claim, one fetch for two validators",
        "function": "get_session",
        "payload": {},
        "validators": [
            _array("includes", "roles", "admin"),
            _array("excludes_all", "roles", ["root", "guest"]),
        ],
    },
    {
        "name": "several claims, some fresh",
        "function": "get_session",
        "payload": {"tier": {"v": "gold", "age_ms": FRESH}, "roles": {"v": ["x"], "age_ms": OLD}},
        "validators": [_has("tier", "gold"), _array("includes", "roles", "admin", 300)],
    },
    {
        "name": "by handle: missing",
        "function": "validate_claims_for_session_handle",
        "payload": {"keep": 1},
        "validators": [_has("flag", True), _array("includes", "roles", "user")],
    },
    {
        "name": "by handle: fresh",
        "function": "validate_claims_for_session_handle",
        "payload": {"flag": {"v": True, "age_ms": FRESH}},
        "validators": [_has("flag", True, 300)],
    },
    {
        "name": "by handle: unknown handle",
        "function": "validate_claims_for_session_handle",
        "payload": {},
        "validators": [_has("flag", True)],
        "unknown_handle": True,
    },
    {
        "name": "jwt payload: never fetched",
        "function": "validate_claims_in_jwt_payload",
        "payload": {"aged": {"v": True, "age_ms": OLD}},
        "validators": [_has("flag", True), _has("aged", True)],
    },
    {
        "name": "fetch and set",
        "function": "fetch_and_set_claim",
        "payload": {"keep": 1},
        "claim": "roles",
    },
    {
        "name": "fetch and set: nothing found",
        "function": "fetch_and_set_claim",
        "payload": {"plan": {"v": "old", "age_ms": OLD}},
        "claim": "plan",
    },
    {
        "name": "fetch and set: unknown handle",
        "function": "fetch_and_set_claim",
        "payload": {},
        "claim": "flag",
        "unknown_handle": True,
    },
]

fetches: Counter[str] = Counter()


def _fetcher(key: str, value: Any) -> Any:
    async def fetch_value(user_id: str, user_context: dict[str, Any]) -> Any:
        fetches[key] += 1
        return value

    return fetch_value


_CLASSES = {"boolean": BooleanClaim, "primitive": PrimitiveClaim, "array": PrimitiveArrayClaim}


def claims() -> list[SessionClaim]:
    return [
        _CLASSES[c["kind"]](c["key"], _fetcher(c["key"], c["fetched"]), c["default_max_age_in_sec"])
        for c in CLAIMS
    ]
