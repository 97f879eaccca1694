"""``SessionClient``: one typed async method per ``session.v1.SessionService`` RPC.

Outcomes come back as results with a ``SessionStatus``; failures (INVALID_ARGUMENT,
UNAVAILABLE, ...) raise ``grpc.aio.AioRpcError`` unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc

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
from session_proto.session.v1 import session_service_pb2 as pb
from session_proto.session.v1 import session_service_pb2_grpc as pb_grpc


class SessionClient:
    """A client over one channel. ``timeout`` (seconds) is the deadline of every call;
    the service passes what is left of it on to the session core. ``api_key`` is sent as
    ``x-api-key`` metadata when the service requires caller authentication."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout: float | None = 10.0,
        api_key: str | None = None,
    ) -> None:
        self._channel = channel
        self._stub: Any = pb_grpc.SessionServiceStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._metadata = (("x-api-key", api_key),) if api_key is not None else None

    @classmethod
    def insecure(
        cls, target: str, *, timeout: float | None = 10.0, api_key: str | None = None
    ) -> SessionClient:
        """A client with its own plaintext channel to ``target`` (``host:port``)."""
        return cls(grpc.aio.insecure_channel(target), timeout=timeout, api_key=api_key)

    @classmethod
    def secure(
        cls,
        target: str,
        *,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        timeout: float | None = 10.0,
        api_key: str | None = None,
    ) -> SessionClient:
        """A client over TLS: ``root_certificates`` (PEM) to trust the service (default:
        the system CAs); ``private_key`` and ``certificate_chain`` for mutual TLS."""
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
        )
        return cls(grpc.aio.secure_channel(target, credentials), timeout=timeout, api_key=api_key)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> SessionClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(self, method: str, request: Any) -> Any:
        return await getattr(self._stub, method)(
            request, timeout=self._timeout, metadata=self._metadata
        )

    # -- sessions ----------------------------------------------------------------------------

    async def create_session(
        self,
        user_id: str,
        access_token_payload: Mapping[str, Any] | None = None,
        session_data_in_database: Mapping[str, Any] | None = None,
        disable_anti_csrf: bool = False,
    ) -> CreatedSession:
        request = pb.CreateSessionRequest(user_id=user_id, disable_anti_csrf=disable_anti_csrf)
        if access_token_payload is not None:
            request.access_token_payload.CopyFrom(to_struct(access_token_payload))
        if session_data_in_database is not None:
            request.session_data_in_database.CopyFrom(to_struct(session_data_in_database))
        return CreatedSession.from_pb(await self._call("CreateSession", request))

    async def get_session(
        self,
        access_token: str | None,
        *,
        anti_csrf_token: str | None = None,
        anti_csrf_check: bool | None = None,
        session_required: bool | None = None,
        check_database: bool = False,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> GetSessionResult:
        """``None`` for the optional flags means the SDK default (check, required)."""
        request = pb.GetSessionRequest(
            access_token=access_token or "",
            anti_csrf_token=anti_csrf_token,
            anti_csrf_check=anti_csrf_check,
            session_required=session_required,
            check_database=check_database,
            claim_validators=list(claim_validators),
            override_global_claim_validators=override_global_claim_validators,
        )
        return GetSessionResult.from_pb(await self._call("GetSession", request))

    async def refresh_session(
        self,
        refresh_token: str,
        anti_csrf_token: str | None = None,
        disable_anti_csrf: bool = False,
    ) -> RefreshSessionResult:
        request = pb.RefreshSessionRequest(
            refresh_token=refresh_token,
            anti_csrf_token=anti_csrf_token,
            disable_anti_csrf=disable_anti_csrf,
        )
        return RefreshSessionResult.from_pb(await self._call("RefreshSession", request))

    async def revoke_session(self, session_handle: str) -> StatusResult:
        response = await self._call(
            "RevokeSession", pb.RevokeSessionRequest(session_handle=session_handle)
        )
        return _status_result(response)

    async def revoke_all_sessions_for_user(self, user_id: str) -> list[str]:
        request = pb.RevokeAllSessionsForUserRequest(user_id=user_id)
        response = await self._call("RevokeAllSessionsForUser", request)
        return list(response.session_handles)

    async def revoke_multiple_sessions(self, session_handles: Sequence[str]) -> list[str]:
        request = pb.RevokeMultipleSessionsRequest(session_handles=list(session_handles))
        response = await self._call("RevokeMultipleSessions", request)
        return list(response.session_handles)

    async def get_all_session_handles_for_user(self, user_id: str) -> list[str]:
        request = pb.GetAllSessionHandlesForUserRequest(user_id=user_id)
        response = await self._call("GetAllSessionHandlesForUser", request)
        return list(response.session_handles)

    async def get_session_information(self, session_handle: str) -> SessionInformationResult:
        request = pb.GetSessionInformationRequest(session_handle=session_handle)
        return SessionInformationResult.from_pb(await self._call("GetSessionInformation", request))

    async def update_session_data_in_database(
        self, session_handle: str, new_session_data: Mapping[str, Any]
    ) -> StatusResult:
        request = pb.UpdateSessionDataInDatabaseRequest(
            session_handle=session_handle, new_session_data=to_struct(new_session_data)
        )
        return _status_result(await self._call("UpdateSessionDataInDatabase", request))

    async def merge_into_access_token_payload(
        self, session_handle: str, access_token_payload_update: Mapping[str, Any]
    ) -> StatusResult:
        """Keys whose value is None are removed from the stored payload."""
        request = pb.MergeIntoAccessTokenPayloadRequest(
            session_handle=session_handle,
            access_token_payload_update=to_struct(access_token_payload_update),
        )
        return _status_result(await self._call("MergeIntoAccessTokenPayload", request))

    async def regenerate_access_token(
        self, access_token: str, new_access_token_payload: Mapping[str, Any] | None = None
    ) -> RegenerateAccessTokenResult:
        request = pb.RegenerateAccessTokenRequest(access_token=access_token)
        if new_access_token_payload is not None:
            request.new_access_token_payload.CopyFrom(to_struct(new_access_token_payload))
        response = await self._call("RegenerateAccessToken", request)
        return RegenerateAccessTokenResult.from_pb(response)

    # -- claims -----------------------------------------------------------------------------

    async def set_claim_value(
        self, session_handle: str, claim_key: str, value: Any
    ) -> StatusResult:
        request = pb.SetClaimValueRequest(
            session_handle=session_handle, claim_key=claim_key, value=to_value(value)
        )
        return _status_result(await self._call("SetClaimValue", request))

    async def get_claim_value(self, session_handle: str, claim_key: str) -> ClaimValueResult:
        request = pb.GetClaimValueRequest(session_handle=session_handle, claim_key=claim_key)
        response = await self._call("GetClaimValue", request)
        return ClaimValueResult(
            status=SessionStatus.from_pb(response.status),
            message=response.message,
            value=to_python(response.value) if response.HasField("value") else None,
        )

    async def remove_claim(self, session_handle: str, claim_key: str) -> StatusResult:
        request = pb.RemoveClaimRequest(session_handle=session_handle, claim_key=claim_key)
        return _status_result(await self._call("RemoveClaim", request))

    async def validate_claims_for_session_handle(
        self,
        session_handle: str,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> ClaimsValidationResult:
        request = pb.ValidateClaimsForSessionHandleRequest(
            session_handle=session_handle,
            claim_validators=list(claim_validators),
            override_global_claim_validators=override_global_claim_validators,
        )
        response = await self._call("ValidateClaimsForSessionHandle", request)
        return ClaimsValidationResult.from_pb(response)

    # -- JWT / JWKS / OpenId ----------------------------------------------------------------

    async def get_jwks(self) -> list[JsonWebKey]:
        response = await self._call("GetJWKS", pb.GetJWKSRequest())
        return [
            JsonWebKey(kty=k.kty, kid=k.kid, n=k.n, e=k.e, alg=k.alg, use=k.use)
            for k in response.keys
        ]

    async def create_jwt(
        self,
        payload: Mapping[str, Any],
        validity_seconds: int | None = None,
        use_static_signing_key: bool | None = None,
    ) -> CreateJwtResult:
        request = pb.CreateJWTRequest(
            payload=to_struct(payload),
            validity_seconds=validity_seconds,
            use_static_signing_key=use_static_signing_key,
        )
        response = await self._call("CreateJWT", request)
        return CreateJwtResult(
            status=SessionStatus.from_pb(response.status),
            message=response.message,
            jwt=response.jwt,
        )

    async def get_open_id_discovery_configuration(self) -> OpenIdDiscoveryConfiguration:
        response = await self._call(
            "GetOpenIdDiscoveryConfiguration", pb.GetOpenIdDiscoveryConfigurationRequest()
        )
        return OpenIdDiscoveryConfiguration(issuer=response.issuer, jwks_uri=response.jwks_uri)


def _status_result(response: Any) -> StatusResult:
    return StatusResult(status=SessionStatus.from_pb(response.status), message=response.message)
