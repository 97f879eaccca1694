"""The JWT recipe functions the service offers: the public keys, signing a JWT, and the
OpenID discovery document (supertokens-python 0.14.0's OpenId and JWT recipes)."""

from __future__ import annotations

from session_common.json_values import JSONObject
from session_service.core_client import calls
from session_service.domain.arguments import json_object
from session_service.domain.errors import InvalidArgument
from session_service.domain.recipe_parts import RecipeParts
from session_service.domain.types import (
    CreateJwtResult,
    JwksResult,
    OpenIdDiscoveryConfiguration,
    Status,
)


async def get_jwks(
    parts: RecipeParts,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> JwksResult:
    """The core's public keys, served from the signing-key cache."""
    keys = await parts.keys.get_jwks(deadline=parts.core.deadline(timeout))
    return JwksResult(Status.OK, keys=keys)


async def create_jwt(
    parts: RecipeParts,
    payload: JSONObject,
    validity_seconds: int | None = None,
    use_static_signing_key: bool | None = None,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> CreateJwtResult:
    """Sign ``payload`` (``iss`` defaults to the issuer). None means the SDK defaults:
    100 years, static key."""
    claims = json_object("payload", payload)
    assert claims is not None
    validity = parts.config.jwt_validity_seconds
    if validity_seconds is not None:
        if isinstance(validity_seconds, bool) or not isinstance(validity_seconds, int):
            raise InvalidArgument("validity_seconds", "must be an integer")
        if validity_seconds <= 0:
            raise InvalidArgument("validity_seconds", "must be greater than 0")
        validity = validity_seconds
    jwt = await calls.create_jwt(
        parts.core,
        payload={"iss": parts.config.effective_issuer, **claims},
        validity_seconds=validity,
        use_static_signing_key=use_static_signing_key is not False,
        jwks_domain=parts.config.jwks_domain,
        deadline=parts.core.deadline(timeout),
    )
    if jwt is None:
        return CreateJwtResult(
            Status.UNSUPPORTED_ALGORITHM, "the core does not support RS256 signing"
        )
    return CreateJwtResult(Status.OK, jwt=jwt)


async def get_open_id_discovery_configuration(
    parts: RecipeParts,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> OpenIdDiscoveryConfiguration:
    """``{issuer, jwks_uri = issuer + "/jwt/jwks.json"}``; no core call."""
    issuer = parts.config.effective_issuer
    return OpenIdDiscoveryConfiguration(
        Status.OK, issuer=issuer, jwks_uri=issuer + "/jwt/jwks.json"
    )
