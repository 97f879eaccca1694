"""One function per ``session.v1.SessionService`` RPC: it builds the request and says how to
read the response, and does no I/O. ``SessionClient`` (asyncio) and ``SyncSessionClient``
run the same ``Call`` objects, so both have these signatures and docstrings, written once.

Every call takes ``user_context``, the SDK's user_context: a JSON object the service hands
to its override hooks and to the claims' ``fetch_value`` (unset: ``{}``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from session_client._pb.session.v1 import session_service_pb2 as pb
from session_client._struct import to_python, to_struct, to_value
from session_client.types import (
    ClaimsValidationResult,
    ClaimValueResult,
    CreatedSession,
    CreateJwtResult,
    GetSessionResult,
    JwksResult,
    OpenIdDiscoveryConfiguration,
    RefreshSessionResult,
    RegenerateAccessTokenResult,
    SessionHandlesResult,
    SessionInformationResult,
    SessionStatus,
    StatusResult,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """An RPC to make: the method name, the request, and the response's conversion."""

    method: str
    request: Any
    parse: Callable[[Any], T]


def method_signature(build: Callable[..., Call[Any]]) -> inspect.Signature:
    """The signature of a client method running ``build``: ``self`` first, and the result
    type instead of ``Call[result]`` (so ``help()`` shows what a caller gets)."""
    signature = inspect.signature(build)
    returned = str(signature.return_annotation).removeprefix("Call[").removesuffix("]")
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    return signature.replace(
        parameters=[self_parameter, *signature.parameters.values()],
        return_annotation=returned,
    )


UserContext = Mapping[str, Any] | None


def _call(
    method: str, request: Any, parse: Callable[[Any], T], user_context: UserContext
) -> Call[T]:
    if user_context is not None:
        request.user_context.CopyFrom(to_struct(user_context))
    return Call(method, request, parse)


def _status_result(response: Any) -> StatusResult:
    return StatusResult(status=SessionStatus.from_pb(response.status), message=response.message)


# -- sessions --------------------------------------------------------------------------------


def create_session(
    user_id: str,
    access_token_payload: Mapping[str, Any] | None = None,
    session_data_in_database: Mapping[str, Any] | None = None,
    disable_anti_csrf: bool = False,
    *,
    user_context: UserContext = None,
) -> Call[CreatedSession]:
    """A new session. ``disable_anti_csrf`` when the tokens travel in headers (a cross-site
    page cannot set those), as the SDK's request layer does."""
    request = pb.CreateSessionRequest(user_id=user_id, disable_anti_csrf=disable_anti_csrf)
    if access_token_payload is not None:
        request.access_token_payload.CopyFrom(to_struct(access_token_payload))
    if session_data_in_database is not None:
        request.session_data_in_database.CopyFrom(to_struct(session_data_in_database))
    return _call("CreateSession", request, CreatedSession.from_pb, user_context)


def get_session(
    access_token: str | None,
    *,
    anti_csrf_token: str | None = None,
    anti_csrf_check: bool | None = None,
    session_required: bool | None = None,
    check_database: bool = False,
    claim_validators: Iterable[pb.ClaimValidator] = (),
    override_global_claim_validators: bool = False,
    user_context: UserContext = None,
) -> Call[GetSessionResult]:
    """Verify an access token. ``None`` for the optional flags means the SDK default
    (check anti-CSRF, session required)."""
    request = pb.GetSessionRequest(
        access_token=access_token or "",
        anti_csrf_token=anti_csrf_token,
        anti_csrf_check=anti_csrf_check,
        session_required=session_required,
        check_database=check_database,
        claim_validators=list(claim_validators),
        override_global_claim_validators=override_global_claim_validators,
    )
    return _call("GetSession", request, GetSessionResult.from_pb, user_context)


def refresh_session(
    refresh_token: str,
    anti_csrf_token: str | None = None,
    disable_anti_csrf: bool = False,
    *,
    user_context: UserContext = None,
) -> Call[RefreshSessionResult]:
    """Rotate the tokens. TOKEN_THEFT_DETECTED means an old refresh token was reused; the
    service has revoked ``token_theft.session_handle`` unless it runs with
    ``--revoke-session-on-token-theft false`` (then revoke it yourself)."""
    request = pb.RefreshSessionRequest(
        refresh_token=refresh_token,
        anti_csrf_token=anti_csrf_token,
        disable_anti_csrf=disable_anti_csrf,
    )
    return _call("RefreshSession", request, RefreshSessionResult.from_pb, user_context)


