"""The recipe functions of sessions: create, refresh, revoke, read and update a session
(supertokens-python 0.14.0's ``RecipeImplementation`` functions of those names, over the
core calls of ``supertokens_python.recipe.session.session_functions``). Where the SDK raises
or returns False/None, the result carries a ``Status``."""

from __future__ import annotations

from collections.abc import Sequence

from session_common.json_values import JSONObject
from session_service.core_client import calls
from session_service.core_client.replies import IssuedSession, Refusal
from session_service.domain.access_token import build_front_token, issued_payload
from session_service.domain.arguments import json_object, required_str
from session_service.domain.errors import InvalidArgument
from session_service.domain.limits import access_token_length, too_deep
from session_service.domain.messages import (
    NO_REFRESH_TOKEN_MESSAGE,
    SESSION_GONE_MESSAGE,
    THEFT_MESSAGE,
)
from session_service.domain.recipe_parts import RecipeParts
from session_service.domain.token_parsing import TokenParseError, parse_access_token
from session_service.domain.types import (
    RegenerateAccessTokenResult,
    RevokeResult,
    Session,
    SessionHandlesResult,
    SessionInformationResult,
    SessionResult,
    Status,
    StatusResult,
)
from session_service.domain.verifier import TokenVerificationError


async def create_new_session(
    parts: RecipeParts,
    user_id: str,
    access_token_payload: JSONObject | None = None,
    session_data_in_database: JSONObject | None = None,
    disable_anti_csrf: bool = False,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> SessionResult:
    """Create a session with exactly this payload (``POST /recipe/session``)."""
    required_str("user_id", user_id)
    payload = json_object("access_token_payload", access_token_payload, optional=True)
    data = json_object("session_data_in_database", session_data_in_database, optional=True)
    deadline = parts.core.deadline(timeout)
    issued = await calls.create_session(
        parts.core,
        user_id=user_id,
        access_token_payload=payload or {},
        session_data_in_database=data or {},
        use_dynamic_signing_key=parts.config.use_dynamic_access_token_signing_key,
        enable_anti_csrf=parts.via_token and not disable_anti_csrf,
        deadline=deadline,
    )
    session = _issued_session(issued, "create")
    # Only the core's answer shows which key signs this session's tokens: a session
    # whose tokens could grow past the limit is removed again before anyone saw it.
    token = parse_access_token(session.access_token, max_length=len(session.access_token))
    length = access_token_length(
        session.user_id,
        session.session_handle,
        payload or {},
        token.kid or "",
        len(token.signature),
    )
    if length > parts.config.max_access_token_bytes:
        await calls.remove_sessions(
            parts.core, session_handles=[session.session_handle], deadline=deadline
        )
        raise InvalidArgument("access_token_payload", parts.limits.too_long(length))
    return SessionResult(Status.OK, session=session)


async def refresh_session(
    parts: RecipeParts,
    refresh_token: str,
    anti_csrf_token: str | None = None,
    disable_anti_csrf: bool = False,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> SessionResult:
    """OK / UNAUTHORISED / TOKEN_THEFT_DETECTED, the core's answers to
    ``POST /recipe/session/refresh`` (the SDK's ``session_functions.refresh_session`` raises
    ``UnauthorisedError`` or ``TokenTheftError`` for the last two). UNAUTHORISED also when
    the new access token is one GetSession would refuse (a payload written through the
    core's own API past the service's limits): the session cannot be used through it."""
    if not refresh_token:
        return SessionResult(Status.UNAUTHORISED, NO_REFRESH_TOKEN_MESSAGE)
    reply = await calls.refresh_session(
        parts.core,
        refresh_token=refresh_token,
        anti_csrf_token=anti_csrf_token,
        enable_anti_csrf=parts.via_token and not disable_anti_csrf,
        deadline=parts.core.deadline(timeout),
    )
    if isinstance(reply, Refusal):
        if reply.theft is not None:
            return SessionResult(reply.status, THEFT_MESSAGE, theft=reply.theft)
        return SessionResult(reply.status, reply.message)
    session = _issued_session(reply, "refresh")
    refusal = parts.limits.unusable(session.access_token, session.access_token_payload)
    if refusal is not None:
        return SessionResult(Status.UNAUTHORISED, refusal)
    return SessionResult(Status.OK, session=session)


async def revoke_session(
    parts: RecipeParts,
    session_handle: str,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> RevokeResult:
    """OK when exactly this session was revoked, else SESSION_DOES_NOT_EXIST."""
    required_str("session_handle", session_handle)
    revoked = await calls.remove_sessions(
        parts.core, session_handles=[session_handle], deadline=parts.core.deadline(timeout)
    )
    _revoked(parts, (session_handle, *revoked), revoked)
    if len(revoked) == 1:
        return RevokeResult(Status.OK, revoked_session_handles=revoked)
    return RevokeResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE, revoked)


async def revoke_all_sessions_for_user(
    parts: RecipeParts,
    user_id: str,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> RevokeResult:
    required_str("user_id", user_id)
    revoked = await calls.remove_sessions(
        parts.core, user_id=user_id, deadline=parts.core.deadline(timeout)
    )
    _revoked(parts, revoked, revoked)
    return RevokeResult(Status.OK, revoked_session_handles=revoked)


async def revoke_multiple_sessions(
    parts: RecipeParts,
    session_handles: Sequence[str],
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> RevokeResult:
    if isinstance(session_handles, str) or not all(isinstance(h, str) for h in session_handles):
        raise InvalidArgument("session_handles", "must be a list of strings")
    revoked = await calls.remove_sessions(
        parts.core, session_handles=session_handles, deadline=parts.core.deadline(timeout)
    )
    _revoked(parts, (*session_handles, *revoked), revoked)
    return RevokeResult(Status.OK, revoked_session_handles=revoked)


def _revoked(parts: RecipeParts, asked: Sequence[str], removed: Sequence[str]) -> None:
    """After a removal through the core: drop the cached tokens of every session asked
    about, and keep those the core confirmed removed in the revoked set at once (when the
    feed is followed), so that this process refuses them without waiting for the feed to
    bring the removal back (``Revocations.add_local``)."""
    parts.tokens.forget_sessions(asked)
    parts.revocations.add_local(removed, parts.clock.now_ms())


async def get_all_session_handles_for_user(
    parts: RecipeParts,
    user_id: str,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> SessionHandlesResult:
    required_str("user_id", user_id)
    handles = await calls.session_handles_for_user(
        parts.core, user_id, deadline=parts.core.deadline(timeout)
    )
    return SessionHandlesResult(Status.OK, session_handles=handles)


async def get_session_information(
    parts: RecipeParts,
    session_handle: str,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> SessionInformationResult:
    """The recipe function (what an override of get_session_information replaces): the
    session as the core stores it, or SESSION_DOES_NOT_EXIST. The functions that read a
    session to work on its payload (validate_claims_for_session_handle,
    fetch_and_set_claim) call it and check only the payload."""
    required_str("session_handle", session_handle)
    info = await calls.session_information(
        parts.core, session_handle, deadline=parts.core.deadline(timeout)
    )
    if info is None:
        return SessionInformationResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
    return SessionInformationResult(Status.OK, info=info)


async def update_session_data_in_database(
    parts: RecipeParts,
    session_handle: str,
    new_session_data: JSONObject,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> StatusResult:
    required_str("session_handle", session_handle)
    data = json_object("new_session_data", new_session_data)
    assert data is not None
    found = await calls.update_session_data(
        parts.core, session_handle, data, deadline=parts.core.deadline(timeout)
    )
    return _ok_or_gone(found)


async def merge_into_access_token_payload(
    parts: RecipeParts,
    session_handle: str,
    access_token_payload_update: JSONObject,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> StatusResult:
    """Shallow-merge into the stored payload; keys set to None are removed (the SDK's
    ``RecipeImplementation.merge_into_access_token_payload``)."""
    required_str("session_handle", session_handle)
    update = json_object("access_token_payload_update", access_token_payload_update)
    assert update is not None
    return await merge_payload(
        parts, session_handle, update, parts.core.deadline(timeout), "access_token_payload_update"
    )


async def regenerate_access_token(
    parts: RecipeParts,
    access_token: str,
    new_access_token_payload: JSONObject | None = None,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> RegenerateAccessTokenResult:
    """Re-issue ``access_token`` with ``new_access_token_payload``, which replaces the
    stored payload; None means ``{}``, as the SDK's ``regenerate_access_token`` sends.

    The core does not check the token's signature and copies the token's user id,
    expiry and hashes into the one it signs, so the service checks the signature first
    (an expired token is accepted: the core answers it without a new token).
    """
    required_str("access_token", access_token)
    payload = json_object("new_access_token_payload", new_access_token_payload, optional=True)
    try:
        parsed = parse_access_token(access_token, max_length=parts.config.max_access_token_bytes)
    except TokenParseError:
        raise InvalidArgument("access_token", "is not a session access token") from None
    deadline = parts.core.deadline(timeout)
    try:
        verified = await parts.verifier.verify(
            parsed, anti_csrf_required=False, deadline=deadline, check_times=False
        )
    except TokenVerificationError as exc:
        return RegenerateAccessTokenResult(Status.TRY_REFRESH_TOKEN, str(exc))
    if payload is not None:
        await parts.limits.check_token_length(
            "new_access_token_payload",
            verified.user_id,
            verified.session_handle,
            payload,
            deadline,
        )
    regenerated = await calls.regenerate_session(
        parts.core, access_token, payload or {}, deadline=deadline
    )
    if isinstance(regenerated, Refusal):
        return RegenerateAccessTokenResult(regenerated.status, regenerated.message)
    token_info = regenerated.new_access_token
    # Without a new payload the stored one is re-issued, which may have been written
    # past the service's limits through the core's own API.
    refusal = parts.limits.unusable(
        None if token_info is None else token_info.token, regenerated.access_token_payload
    )
    if refusal is not None:
        return RegenerateAccessTokenResult(Status.UNAUTHORISED, refusal)
    return RegenerateAccessTokenResult(Status.OK, result=regenerated)


async def merge_payload(
    parts: RecipeParts, session_handle: str, update: JSONObject, deadline: float | None, field: str
) -> StatusResult:
    """The SDK's recipe-level merge: read, shallow-merge, drop None values, write.
    ``field`` is the request field the update comes from (named when it is refused).

    Like the SDK it is not atomic: a concurrent merge between the read and the write
    can be lost.
    """
    info = await calls.session_information(parts.core, session_handle, deadline=deadline)
    if info is None:
        return StatusResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
    merged = {**info.custom_claims_in_access_token_payload, **update}
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
    # The update itself was checked; a stored payload written past the limits through
    # the core's own API is accepted only once the update brings it back within them.
    reason = too_deep(merged)
    if reason is not None:
        raise InvalidArgument(field, f"the merged access-token payload {reason}")
    await parts.limits.check_token_length(field, info.user_id, session_handle, merged, deadline)
    found = await calls.update_access_token_payload(
        parts.core, session_handle, merged, field=field, deadline=deadline
    )
    return _ok_or_gone(found)


def _issued_session(issued: IssuedSession, what: str) -> Session:
    """A Session from a create/refresh answer: the payload is the new access token's."""
    access = issued.access_token
    payload = issued_payload(access.token, what)
    return Session(
        session_handle=issued.session_handle,
        user_id=issued.user_id,
        access_token_payload=payload,
        access_token=access.token,
        access_token_expiry_ms=access.expiry_ms,
        front_token=build_front_token(issued.user_id, access.expiry_ms, payload),
        new_access_token=access,
        refresh_token=issued.refresh_token,
        anti_csrf_token=issued.anti_csrf_token,
    )


def _ok_or_gone(found: bool) -> StatusResult:
    if found:
        return StatusResult(Status.OK)
    return StatusResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
