"""The JWT RPCs: the public keys, signing a JWT, and the OpenID discovery document."""

from __future__ import annotations

from typing import Any

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.transport import converters as conv
from session_service.transport.rpc import RpcGroup, remaining, rpc


class JwtRpcs(RpcGroup):
    """GetJWKS, CreateJWT and GetOpenIdDiscoveryConfiguration."""

    @rpc
    async def GetJWKS(self, request: pb.GetJWKSRequest, context: Any) -> pb.GetJWKSResponse:
        result = await self._recipe.get_jwks(
            user_context=conv.user_context(request), timeout=remaining(context)
        )
        return pb.GetJWKSResponse(
            status=conv.status_to_pb(result.status),
            keys=[conv.json_web_key_to_pb(key) for key in result.keys],
        )

    @rpc
    async def CreateJWT(self, request: pb.CreateJWTRequest, context: Any) -> pb.CreateJWTResponse:
        result = await self._recipe.create_jwt(
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
            timeout=remaining(context),
        )
        return pb.CreateJWTResponse(
            status=conv.status_to_pb(result.status), message=result.message, jwt=result.jwt
        )

    @rpc
    async def GetOpenIdDiscoveryConfiguration(
        self, request: pb.GetOpenIdDiscoveryConfigurationRequest, context: Any
    ) -> pb.GetOpenIdDiscoveryConfigurationResponse:
        result = await self._recipe.get_open_id_discovery_configuration(
            user_context=conv.user_context(request), timeout=remaining(context)
        )
        return pb.GetOpenIdDiscoveryConfigurationResponse(
            status=conv.status_to_pb(result.status), issuer=result.issuer, jwks_uri=result.jwks_uri
        )