def revoke_session(session_handle: str, *, user_context: UserContext = None) -> Call[StatusResult]:
    """OK, or SESSION_DOES_NOT_EXIST when there was no such live session."""
    request = pb.RevokeSessionRequest(session_handle=session_handle)
    return _call("RevokeSession", request, _status_result, user_context)


def revoke_all_sessions_for_user(
    user_id: str, *, user_context: UserContext = None
) -> Call[SessionHandlesResult]:
    """``session_handles``: the handles revoked (empty when the user had no live session)."""
    request = pb.RevokeAllSessionsForUserRequest(user_id=user_id)
    return _call("RevokeAllSessionsForUser", request, SessionHandlesResult.from_pb, user_context)


def revoke_multiple_sessions(
    session_handles: Sequence[str], *, user_context: UserContext = None
) -> Call[SessionHandlesResult]:
    """``session_handles``: the handles revoked; unknown handles are ignored."""
    request = pb.RevokeMultipleSessionsRequest(session_handles=list(session_handles))
    return _call("RevokeMultipleSessions", request, SessionHandlesResult.from_pb, user_context)


def get_all_session_handles_for_user(
    user_id: str, *, user_context: UserContext = None
) -> Call[SessionHandlesResult]:
    """``session_handles``: the handles of the user's live sessions."""
    request = pb.GetAllSessionHandlesForUserRequest(user_id=user_id)
    return _call("GetAllSessionHandlesForUser", request, SessionHandlesResult.from_pb, user_context)


def get_session_information(
    session_handle: str, *, user_context: UserContext = None
) -> Call[SessionInformationResult]:
    request = pb.GetSessionInformationRequest(session_handle=session_handle)
    return _call("GetSessionInformation", request, SessionInformationResult.from_pb, user_context)


def update_session_data_in_database(
    session_handle: str, new_session_data: Mapping[str, Any], *, user_context: UserContext = None
) -> Call[StatusResult]:
    request = pb.UpdateSessionDataInDatabaseRequest(
        session_handle=session_handle, new_session_data=to_struct(new_session_data)
    )
    return _call("UpdateSessionDataInDatabase", request, _status_result, user_context)


def merge_into_access_token_payload(
    session_handle: str,
    access_token_payload_update: Mapping[str, Any],
    *,
    user_context: UserContext = None,
) -> Call[StatusResult]:
    """Keys whose value is None are removed from the stored payload."""
    request = pb.MergeIntoAccessTokenPayloadRequest(
        session_handle=session_handle,
        access_token_payload_update=to_struct(access_token_payload_update),
    )
    return _call("MergeIntoAccessTokenPayload", request, _status_result, user_context)


def regenerate_access_token(
    access_token: str,
    new_access_token_payload: Mapping[str, Any] | None = None,
    *,
    user_context: UserContext = None,
) -> Call[RegenerateAccessTokenResult]:
    """Re-issue ``access_token`` (its signature must verify) with the same expiry and
    ``new_access_token_payload``, which replaces the stored payload (None: ``{}``, as the
    SDK sends). ``access_token`` is None when the given token had already expired."""
    request = pb.RegenerateAccessTokenRequest(access_token=access_token)
    if new_access_token_payload is not None:
        request.new_access_token_payload.CopyFrom(to_struct(new_access_token_payload))
    return _call(
        "RegenerateAccessToken", request, RegenerateAccessTokenResult.from_pb, user_context
    )


# -- claims ---------------------------------------------------------------------------------


def set_claim_value(
    session_handle: str, claim_key: str, value: Any, *, user_context: UserContext = None
) -> Call[StatusResult]:
    request = pb.SetClaimValueRequest(
        session_handle=session_handle, claim_key=claim_key, value=to_value(value)
    )
    return _call("SetClaimValue", request, _status_result, user_context)


def _claim_value(response: Any) -> ClaimValueResult:
    return ClaimValueResult(
        status=SessionStatus.from_pb(response.status),
        message=response.message,
        value=to_python(response.value) if response.HasField("value") else None,
    )


