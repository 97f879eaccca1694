"""Override hooks that tests load by configuration only (``override_module``), the way an
operator's own module would be: the SDK 0.13 migration guide's issuer example, and a ban list.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from session_service.domain.api import SessionResult, Status
from session_service.domain.overrides import RecipeFunctions

ISSUER = "https://auth.example.com"
BANNED_USERS = frozenset({"mallory"})
BANNED_MESSAGE = "this user is banned"


def with_issuer(original: RecipeFunctions) -> RecipeFunctions:
    """Add an ``iss`` claim to every new access token (what the session recipe's removed
    ``jwt.issuer`` setting did before SDK 0.13)."""

    async def create_new_session(
        user_id: str, access_token_payload: dict[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> SessionResult:
        payload = {**(access_token_payload or {}), "iss": ISSUER}
        return await original.create_new_session(user_id, payload, *args, **kwargs)

    return dataclasses.replace(original, create_new_session=create_new_session)


def override(original: RecipeFunctions) -> RecipeFunctions:
    """The issuer, and sessions of banned users refused as UNAUTHORISED."""
    functions = with_issuer(original)

    async def get_session(*args: Any, **kwargs: Any) -> SessionResult:
        result = await functions.get_session(*args, **kwargs)
        if result.session is not None and result.session.user_id in BANNED_USERS:
            return SessionResult(Status.UNAUTHORISED, BANNED_MESSAGE)
        return result

    return dataclasses.replace(functions, get_session=get_session)


def not_recipe_functions(original: RecipeFunctions) -> object:
    return {"create_new_session": original.create_new_session}


# (handle, user_context) of every revoke_session call, in order (read by the tests).
REVOKED: list[tuple[str, dict[str, Any]]] = []


def recording_revokes(original: RecipeFunctions) -> RecipeFunctions:
    """Record every revoke_session call, then revoke as usual."""

    async def revoke_session(session_handle: str, *args: Any, **kwargs: Any) -> Any:
        REVOKED.append((session_handle, dict(kwargs["user_context"])))
        return await original.revoke_session(session_handle, *args, **kwargs)

    return dataclasses.replace(original, revoke_session=revoke_session)
