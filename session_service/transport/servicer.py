"""The gRPC face of the SessionManager: convert, call, map the outcome. Nothing else.

Every RPC goes through ``_rpc``, the single place where failures become gRPC codes:
``InvalidArgument`` -> INVALID_ARGUMENT (the message names the field), ``CoreUnavailable``
-> UNAVAILABLE, ``CoreSaturated`` -> RESOURCE_EXHAUSTED (every core connection stayed busy:
back off, the core is not down), ``DeadlineExceeded`` -> DEADLINE_EXCEEDED,
``CoreIncompatible`` -> FAILED_PRECONDITION. Anything else is a bug: it is
logged (type and stack only, never the message, which could quote a token), counted, and
answered INTERNAL so that callers never see grpc's catch-all UNKNOWN.

``add_to_server`` registers the handlers itself instead of using the generated function:
grpc answers INTERNAL when a request deserializer raises, so requests whose bytes do not
parse are passed through as ``_Undecodable`` and rejected by ``_rpc`` as INVALID_ARGUMENT.
GetSession has no deserializer: ``cached_get_session`` reads the wire form of a token-only
request itself, and GetSession parses what that cannot answer.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import (
    MAX_JSON_DEPTH,
    ClaimFetchFailed,
    CoreIncompatible,
    CoreSaturated,
    CoreUnavailable,
    DeadlineExceeded,
    InvalidArgument,
    Session,
    SessionManager,
    SessionResult,
    Status,
)
from session_service.transport import converters as conv

logger = logging.getLogger("session_service.rpc")

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Method = Callable[["SessionServicer", _Request, Any], Awaitable[_Response]]


class _Undecodable:
    """Stands in for request bytes that are not a valid message of the RPC's input type."""

    def __init__(self, type_name: str, too_deep: bool = False) -> None:
        self.type_name = type_name
        self.too_deep = too_deep

    def error(self) -> InvalidArgument:
        if self.too_deep:
            return InvalidArgument(
                "request",
                f"is not a valid {self.type_name} message: it nests deeper than protobuf's "
                f"limit of 100 levels (JSON values may nest {MAX_JSON_DEPTH} levels)",
            )
        return InvalidArgument("request", f"is not a valid {self.type_name} message")


