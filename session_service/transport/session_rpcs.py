"""The session RPCs: create, get, refresh, revoke, and read or update a session by handle."""

from __future__ import annotations

from typing import Any

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import Session, SessionRecipe, SessionResult, Status
from session_service.transport import converters as conv
from session_service.transport.fast_path import FastPath
from session_service.transport.rpc import RpcGroup, Undecodable, lenient_parser, remaining, rpc

_parse_get_session = lenient_parser(pb.GetSessionRequest)


def _ok_session(result: SessionResult) -> Session:
    """The session of a result that can only be OK (create); anything else is a bug."""
    if result.status is not Status.OK or result.session is None:
        raise RuntimeError(f"expected an OK session result, got {result.status.name}")
    return result.session


class SessionRpcs(RpcGroup):
    """CreateSession, GetSession, RefreshSession, the revocations, and the by-handle reads
    and updates of a session."""

    def __init__(self, recipe: SessionRecipe) -> None:
        super().__init__(recipe)
        # GetSession's answers from the verified-token cache (tried first by the server).
        self.fast_path = FastPath(recipe)

    @rpc
    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: Any
    ) -> pb.CreateSessionResponse:
        result = await self._recipe.create_new_session(
            user_id=request.user_id,
            access_token_payload=conv.optional_struct(request, "access_token_payload"),
            session_data_in_database=conv.optional_struct(request, "session_data_in_database"),
            disable_anti_csrf=request.disable_anti_csrf,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        session = _ok_session(result)
        response = pb.CreateSessionResponse(
            status=conv.status_to_pb(result.status), session=conv.session_to_pb(session)
        )
        if session.new_access_token is not None:
            response.access_token.CopyFrom(conv.token_info_to_pb(session.new_access_token))
        if session.refresh_token is not None:
            response.refresh_token.CopyFrom(conv.token_info_to_pb(session.refresh_token))
        if session.anti_csrf_token is not None:
            response.anti_csrf_token = session.anti_csrf_token
        return response

    @rpc
    async def GetSession(self, request: bytes, context: Any) -> pb.GetSessionResponse:
        # The request arrives unparsed (add_to_server): the server has already tried the
        # fast path on it, or traces every call (transport/fast_path.py).
        message = _parse_get_session(request)
        if isinstance(message, Undecodable):
            raise message.error()
        result = await self._get_session(message, context)
        rendered = self.fast_path.rendered(result)
        if rendered is not None:
            return rendered  # type: ignore[return-value]
        session = result.session
        response = pb.GetSessionResponse(status=conv.status_to_pb(result.status))
        if result.message:
            response.message = result.message
        if result.invalid_claims:
            response.invalid_claims.extend(conv.claim_errors_to_pb(result.invalid_claims))
        if session is not None:
            response.session.CopyFrom(conv.session_to_pb(session))
            if session.new_access_token is not None:
                response.new_access_token.CopyFrom(conv.token_info_to_pb(session.new_access_token))
        return response

    async def _get_session(self, request: pb.GetSessionRequest, context: Any) -> SessionResult:
        return await self._recipe.get_session(
            access_token=request.access_token or None,
            anti_csrf_token=(
                request.anti_csrf_token if request.HasField("anti_csrf_token") else None
            ),
            # Unset means the SDK's default (None there): check, and require a session.
            anti_csrf_check=(
                request.anti_csrf_check if request.HasField("anti_csrf_check") else True
            ),
            session_required=(
                request.session_required if request.HasField("session_required") else True
            ),
            check_database=request.check_database,
            claim_validators=(
                conv.claim_validators_from_pb(request.claim_validators, "claim_validators")
                if request.claim_validators
                else ()
            ),
            override_global_claim_validators=request.override_global_claim_validators,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )

    @rpc
    async def RefreshSession(
        self, request: pb.RefreshSessionRequest, context: Any
    ) -> pb.RefreshSessionResponse:
        result = await self._recipe.refresh_session(
            refresh_token=request.refresh_token,
            anti_csrf_token=(
                request.anti_csrf_token if request.HasField("anti_csrf_token") else None
            ),
            disable_anti_csrf=request.disable_anti_csrf,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        response = pb.RefreshSessionResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )
        session = result.session
        if session is not None:
            response.session.CopyFrom(conv.session_to_pb(session))
            if session.new_access_token is not None:
                response.access_token.CopyFrom(conv.token_info_to_pb(session.new_access_token))
            if session.refresh_token is not None:
                response.refresh_token.CopyFrom(conv.token_info_to_pb(session.refresh_token))
            if session.anti_csrf_token is not None:
                response.anti_csrf_token = session.anti_csrf_token
        if result.theft is not None:
            response.token_theft.CopyFrom(conv.token_theft_to_pb(result.theft))
        return response

    @rpc
    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: Any
    ) -> pb.RevokeSessionResponse:
        result = await self._recipe.revoke_session(
            request.session_handle,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.RevokeSessionResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @rpc
    async def RevokeAllSessionsForUser(
        self, request: pb.RevokeAllSessionsForUserRequest, context: Any
    ) -> pb.RevokeAllSessionsForUserResponse:
        result = await self._recipe.revoke_all_sessions_for_user(
            request.user_id, user_context=conv.user_context(request), timeout=remaining(context)
        )
        return pb.RevokeAllSessionsForUserResponse(
            status=conv.status_to_pb(result.status),
            session_handles=result.revoked_session_handles,
        )

    @rpc
    async def RevokeMultipleSessions(
        self, request: pb.RevokeMultipleSessionsRequest, context: Any
    ) -> pb.RevokeMultipleSessionsResponse:
        result = await self._recipe.revoke_multiple_sessions(
            list(request.session_handles),
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.RevokeMultipleSessionsResponse(
            status=conv.status_to_pb(result.status),
            session_handles=result.revoked_session_handles,
        )

    @rpc
    async def GetAllSessionHandlesForUser(
        self, request: pb.GetAllSessionHandlesForUserRequest, context: Any
    ) -> pb.GetAllSessionHandlesForUserResponse:
        result = await self._recipe.get_all_session_handles_for_user(
            request.user_id, user_context=conv.user_context(request), timeout=remaining(context)
        )
        return pb.GetAllSessionHandlesForUserResponse(
            status=conv.status_to_pb(result.status), session_handles=result.session_handles
        )

    @rpc
    async def GetSessionInformation(
        self, request: pb.GetSessionInformationRequest, context: Any
    ) -> pb.GetSessionInformationResponse:
        result = await self._recipe.get_session_information(
            request.session_handle,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        response = pb.GetSessionInformationResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )
        if result.info is not None:
            response.session_information.CopyFrom(conv.session_information_to_pb(result.info))
        return response

    @rpc
    async def UpdateSessionDataInDatabase(
        self, request: pb.UpdateSessionDataInDatabaseRequest, context: Any
    ) -> pb.UpdateSessionDataInDatabaseResponse:
        result = await self._recipe.update_session_data_in_database(
            request.session_handle,
            conv.optional_struct(request, "new_session_data") or {},
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.UpdateSessionDataInDatabaseResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @rpc
    async def MergeIntoAccessTokenPayload(
        self, request: pb.MergeIntoAccessTokenPayloadRequest, context: Any
    ) -> pb.MergeIntoAccessTokenPayloadResponse:
        result = await self._recipe.merge_into_access_token_payload(
            request.session_handle,
            conv.optional_struct(request, "access_token_payload_update") or {},
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.MergeIntoAccessTokenPayloadResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @rpc
    async def RegenerateAccessToken(
        self, request: pb.RegenerateAccessTokenRequest, context: Any
    ) -> pb.RegenerateAccessTokenResponse:
        result = await self._recipe.regenerate_access_token(
            request.access_token,
            conv.optional_struct(request, "new_access_token_payload"),
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        response = pb.RegenerateAccessTokenResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )
        if result.result is not None:
            response.session.CopyFrom(conv.regenerated_session_to_pb(result.result))
            if result.result.new_access_token is not None:
                response.access_token.CopyFrom(
                    conv.token_info_to_pb(result.result.new_access_token)
                )
        return response
