"""create_jwt, get_jwks and the OpenId discovery configuration (jwt_functions.py: the SDK's
OpenId and JWT recipes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import jwt as pyjwt
from aiohttp import web

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_service.domain.api import SessionRecipe, Status
from tests.service.domain.domain_helpers import (
    ISSUER,
    MakeManager,
    decode_header,
    decode_payload,
)

StartServer = Callable[[Callable[[web.Request], Awaitable[web.StreamResponse]]], Awaitable[str]]


async def _verify_with_jwks(manager: SessionRecipe, token: str) -> dict[str, Any]:
    jwks = await manager.get_jwks()
    kid = decode_header(token)["kid"]
    [jwk] = [k for k in jwks.keys if k.kid == kid]
    key = pyjwt.PyJWK(
        {"kty": jwk.kty, "kid": jwk.kid, "n": jwk.n, "e": jwk.e, "alg": jwk.alg, "use": jwk.use}
    )
    claims: dict[str, Any] = pyjwt.decode(
        token, key=key, algorithms=["RS256"], options={"verify_iat": False}
    )
    return claims


async def test_create_jwt_defaults(manager: SessionRecipe, domain_clock: ManualClock) -> None:
    result = await manager.create_jwt({"scope": "read"})
    assert result.status is Status.OK
    assert decode_header(result.jwt)["kid"].startswith("s-")  # static key unless told otherwise
    assert "version" not in decode_header(result.jwt)
    claims = decode_payload(result.jwt)
    assert claims["scope"] == "read"
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 3_153_600_000  # the SDK's 100 years
    assert claims["iat"] == domain_clock.now_ms() // 1000
    assert (await _verify_with_jwks(manager, result.jwt))["scope"] == "read"
    # A plain JWT is not a session access token.
    assert (await manager.get_session(result.jwt)).status is Status.UNAUTHORISED


async def test_create_jwt_options(manager: SessionRecipe) -> None:
    result = await manager.create_jwt(
        {"iss": "https://other.example"}, validity_seconds=60, use_static_signing_key=False
    )
    assert result.status is Status.OK
    assert decode_header(result.jwt)["kid"].startswith("d-")
    claims = decode_payload(result.jwt)
    assert claims["iss"] == "https://other.example"
    assert claims["exp"] - claims["iat"] == 60
    assert (await _verify_with_jwks(manager, result.jwt))["iss"] == "https://other.example"
    static = await manager.create_jwt({}, use_static_signing_key=True)
    assert decode_header(static.jwt)["kid"].startswith("s-")


async def test_get_jwks_matches_the_core(manager: SessionRecipe, core_node: RunningCore) -> None:
    jwks = await manager.get_jwks()
    assert jwks.status is Status.OK
    expected = [key.jwk() for key in core_node.signing_keys.verification_keys()]
    assert [
        {"kty": k.kty, "kid": k.kid, "n": k.n, "e": k.e, "alg": k.alg, "use": k.use}
        for k in jwks.keys
    ] == expected
    assert [k.kid[:2] for k in jwks.keys] == ["d-", "s-"]


async def test_open_id_discovery(make_manager: MakeManager, core_node: RunningCore) -> None:
    default = await make_manager(core_node.url)
    config = await default.get_open_id_discovery_configuration()
    assert (config.status, config.issuer, config.jwks_uri) == (
        Status.OK,
        ISSUER,
        ISSUER + "/jwt/jwks.json",
    )
    custom = await make_manager(core_node.url, issuer="https://issuer.example/")
    config = await custom.get_open_id_discovery_configuration()
    assert (config.issuer, config.jwks_uri) == (
        "https://issuer.example",
        "https://issuer.example/jwt/jwks.json",
    )
    signed = await custom.create_jwt({})
    assert decode_payload(signed.jwt)["iss"] == "https://issuer.example"
    created = await custom.create_new_session("u")
    assert created.session is not None
    assert created.session.access_token_payload["iss"] == "https://issuer.example"


async def test_unsupported_algorithm(
    make_manager: MakeManager, fake_http_server: StartServer
) -> None:
    async def refusing(request: web.Request) -> web.Response:
        if request.path == "/apiversion":
            return web.json_response({"versions": ["2.21"]})
        body = await request.json()
        assert body["algorithm"] == "RS256" and body["useStaticSigningKey"] is True
        assert body["jwksDomain"] == "https://api.example.com"
        return web.json_response({"status": "UNSUPPORTED_ALGORITHM_ERROR"})

    manager = await make_manager(await fake_http_server(refusing))
    result = await manager.create_jwt({"a": 1})
    assert (result.status, result.jwt) == (Status.UNSUPPORTED_ALGORITHM, "")
