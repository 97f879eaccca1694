"""GetJWKS, CreateJWT and GetOpenIdDiscoveryConfiguration end to end, as supertokens-python
0.14.0's JWT and OpenId recipes (``recipe/jwt``, ``recipe/openid``) give them."""

from __future__ import annotations

import grpc
import jwt
import pytest
from session_client import JsonWebKey, SessionClient, SessionStatus

from session_common.clock import ManualClock

ISSUER = "http://localhost:3001/auth"


def _public_key(keys: tuple[JsonWebKey, ...], kid: str) -> jwt.PyJWK:
    (key,) = [k for k in keys if k.kid == kid]
    return jwt.PyJWK(
        {"kty": key.kty, "kid": key.kid, "n": key.n, "e": key.e, "alg": key.alg, "use": key.use}
    )


async def test_jwks_lists_the_dynamic_then_the_static_key(client: SessionClient) -> None:
    jwks = await client.get_jwks()
    assert jwks.status is SessionStatus.OK
    keys = jwks.keys
    assert [k.kid[:2] for k in keys] == ["d-", "s-"]
    assert {(k.kty, k.alg, k.use, k.e) for k in keys} == {("RSA", "RS256", "sig", "AQAB")}


async def test_create_jwt_signs_with_the_static_key_by_default(
    client: SessionClient, clock: ManualClock
) -> None:
    created = await client.create_jwt({"sub": "service-a", "scope": ["read"]}, validity_seconds=60)
    assert created.status is SessionStatus.OK
    header = jwt.get_unverified_header(created.jwt)
    assert header["kid"].startswith("s-")

    keys = (await client.get_jwks()).keys
    claims = jwt.decode(
        created.jwt,
        _public_key(keys, header["kid"]).key,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "service-a"
    assert claims["scope"] == ["read"]
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 60
    assert claims["iat"] == clock.now_ms() // 1000


async def test_create_jwt_with_the_dynamic_key(client: SessionClient) -> None:
    created = await client.create_jwt({"a": 1}, use_static_signing_key=False)
    assert created.status is SessionStatus.OK
    assert jwt.get_unverified_header(created.jwt)["kid"].startswith("d-")


async def test_create_jwt_rejects_a_non_positive_validity(client: SessionClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.create_jwt({"a": 1}, validity_seconds=0)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "validity" in (raised.value.details() or "")


async def test_open_id_discovery_configuration(client: SessionClient) -> None:
    config = await client.get_open_id_discovery_configuration()
    assert config.status is SessionStatus.OK
    assert config.issuer == ISSUER
    assert config.jwks_uri == ISSUER + "/jwt/jwks.json"