def _lenient_parser(message_class: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except DecodeError as exc:
            # upb says "Exceeded upb_DecodeOptions_MaxDepth"; the pure-Python parser speaks
            # of recursion.
            reason = str(exc)
            too_deep = "MaxDepth" in reason or "recursion" in reason.lower()
            return _Undecodable(message_class.DESCRIPTOR.full_name, too_deep)

    return parse


def _rendered_ok(result: SessionResult) -> conv.RenderedResponse | None:
    """The pre-rendered answer for an OK result served from the verified-token cache (the
    hot path of every calling service: a repeat of a verified token), else None."""
    session = result.session
    if session is None or result.status is not Status.OK or session.new_access_token is not None:
        return None
    slot = session.render_slot
    if slot is None:
        return None
    rendered = slot.value
    if rendered.__class__ is conv.RenderedResponse:
        return rendered
    return conv.render_cached_get_session_ok(session, slot)


_parse_get_session = _lenient_parser(pb.GetSessionRequest)


def _rpc(method: _Method[_Request, _Response]) -> _Method[_Request, _Response]:
    @functools.wraps(method)
    async def handle(self: SessionServicer, request: _Request, context: Any) -> _Response:
        try:
            if isinstance(request, _Undecodable):
                raise request.error()
            return await method(self, request, context)
        except InvalidArgument as exc:
            code, details = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except CoreUnavailable as exc:
            code, details = grpc.StatusCode.UNAVAILABLE, str(exc) or "session core unavailable"
        except CoreSaturated as exc:
            code, details = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
        except DeadlineExceeded as exc:
            code, details = grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)
        except CoreIncompatible as exc:
            code, details = grpc.StatusCode.FAILED_PRECONDITION, str(exc)
        except ClaimFetchFailed as exc:
            # The operator's claim source failed (their code, maybe a database that is down,
            # or a value too large to store): worth a retry, and worth a log line. The
            # message of the exception it raised stays out of the log.
            cause = exc.__cause__
            if cause is None:
                logger.error("%s: %s", method.__name__, exc)
            else:
                stack = "".join(traceback.format_tb(cause.__traceback__))
                logger.error("%s: %s (message withheld)\n%s", method.__name__, exc, stack)
            code, details = grpc.StatusCode.UNAVAILABLE, str(exc)
        except Exception as exc:
            self.internal_errors += 1
            logger.error(
                "%s failed with unexpected %s (message withheld)\n%s",
                method.__name__,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            code, details = grpc.StatusCode.INTERNAL, "internal error"
        await context.abort(code, details)
        raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises

    return handle


def _remaining(context: Any) -> float | None:
    """The caller's remaining deadline in seconds (None when it set none)."""
    remaining: float | None = context.time_remaining()
    return remaining


def _ok_session(result: SessionResult) -> Session:
    """The session of a result that can only be OK (create); anything else is a bug."""
    if result.status is not Status.OK or result.session is None:
        raise RuntimeError(f"expected an OK session result, got {result.status.name}")
    return result.session


class SessionServicer:
    """``session.v1.SessionService`` over one ``SessionManager``."""

    def __init__(self, manager: SessionManager) -> None:
        self._manager = manager
        # Overrides are applied before the servicer is built (server.py).
        self._kept_ok = manager.default_get_session_lookup()
        # Unexpected exceptions answered INTERNAL; the goal is that this stays 0.
        self.internal_errors = 0

    @_rpc
    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: Any
    ) -> pb.CreateSessionResponse:
        result = await self._manager.create_new_session(
            user_id=request.user_id,
            access_token_payload=conv.optional_struct(request, "access_token_payload"),
            session_data_in_database=conv.optional_struct(request, "session_data_in_database"),
            disable_anti_csrf=request.disable_anti_csrf,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
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

    @_rpc
    async def GetSession(self, request: bytes, context: Any) -> pb.GetSessionResponse:
        # The request arrives unparsed (add_to_server): the server has already tried
        # cached_get_session on it (transport/fast_path.py), or traces every call and gets
        # the same cached answer through get_session.
        message = _parse_get_session(request)
        if isinstance(message, _Undecodable):
            raise message.error()
        result = await self._get_session(message, context)
        rendered = _rendered_ok(result)
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

    def cached_get_session(self, request: bytes) -> conv.RenderedResponse | None:
        """GetSession's answer to a request (its wire form) that carries only the token,
        when the verified-token cache holds its OK result: rendered, without awaiting
        anything (the server tries this first, outside the RPC wrappers: fast_path.py).
        None when the request or the token needs GetSession's whole path."""
        kept_ok = self._kept_ok
        if kept_ok is None:
            return None
        token = conv.lone_access_token(request)
        if token is None:
            return None
        result = kept_ok(token)
        return None if result is None else _rendered_ok(result)

    async def _get_session(self, request: pb.GetSessionRequest, context: Any) -> SessionResult:
        return await self._manager.get_session(
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
            timeout=_remaining(context),
        )

    @_rpc
    async def RefreshSession(
        self, request: pb.RefreshSessionRequest, context: Any
    ) -> pb.RefreshSessionResponse:
        result = await self._manager.refresh_session(
            refresh_token=request.refresh_token,
            anti_csrf_token=(
                request.anti_csrf_token if request.HasField("anti_csrf_token") else None
            ),
            disable_anti_csrf=request.disable_anti_csrf,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
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

    @_rpc
    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: Any
    ) -> pb.RevokeSessionResponse:
        result = await self._manager.revoke_session(
            request.session_handle,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.RevokeSessionResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @_rpc
    async def RevokeAllSessionsForUser(
        self, request: pb.RevokeAllSessionsForUserRequest, context: Any
    ) -> pb.RevokeAllSessionsForUserResponse:
        result = await self._manager.revoke_all_sessions_for_user(
            request.user_id, user_context=conv.user_context(request), timeout=_remaining(context)
        )
        return pb.RevokeAllSessionsForUserResponse(
            status=conv.status_to_pb(result.status),
            session_handles=result.revoked_session_handles,
        )

    @_rpc
    async def RevokeMultipleSessions(
        self, request: pb.RevokeMultipleSessionsRequest, context: Any
    ) -> pb.RevokeMultipleSessionsResponse:
        result = await self._manager.revoke_multiple_sessions(
            list(request.session_handles),
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.RevokeMultipleSessionsResponse(
            status=conv.status_to_pb(result.status),
            session_handles=result.revoked_session_handles,
        )

    @_rpc
    async def GetAllSessionHandlesForUser(
        self, request: pb.GetAllSessionHandlesForUserRequest, context: Any
    ) -> pb.GetAllSessionHandlesForUserResponse:
        result = await self._manager.get_all_session_handles_for_user(
            request.user_id, user_context=conv.user_context(request), timeout=_remaining(context)
        )
        return pb.GetAllSessionHandlesForUserResponse(
            status=conv.status_to_pb(result.status), session_handles=result.session_handles
        )

    @_rpc
    async def GetSessionInformation(
        self, request: pb.GetSessionInformationRequest, context: Any
    ) -> pb.GetSessionInformationResponse:
        result = await self._manager.get_session_information(
            request.session_handle,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        response = pb.GetSessionInformationResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )
        if result.info is not None:
            response.session_information.CopyFrom(conv.session_information_to_pb(result.info))
        return response

    @_rpc
    async def UpdateSessionDataInDatabase(
        self, request: pb.UpdateSessionDataInDatabaseRequest, context: Any
    ) -> pb.UpdateSessionDataInDatabaseResponse:
        result = await self._manager.update_session_data_in_database(
            request.session_handle,
            conv.optional_struct(request, "new_session_data") or {},
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.UpdateSessionDataInDatabaseResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @_rpc
    async def MergeIntoAccessTokenPayload(
        self, request: pb.MergeIntoAccessTokenPayloadRequest, context: Any
    ) -> pb.MergeIntoAccessTokenPayloadResponse:
        result = await self._manager.merge_into_access_token_payload(
            request.session_handle,
            conv.optional_struct(request, "access_token_payload_update") or {},
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.MergeIntoAccessTokenPayloadResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @_rpc
    async def RegenerateAccessToken(
        self, request: pb.RegenerateAccessTokenRequest, context: Any
    ) -> pb.RegenerateAccessTokenResponse:
        result = await self._manager.regenerate_access_token(
            request.access_token,
            conv.optional_struct(request, "new_access_token_payload"),
            user_context=conv.user_context(request),
            timeout=_remaining(context),
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

    @_rpc
    async def SetClaimValue(
        self, request: pb.SetClaimValueRequest, context: Any
    ) -> pb.SetClaimValueResponse:
        if not request.HasField("value"):
            raise InvalidArgument("value", "is required (use RemoveClaim to delete a claim)")
        result = await self._manager.set_claim_value(
            request.session_handle,
            request.claim_key,
            conv.value_to_python(request.value, "value"),
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.SetClaimValueResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @_rpc
    async def GetClaimValue(
        self, request: pb.GetClaimValueRequest, context: Any
    ) -> pb.GetClaimValueResponse:
        result = await self._manager.get_claim_value(
            request.session_handle,
            request.claim_key,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        response = pb.GetClaimValueResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )
        if result.value is not None:
            response.value.CopyFrom(conv.python_to_value(result.value))
        return response

    @_rpc
    async def RemoveClaim(
        self, request: pb.RemoveClaimRequest, context: Any
    ) -> pb.RemoveClaimResponse:
        result = await self._manager.remove_claim(
            request.session_handle,
            request.claim_key,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.RemoveClaimResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @_rpc
    async def ValidateClaimsForSessionHandle(
        self, request: pb.ValidateClaimsForSessionHandleRequest, context: Any
    ) -> pb.ValidateClaimsForSessionHandleResponse:
        result = await self._manager.validate_claims_for_session_handle(
            request.session_handle,
            claim_validators=conv.claim_validators_from_pb(
                request.claim_validators, "claim_validators"
            ),
            override_global_claim_validators=request.override_global_claim_validators,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.ValidateClaimsForSessionHandleResponse(
            status=conv.status_to_pb(result.status),
            message=result.message,
            invalid_claims=conv.claim_errors_to_pb(result.invalid_claims),
        )

    @_rpc
    async def FetchAndSetClaim(
        self, request: pb.FetchAndSetClaimRequest, context: Any
    ) -> pb.FetchAndSetClaimResponse:
        result = await self._manager.fetch_and_set_claim(
            request.session_handle,
            request.claim_key,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.FetchAndSetClaimResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @_rpc
    async def ValidateClaimsInJwtPayload(
        self, request: pb.ValidateClaimsInJwtPayloadRequest, context: Any
    ) -> pb.ValidateClaimsInJwtPayloadResponse:
        result = await self._manager.validate_claims_in_jwt_payload(
            request.user_id,
            conv.optional_struct(request, "jwt_payload") or {},
            claim_validators=conv.claim_validators_from_pb(
                request.claim_validators, "claim_validators"
            ),
            override_global_claim_validators=request.override_global_claim_validators,
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.ValidateClaimsInJwtPayloadResponse(
            status=conv.status_to_pb(result.status),
            message=result.message,
            invalid_claims=conv.claim_errors_to_pb(result.invalid_claims),
        )

    @_rpc
    async def GetJWKS(self, request: pb.GetJWKSRequest, context: Any) -> pb.GetJWKSResponse:
        result = await self._manager.get_jwks(
            user_context=conv.user_context(request), timeout=_remaining(context)
        )
        return pb.GetJWKSResponse(
            status=conv.status_to_pb(result.status),
            keys=[conv.json_web_key_to_pb(key) for key in result.keys],
        )

    @_rpc
    async def CreateJWT(self, request: pb.CreateJWTRequest, context: Any) -> pb.CreateJWTResponse:
        result = await self._manager.create_jwt(
            payload=conv.optional_struct(request, "payload") or {},
            validity_seconds=(
                request.validity_seconds if request.HasField("validity_seconds") else None
            ),
            use_static_signing_key=(
                request.use_static_signing_key
                if request.HasField("use_static_signing_key")
                else None
            ),
            user_context=conv.user_context(request),
            timeout=_remaining(context),
        )
        return pb.CreateJWTResponse(
            status=conv.status_to_pb(result.status), message=result.message, jwt=result.jwt
        )

    @_rpc
    async def GetOpenIdDiscoveryConfiguration(
        self, request: pb.GetOpenIdDiscoveryConfigurationRequest, context: Any
    ) -> pb.GetOpenIdDiscoveryConfigurationResponse:
        result = await self._manager.get_open_id_discovery_configuration(
            user_context=conv.user_context(request), timeout=_remaining(context)
        )
        return pb.GetOpenIdDiscoveryConfigurationResponse(
            status=conv.status_to_pb(result.status), issuer=result.issuer, jwks_uri=result.jwks_uri
        )


def add_to_server(
    servicer: SessionServicer,
    server: Any,
    wrap: Callable[[str, Any, Any], Any] | None = None,
) -> None:
    """Register every RPC of ``session.v1.SessionService`` (a missing method fails here, at
    startup, rather than as UNIMPLEMENTED at call time). ``wrap(name, behaviour,
    response_class)`` may wrap each method once (drain, metrics, tracing)."""
    service = pb.DESCRIPTOR.services_by_name["SessionService"]

    def behaviour(name: str, response_class: Any) -> Any:
        method = getattr(servicer, name)
        return method if wrap is None else wrap(name, method, response_class)

    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            behaviour(method.name, getattr(pb, method.output_type.name)),
            # GetSession reads its request's wire form itself (cached_get_session).
            request_deserializer=(
                None
                if method.name == "GetSession"
                else _lenient_parser(getattr(pb, method.input_type.name))
            ),
            response_serializer=conv.serializer(getattr(pb, method.output_type.name)),
        )
        for method in service.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
