"""The JWT recipe's endpoints and the public key set: ``POST /recipe/jwt`` (sign claims),
``GET /recipe/jwt/jwks`` and ``GET /.well-known/jwks.json``."""

from __future__ import annotations

from aiohttp import web

from session_common.clock import Clock
from session_core.http_api.json_body import read_json_body
from session_core.http_api.middleware import Route, RouteTable
from session_core.http_api.replies import json_reply
from session_core.jwt_signing import create_jwt
from session_core.signing_keys import SigningKeyManager


class JwtRoutes:
    def __init__(self, keys: SigningKeyManager, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock

    def routes(self) -> RouteTable:
        return {
            # Open, as the SuperTokens core's: verifiers fetch it with neither header.
            "/.well-known/jwks.json": {
                "GET": Route(self.public_jwks, check_api_key=False, check_version=False)
            },
            "/recipe/jwt/jwks": {"GET": Route(self.recipe_jwks)},
            "/recipe/jwt": {"POST": Route(self.create_jwt)},
        }

    async def public_jwks(self, request: web.Request) -> web.Response:
        response = json_reply({"keys": await self._keys.jwks()})
        # How long the key set stays current (the SuperTokens core sends this from 9.1 on;
        # SDKs of the CDI 2.21 era ignore it and cache for 60 s).
        response.headers["Cache-Control"] = (
            f"max-age={self._keys.jwks_max_age_s()}, must-revalidate"
        )
        return response

    async def recipe_jwks(self, request: web.Request) -> web.Response:
        return json_reply({"keys": await self._keys.jwks(), "status": "OK"})

    async def create_jwt(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        payload = body.object("payload")
        algorithm = body.string("algorithm")
        jwks_domain = body.string("jwksDomain")
        validity = body.long("validity")
        use_static = body.optional_boolean("useStaticSigningKey")
        jwt = await create_jwt(
            self._keys,
            self._clock,
            payload=payload,
            algorithm=algorithm,
            jwks_domain=jwks_domain,
            validity_s=validity,
            use_static_signing_key=use_static is not False,
        )
        return json_reply({"status": "OK", "jwt": jwt})
