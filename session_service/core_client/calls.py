"""The CDI 2.21 calls the service makes, one function each, with the core's replies read
into typed values (``replies.py``). A 400 (the core refused the request as invalid) is
``InvalidArgument`` on the argument it is about when its message names one, else
``CoreUnavailable``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from session_common.json_values import JSONObject
from session_service.core_client.client import CoreClient
from session_service.core_client.http import CoreRejectedRequest, CoreRouteMissing
from session_service.core_client.replies import (
    IssuedSession,
    Refusal,
    RevocationPage,
    VerifiedSession,
    issued_session,
    malformed,
    message_of,
    ok_or_gone,
    revocation_page,
    session_object,
    status_of,
    token_info,
    value_of,
)
from session_service.domain.errors import (
    PROTECTED_CLAIMS,
    CoreUnavailable,
    DomainError,
    InvalidArgument,
)
from session_service.domain.types import (
    RegeneratedAccessToken,
    SessionInformation,
    Status,
    TokenTheft,
)


async def create_session(
    core: CoreClient,
    *,
    user_id: str,
    access_token_payload: JSONObject,
    session_data_in_database: JSONObject,
    use_dynamic_signing_key: bool,
    enable_anti_csrf: bool,
    deadline: float | None,
) -> IssuedSession:
    """``POST /recipe/session``."""
    body = {
        "userId": user_id,
        "userDataInJWT": access_token_payload,
        "userDataInDatabase": session_data_in_database,
        "useDynamicSigningKey": use_dynamic_signing_key,
        "enableAntiCsrf": enable_anti_csrf,
    }
    reply = await _call(
        core,
        "POST",
        "/recipe/session",
        body=body,
        deadline=deadline,
        fields={
            "userId": "user_id",
            "userDataInJWT": "access_token_payload",
            "userDataInDatabase": "session_data_in_database",
        },
        payload_field="access_token_payload",
    )
    if status_of(reply, "create") != "OK":
        raise malformed("create")
    return issued_session(reply, "create")


async def verify_session(
    core: CoreClient,
    *,
    access_token: str,
    anti_csrf_token: str | None,
    do_anti_csrf_check: bool,
    enable_anti_csrf: bool,
    check_database: bool,
    deadline: float | None,
) -> VerifiedSession | Refusal:
    """``POST /recipe/session/verify``: UNAUTHORISED, or TRY_REFRESH_TOKEN for any other
    status that is not OK (as the SDK's ``session_functions.get_session`` reads it)."""
    body: JSONObject = {
        "accessToken": access_token,
        "doAntiCsrfCheck": do_anti_csrf_check,
        "enableAntiCsrf": enable_anti_csrf,
        "checkDatabase": check_database,
    }
    if anti_csrf_token is not None:
        body["antiCsrfToken"] = anti_csrf_token
    reply = await _call(core, "POST", "/recipe/session/verify", body=body, deadline=deadline)
    status = status_of(reply, "verify")
    if status == "UNAUTHORISED":
        return Refusal(Status.UNAUTHORISED, message_of(reply))
    if status != "OK":
        return Refusal(Status.TRY_REFRESH_TOKEN, message_of(reply))
    handle, user_id, user_data = session_object(reply, "verify")
    new_token = reply.get("accessToken")
    return VerifiedSession(
        handle, user_id, user_data, None if new_token is None else token_info(new_token, "verify")
    )


async def refresh_session(
    core: CoreClient,
    *,
    refresh_token: str,
    anti_csrf_token: str | None,
    enable_anti_csrf: bool,
    deadline: float | None,
) -> IssuedSession | Refusal:
    """``POST /recipe/session/refresh``: the new tokens, UNAUTHORISED, or
    TOKEN_THEFT_DETECTED with the session whose refresh token was reused."""
    body: JSONObject = {"refreshToken": refresh_token, "enableAntiCsrf": enable_anti_csrf}
    if anti_csrf_token is not None:
        body["antiCsrfToken"] = anti_csrf_token
    reply = await _call(core, "POST", "/recipe/session/refresh", body=body, deadline=deadline)
    status = status_of(reply, "refresh")
    if status == "OK":
        return issued_session(reply, "refresh")
    if status == "UNAUTHORISED":
        return Refusal(Status.UNAUTHORISED, message_of(reply))
    if status == "TOKEN_THEFT_DETECTED":
        session_object = value_of(reply, "session", dict, "refresh")
        theft = TokenTheft(
            session_handle=value_of(session_object, "handle", str, "refresh"),
            user_id=value_of(session_object, "userId", str, "refresh"),
        )
        return Refusal(Status.TOKEN_THEFT_DETECTED, theft=theft)
    raise malformed("refresh")


async def remove_sessions(
    core: CoreClient,
    *,
    session_handles: Sequence[str] | None = None,
    user_id: str | None = None,
    deadline: float | None,
) -> tuple[str, ...]:
    """``POST /recipe/session/remove``, of these sessions or of every session of the user:
    the handles the core removed."""
    body: JSONObject
    if user_id is not None:
        body = {"userId": user_id}
    else:
        body = {"sessionHandles": list(session_handles or ())}
    reply = await _call(core, "POST", "/recipe/session/remove", body=body, deadline=deadline)
    revoked = value_of(reply, "sessionHandlesRevoked", list, "session/remove")
    if status_of(reply, "session/remove") != "OK" or not all(isinstance(h, str) for h in revoked):
        raise malformed("session/remove")
    return tuple(revoked)


async def session_handles_for_user(
    core: CoreClient, user_id: str, *, deadline: float | None
) -> tuple[str, ...]:
    """``GET /recipe/session/user``."""
    reply = await _call(
        core, "GET", "/recipe/session/user", params={"userId": user_id}, deadline=deadline
    )
    handles = value_of(reply, "sessionHandles", list, "session/user")
    if status_of(reply, "session/user") != "OK" or not all(isinstance(h, str) for h in handles):
        raise malformed("session/user")
    return tuple(handles)


async def session_information(
    core: CoreClient, session_handle: str, *, deadline: float | None
) -> SessionInformation | None:
    """``GET /recipe/session``: None when the core does not know the session."""
    reply = await _call(
        core, "GET", "/recipe/session", params={"sessionHandle": session_handle}, deadline=deadline
    )
    status = status_of(reply, "session")
    if status == "UNAUTHORISED":
        return None
    if status != "OK":
        raise malformed("session")
    return SessionInformation(
        session_handle=value_of(reply, "sessionHandle", str, "session"),
        user_id=value_of(reply, "userId", str, "session"),
        session_data_in_database=value_of(reply, "userDataInDatabase", dict, "session"),
        expiry_ms=value_of(reply, "expiry", int, "session"),
        custom_claims_in_access_token_payload=value_of(reply, "userDataInJWT", dict, "session"),
        time_created_ms=value_of(reply, "timeCreated", int, "session"),
    )


async def update_session_data(
    core: CoreClient, session_handle: str, data: JSONObject, *, deadline: float | None
) -> bool:
    """``PUT /recipe/session/data`` (``data`` is the argument ``new_session_data``): False
    when the core does not know the session."""
    reply = await _call(
        core,
        "PUT",
        "/recipe/session/data",
        body={"sessionHandle": session_handle, "userDataInDatabase": data},
        deadline=deadline,
        payload_field="new_session_data",
    )
    return ok_or_gone(reply, "session/data")


async def update_access_token_payload(
    core: CoreClient,
    session_handle: str,
    payload: JSONObject,
    *,
    field: str,
    deadline: float | None,
) -> bool:
    """``PUT /recipe/jwt/data``: the session's stored payload replaced by ``payload``, which
    comes from the argument ``field``. False when the core does not know the session."""
    reply = await _call(
        core,
        "PUT",
        "/recipe/jwt/data",
        body={"sessionHandle": session_handle, "userDataInJWT": payload},
        deadline=deadline,
        payload_field=field,
    )
    return ok_or_gone(reply, "jwt/data")


async def regenerate_session(
    core: CoreClient, access_token: str, payload: JSONObject, *, deadline: float | None
) -> RegeneratedAccessToken | Refusal:
    """``POST /recipe/session/regenerate``: the session with ``payload`` as its stored
    payload and, unless the token had expired, a new access token; UNAUTHORISED when the
    session is gone."""
    reply = await _call(
        core,
        "POST",
        "/recipe/session/regenerate",
        body={"accessToken": access_token, "userDataInJWT": payload},
        deadline=deadline,
        fields={"userDataInJWT": "new_access_token_payload", "accessToken": "access_token"},
        payload_field="new_access_token_payload",
    )
    status = status_of(reply, "regenerate")
    if status == "UNAUTHORISED":
        return Refusal(Status.UNAUTHORISED, message_of(reply))
    if status != "OK":
        raise malformed("regenerate")
    handle, user_id, user_data = session_object(reply, "regenerate")
    new_token = reply.get("accessToken")
    return RegeneratedAccessToken(
        session_handle=handle,
        user_id=user_id,
        access_token_payload=user_data,
        new_access_token=None if new_token is None else token_info(new_token, "regenerate"),
    )


async def create_jwt(
    core: CoreClient,
    *,
    payload: JSONObject,
    validity_seconds: int,
    use_static_signing_key: bool,
    jwks_domain: str,
    deadline: float | None,
) -> str | None:
    """``POST /recipe/jwt`` (RS256): the JWT, or None when the core does not support RS256."""
    body = {
        "payload": payload,
        "validity": validity_seconds,
        "useStaticSigningKey": use_static_signing_key,
        "algorithm": "RS256",
        "jwksDomain": jwks_domain,
    }
    reply = await _call(
        core,
        "POST",
        "/recipe/jwt",
        body=body,
        deadline=deadline,
        fields={"payload": "payload", "validity": "validity_seconds"},
        payload_field="payload",
    )
    status = status_of(reply, "jwt")
    if status == "OK":
        return str(value_of(reply, "jwt", str, "jwt"))
    if status == "UNSUPPORTED_ALGORITHM_ERROR":
        return None
    raise malformed("jwt")


class CursorRejected(Exception):
    """The core refused a feed request as invalid (400): its cursor, when one was given."""


async def revocations(
    core: CoreClient, *, since: str | None, wait_ms: int, limit: int
) -> RevocationPage | None:
    """``GET /recipe/session/revocations``: the project's core's revocation feed, an
    extension beyond CDI 2.21 (docs/core.md). Without ``since``, every entry still inside
    its window; with it, the entries after it, the core holding the request up to
    ``wait_ms`` for news. The call's time is the configured core timeout plus that wait.
    None: the core has no feed (it answers 404, as the SuperTokens core does).
    ``CursorRejected`` when the core cannot read ``since``."""
    params = {"timeout_ms": str(wait_ms), "limit": str(limit)}
    if since is not None:
        params["since"] = since
    try:
        reply = await core.get_held(
            "/recipe/session/revocations", params, hold_seconds=wait_ms / 1000
        )
    except CoreRouteMissing:
        return None
    except CoreRejectedRequest:
        raise CursorRejected("the core refused the revocation feed request (HTTP 400)") from None
    return revocation_page(reply)


# -- calling ----------------------------------------------------------------------------------


async def _call(
    core: CoreClient,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    body: JSONObject | None = None,
    deadline: float | None,
    fields: Mapping[str, str] | None = None,
    payload_field: str | None = None,
) -> JSONObject:
    """``fields``: the body's fields the caller gave, by the arguments they came from;
    ``payload_field``: the argument that holds the access-token payload (``_blame``)."""
    try:
        if method == "GET":
            return await core.get(path, params or {}, deadline=deadline)
        assert body is not None
        if method == "PUT":
            return await core.put(path, body, deadline=deadline)
        return await core.post(path, body, deadline=deadline)
    except CoreRejectedRequest as exc:
        raise _blame(exc, fields or {}, payload_field) from None


def _blame(
    exc: CoreRejectedRequest, fields: Mapping[str, str], payload_field: str | None
) -> DomainError:
    """Turn a core 400 into InvalidArgument on the request field it is about, or
    CoreUnavailable when the request cannot be blamed (the core misbehaves)."""
    message = exc.core_message
    if payload_field is not None and "protected field" in message:
        return InvalidArgument(
            payload_field, f"must not contain a protected claim ({PROTECTED_CLAIMS})"
        )
    for core_name, field in fields.items():
        if f"'{core_name}'" in message or message.startswith(core_name):
            return InvalidArgument(field, f"rejected by the session core: {message}")
    return CoreUnavailable(f"{exc}{': ' + message if message else ''}")
