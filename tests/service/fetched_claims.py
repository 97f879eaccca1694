"""Claims (and an override hook) that tests load by configuration only, as an operator's own
``--claims-module`` would be: every ``fetch_value`` counts its calls and records the
``user_context`` it was given. ``reset()`` before each test; ``values`` sets what a claim's
``fetch_value`` returns (a key that is not there returns None).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from session_service.domain.api import SessionResult, StatusResult
from session_service.domain.overrides import RecipeFunctions
from session_service.domain.session_claims import (
    BooleanClaim,
    PrimitiveArrayClaim,
    PrimitiveClaim,
    SessionClaim,
)

DEFAULT_VALUES: dict[str, Any] = {
    "verified": True,
    "aged": True,
    "roles": ["admin", "user"],
    "tier": "gold",
}
values: dict[str, Any] = {}
fetch_calls: Counter[str] = Counter()
# (claim key, user id, the user_context as fetch_value saw it)
seen_contexts: list[tuple[str, str, dict[str, Any]]] = []
# (recipe function, the user_context as the override hook saw it)
hook_contexts: list[tuple[str, dict[str, Any]]] = []
SECRET = "postgresql://claims:hunter2@db.internal/claims"


def reset() -> None:
    values.clear()
    values.update(DEFAULT_VALUES)
    fetch_calls.clear()
    seen_contexts.clear()
    hook_contexts.clear()


def _record(key: str, user_id: str, user_context: dict[str, Any]) -> Any:
    fetch_calls[key] += 1
    seen_contexts.append((key, user_id, dict(user_context)))
    return values.get(key)


def _fetcher(key: str) -> Any:
    async def fetch_value(user_id: str, user_context: dict[str, Any]) -> Any:
        return _record(key, user_id, user_context)

    return fetch_value


async def fetch_plan(user_id: str, user_context: dict[str, Any]) -> Any:
    """The plan the caller put in user_context (None, so nothing is set, when it did not)."""
    _record("plan", user_id, user_context)
    return user_context.get("plan")


def fetch_tier(user_id: str, user_context: dict[str, Any]) -> Any:
    """A synchronous fetch_value (the SDK takes either)."""
    return _record("tier", user_id, user_context)


async def fetch_broken(user_id: str, user_context: dict[str, Any]) -> Any:
    _record("broken", user_id, user_context)
    raise ConnectionError(f"could not connect to {SECRET}")


async def fetch_not_json(user_id: str, user_context: dict[str, Any]) -> Any:
    _record("not-json", user_id, user_context)
    return {"a", "set"}


claims: list[SessionClaim] = [
    BooleanClaim("verified", _fetcher("verified")),
    BooleanClaim("aged", _fetcher("aged"), default_max_age_in_sec=300),
    PrimitiveArrayClaim("roles", _fetcher("roles")),
    PrimitiveClaim("plan", fetch_plan),
    PrimitiveClaim("tier", fetch_tier),
    PrimitiveClaim("broken", fetch_broken),
    PrimitiveClaim("not-json", fetch_not_json),
]


def only_verified() -> list[SessionClaim]:
    """A function the module names instead of a list (``module:only_verified``)."""
    return [claims[0]]


def record_context(original: RecipeFunctions) -> RecipeFunctions:
    """An override hook that records the user_context of get_session and
    fetch_and_set_claim and adds a key to it, which fetch_value then sees."""

    async def get_session(*args: Any, **kwargs: Any) -> SessionResult:
        hook_contexts.append(("get_session", dict(kwargs["user_context"])))
        kwargs["user_context"]["hook"] = "get_session"
        return await original.get_session(*args, **kwargs)

    async def fetch_and_set_claim(*args: Any, **kwargs: Any) -> StatusResult:
        hook_contexts.append(("fetch_and_set_claim", dict(kwargs["user_context"])))
        kwargs["user_context"]["hook"] = "fetch_and_set_claim"
        return await original.fetch_and_set_claim(*args, **kwargs)

    return dataclasses.replace(
        original, get_session=get_session, fetch_and_set_claim=fetch_and_set_claim
    )
