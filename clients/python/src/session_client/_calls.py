"""One function per ``session.v1.SessionService`` RPC: it builds the request and says how to
read the response, and does no I/O. ``SessionClient`` (asyncio) and ``SyncSessionClient``
run the same ``Call`` objects, so both have these signatures and docstrings, written once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from session_client._pb.session.v1 import session_service_pb2 as pb
from session_client.types import (
    ClaimsValidationResult,
    ClaimValueResult,
    CreatedSession,
    CreateJwtResult,
    GetSessionResult,
    JsonWebKey,
    OpenIdDiscoveryConfiguration,
    RefreshSessionResult,
    RegenerateAccessTokenResult,
    SessionInformationResult,
    SessionStatus,
    StatusResult,
    to_python,
    to_struct,
    to_value,
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


def _status_result(response: Any) -> StatusResult:
    return StatusResult(status=SessionStatus.from_pb(response.status), message=response.message)


def _handles(response: Any) -> list[str]:
    return list(response.session_handles)


# -- sessions --------------------------------------------------------------------------------


def create_session(
    user_id: str,
    access_token_payload: Mapping[str, Any] | None = None,
    session_data_in_database: Mapping[str, Any] | None = None,
    disable_anti_csrf: bool = False,
) -> Call[CreatedSession]:
    """A new session. ``disable_anti_csrf`` when the tokens travel in headers (a cross-site
    page cannot set those), as the SDK's request layer does."""
    request = pb.CreateSessionRequest(user_id=user_id, disable_anti_csrf=disable_anti_csrf)
    if access_token_payload is not None:
        request.access_token_payload.CopyFrom(to_struct(access_token_payload))
    if session_data_in_database is not None:
        request.session_data_in_database.CopyFrom(to_struct(session_data_in_database))
    return Call("CreateSession", request, CreatedSession.from_pb)