def get_claim_value(
    session_handle: str, claim_key: str, *, user_context: UserContext = None
) -> Call[ClaimValueResult]:
    request = pb.GetClaimValueRequest(session_handle=session_handle, claim_key=claim_key)
    return _call("GetClaimValue", request, _claim_value, user_context)


def remove_claim(
    session_handle: str, claim_key: str, *, user_context: UserContext = None
) -> Call[StatusResult]:
    request = pb.RemoveClaimRequest(session_handle=session_handle, claim_key=claim_key)
    return _call("RemoveClaim", request, _status_result, user_context)


def validate_claims_for_session_handle(
    session_handle: str,
    claim_validators: Iterable[pb.ClaimValidator] = (),
    override_global_claim_validators: bool = False,
    *,
    user_context: UserContext = None,
) -> Call[ClaimsValidationResult]:
    """Validate claims against the session's stored payload; values of the service's claims
    that are missing or too old are fetched and stored first (SDK
    ``validate_claims_for_session_handle``). OK, INVALID_CLAIMS or SESSION_DOES_NOT_EXIST."""
    request = pb.ValidateClaimsForSessionHandleRequest(
        session_handle=session_handle,
        claim_validators=list(claim_validators),
        override_global_claim_validators=override_global_claim_validators,
    )
    return _call(
        "ValidateClaimsForSessionHandle", request, ClaimsValidationResult.from_pb, user_context
    )


def fetch_and_set_claim(
    session_handle: str, claim_key: str, *, user_context: UserContext = None
) -> Call[StatusResult]:
    """Fetch the current value of ``claim_key``, a claim of the service's claims module, for
    the session's user and store it in the session's payload (SDK ``fetch_and_set_claim``).
    OK, or SESSION_DOES_NOT_EXIST; a key the service does not define is INVALID_ARGUMENT, and a
    ``fetch_value`` that fails or gives a value the session cannot carry is UNAVAILABLE (nothing
    is stored)."""
    request = pb.FetchAndSetClaimRequest(session_handle=session_handle, claim_key=claim_key)
    return _call("FetchAndSetClaim", request, _status_result, user_context)


def validate_claims_in_jwt_payload(
    user_id: str,
    jwt_payload: Mapping[str, Any],
    claim_validators: Iterable[pb.ClaimValidator] = (),
    override_global_claim_validators: bool = False,
    *,
    user_context: UserContext = None,
) -> Call[ClaimsValidationResult]:
    """Check claims of a JWT payload the caller verified itself; nothing is fetched (SDK
    ``validate_claims_in_jwt_payload``). OK or INVALID_CLAIMS."""
    request = pb.ValidateClaimsInJwtPayloadRequest(
        user_id=user_id,
        jwt_payload=to_struct(jwt_payload),
        claim_validators=list(claim_validators),
        override_global_claim_validators=override_global_claim_validators,
    )
    return _call(
        "ValidateClaimsInJwtPayload", request, ClaimsValidationResult.from_pb, user_context
    )


# -- JWT / JWKS / OpenId ------------------------------------------------------------------


def get_jwks(*, user_context: UserContext = None) -> Call[JwksResult]:
    return _call("GetJWKS", pb.GetJWKSRequest(), JwksResult.from_pb, user_context)


def _jwt(response: Any) -> CreateJwtResult:
    return CreateJwtResult(
        status=SessionStatus.from_pb(response.status), message=response.message, jwt=response.jwt
    )


def create_jwt(
    payload: Mapping[str, Any],
    validity_seconds: int | None = None,
    use_static_signing_key: bool | None = None,
    *,
    user_context: UserContext = None,
) -> Call[CreateJwtResult]:
    request = pb.CreateJWTRequest(
        payload=to_struct(payload),
        validity_seconds=validity_seconds,
        use_static_signing_key=use_static_signing_key,
    )
    return _call("CreateJWT", request, _jwt, user_context)


def get_open_id_discovery_configuration(
    *, user_context: UserContext = None
) -> Call[OpenIdDiscoveryConfiguration]:
    request = pb.GetOpenIdDiscoveryConfigurationRequest()
    return _call(
        "GetOpenIdDiscoveryConfiguration",
        request,
        OpenIdDiscoveryConfiguration.from_pb,
        user_context,
    )
