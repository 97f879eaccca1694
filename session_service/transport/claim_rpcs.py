"""The claim RPCs: set, get, remove, fetch and validate claims."""

from __future__ import annotations

from typing import Any

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import InvalidArgument
from session_service.transport import converters as conv
from session_service.transport.rpc import RpcGroup, remaining, rpc


class ClaimRpcs(RpcGroup):
    """SetClaimValue, GetClaimValue, RemoveClaim, FetchAndSetClaim and the validations."""

    @rpc
    async def SetClaimValue(
        self, request: pb.SetClaimValueRequest, context: Any
    ) -> pb.SetClaimValueResponse:
        if not request.HasField("value"):
            raise InvalidArgument("value", "is required (use RemoveClaim to delete a claim)")
        result = await self._recipe.set_claim_value(
            request.session_handle,
            request.claim_key,
            conv.value_to_python(request.value, "value"),
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.SetClaimValueResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @rpc
    async def GetClaimValue(
        self, request: pb.GetClaimValueRequest, context: Any
    ) -> pb.GetClaimValueResponse:
        result = await self._recipe.get_claim_value(
            request.session_handle,
            request.claim_key,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        response = pb.GetClaimValueResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )
        if result.value is not None:
            response.value.CopyFrom(conv.python_to_value(result.value))
        return response

    @rpc
    async def RemoveClaim(
        self, request: pb.RemoveClaimRequest, context: Any
    ) -> pb.RemoveClaimResponse:
        result = await self._recipe.remove_claim(
            request.session_handle,
            request.claim_key,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.RemoveClaimResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @rpc
    async def ValidateClaimsForSessionHandle(
        self, request: pb.ValidateClaimsForSessionHandleRequest, context: Any
    ) -> pb.ValidateClaimsForSessionHandleResponse:
        result = await self._recipe.validate_claims_for_session_handle(
            request.session_handle,
            claim_validators=conv.claim_validators_from_pb(
                request.claim_validators, "claim_validators"
            ),
            override_global_claim_validators=request.override_global_claim_validators,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.ValidateClaimsForSessionHandleResponse(
            status=conv.status_to_pb(result.status),
            message=result.message,
            invalid_claims=conv.claim_errors_to_pb(result.invalid_claims),
        )

    @rpc
    async def FetchAndSetClaim(
        self, request: pb.FetchAndSetClaimRequest, context: Any
    ) -> pb.FetchAndSetClaimResponse:
        result = await self._recipe.fetch_and_set_claim(
            request.session_handle,
            request.claim_key,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.FetchAndSetClaimResponse(
            status=conv.status_to_pb(result.status), message=result.message
        )

    @rpc
    async def ValidateClaimsInJwtPayload(
        self, request: pb.ValidateClaimsInJwtPayloadRequest, context: Any
    ) -> pb.ValidateClaimsInJwtPayloadResponse:
        result = await self._recipe.validate_claims_in_jwt_payload(
            request.user_id,
            conv.optional_struct(request, "jwt_payload") or {},
            claim_validators=conv.claim_validators_from_pb(
                request.claim_validators, "claim_validators"
            ),
            override_global_claim_validators=request.override_global_claim_validators,
            user_context=conv.user_context(request),
            timeout=remaining(context),
        )
        return pb.ValidateClaimsInJwtPayloadResponse(
            status=conv.status_to_pb(result.status),
            message=result.message,
            invalid_claims=conv.claim_errors_to_pb(result.invalid_claims),
        )