def get_session(
    access_token: str | None,
    *,
    anti_csrf_token: str | None = None,
    anti_csrf_check: bool | None = None,
    session_required: bool | None = None,
    check_database: bool = False,
    claim_validators: Iterable[pb.ClaimValidator] = (),
    override_global_claim_validators: bool = False,
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
    return Call("GetSession", request, GetSessionResult.from_pb)


def refresh_session(
    refresh_token: str,
    anti_csrf_token: str | None = None,
    disable_anti_csrf: bool = False,
) -> Call[RefreshSessionResult]:
    """Rotate the tokens. TOKEN_THEFT_DETECTED means an old refresh token was reused:
    revoke ``token_theft.session_handle``."""
    request = pb.RefreshSessionRequest(
        refresh_token=refresh_token,
        anti_csrf_token=anti_csrf_token,
        disable_anti_csrf=disable_anti_csrf,
    )
    return Call("RefreshSession", request, RefreshSessionResult.from_pb)


def revoke_session(session_handle: str) -> Call[StatusResult]:
    """OK, or SESSION_DOES_NOT_EXIST when there was no such live session."""
    request = pb.RevokeSessionRequest(session_handle=session_handle)
    return Call("RevokeSession", request, _status_result)


def revoke_all_sessions_for_user(user_id: str) -> Call[list[str]]:
    """The handles revoked."""
    request = pb.RevokeAllSessionsForUserRequest(user_id=user_id)
    return Call("RevokeAllSessionsForUser", request, _handles)


def revoke_multiple_sessions(session_handles: Sequence[str]) -> Call[list[str]]:
    """The handles revoked."""
    request = pb.RevokeMultipleSessionsRequest(session_handles=list(session_handles))
    return Call("RevokeMultipleSessions", request, _handles)


def get_all_session_handles_for_user(user_id: str) -> Call[list[str]]:
    request = pb.GetAllSessionHandlesForUserRequest(user_id=user_id)
    return Call("GetAllSessionHandlesForUser", request, _handles)


def get_session_information(session_handle: str) -> Call[SessionInformationResult]:
    request = pb.GetSessionInformationRequest(session_handle=session_handle)
    return Call("GetSessionInformation", request, SessionInformationResult.from_pb)


def update_session_data_in_database(
    session_handle: str, new_session_data: Mapping[str, Any]
) -> Call[StatusResult]:
    request = pb.UpdateSessionDataInDatabaseRequest(
        session_handle=session_handle, new_session_data=to_struct(new_session_data)
    )
    return Call("UpdateSessionDataInDatabase", request, _status_result)


def merge_into_access_token_payload(
    session_handle: str, access_token_payload_update: Mapping[str, Any]
) -> Call[StatusResult]:
    """Keys whose value is None are removed from the stored payload."""
    request = pb.MergeIntoAccessTokenPayloadRequest(
        session_handle=session_handle,
        access_token_payload_update=to_struct(access_token_payload_update),
    )
    return Call("MergeIntoAccessTokenPayload", request, _status_result)


def regenerate_access_token(
    access_token: str, new_access_token_payload: Mapping[str, Any] | None = None
) -> Call[RegenerateAccessTokenResult]:
    request = pb.RegenerateAccessTokenRequest(access_token=access_token)
    if new_access_token_payload is not None:
        request.new_access_token_payload.CopyFrom(to_struct(new_access_token_payload))
    return Call("RegenerateAccessToken", request, RegenerateAccessTokenResult.from_pb)


# -- claims ---------------------------------------------------------------------------------


def set_claim_value(session_handle: str, claim_key: str, value: Any) -> Call[StatusResult]:
    request = pb.SetClaimValueRequest(
        session_handle=session_handle, claim_key=claim_key, value=to_value(value)
    )
    return Call("SetClaimValue", request, _status_result)


def _claim_value(response: Any) -> ClaimValueResult:
    return ClaimValueResult(
        status=SessionStatus.from_pb(response.status),
        message=response.message,
        value=to_python(response.value) if response.HasField("value") else None,
    )


def get_claim_value(session_handle: str, claim_key: str) -> Call[ClaimValueResult]:
    request = pb.GetClaimValueRequest(session_handle=session_handle, claim_key=claim_key)
    return Call("GetClaimValue", request, _claim_value)


def remove_claim(session_handle: str, claim_key: str) -> Call[StatusResult]:
    request = pb.RemoveClaimRequest(session_handle=session_handle, claim_key=claim_key)
    return Call("RemoveClaim", request, _status_result)


def validate_claims_for_session_handle(
    session_handle: str,
    claim_validators: Iterable[pb.ClaimValidator] = (),
    override_global_claim_validators: bool = False,
) -> Call[ClaimsValidationResult]:
    request = pb.ValidateClaimsForSessionHandleRequest(
        session_handle=session_handle,
        claim_validators=list(claim_validators),
        override_global_claim_validators=override_global_claim_validators,
    )
    return Call("ValidateClaimsForSessionHandle", request, ClaimsValidationResult.from_pb)


# -- JWT / JWKS / OpenId ------------------------------------------------------------------


def _jwks(response: Any) -> list[JsonWebKey]:
    return [
        JsonWebKey(kty=k.kty, kid=k.kid, n=k.n, e=k.e, alg=k.alg, use=k.use) for k in response.keys
    ]


def get_jwks() -> Call[list[JsonWebKey]]:
    return Call("GetJWKS", pb.GetJWKSRequest(), _jwks)


def _jwt(response: Any) -> CreateJwtResult:
    return CreateJwtResult(
        status=SessionStatus.from_pb(response.status), message=response.message, jwt=response.jwt
    )


def create_jwt(
    payload: Mapping[str, Any],
    validity_seconds: int | None = None,
    use_static_signing_key: bool | None = None,
) -> Call[CreateJwtResult]:
    request = pb.CreateJWTRequest(
        payload=to_struct(payload),
        validity_seconds=validity_seconds,
        use_static_signing_key=use_static_signing_key,
    )
    return Call("CreateJWT", request, _jwt)


def _discovery(response: Any) -> OpenIdDiscoveryConfiguration:
    return OpenIdDiscoveryConfiguration(issuer=response.issuer, jwks_uri=response.jwks_uri)


def get_open_id_discovery_configuration() -> Call[OpenIdDiscoveryConfiguration]:
    request = pb.GetOpenIdDiscoveryConfigurationRequest()
    return Call("GetOpenIdDiscoveryConfiguration", request, _discovery)
