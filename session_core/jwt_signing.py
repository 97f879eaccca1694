"""``POST /recipe/jwt``: sign arbitrary claims for the JWT/OpenID recipes, as the SuperTokens
core's ``JWTSigningFunctions``."""

from __future__ import annotations

from session_common.clock import Clock
from session_common.json_values import JSONObject
from session_core.access_token import dumps_compact
from session_core.crypto import b64url_encode
from session_core.errors import BadRequest
from session_core.signing_keys import SigningKeyManager

SUPPORTED_ALGORITHMS = ("RS256",)


class UnsupportedAlgorithm(Exception):
    """Reported as ``{"status": "UNSUPPORTED_ALGORITHM_ERROR"}`` (HTTP 200)."""


async def create_jwt(
    keys: SigningKeyManager,
    clock: Clock,
    *,
    payload: JSONObject,
    algorithm: str,
    jwks_domain: str,
    validity_s: int,
    use_static_signing_key: bool,
) -> str:
    """A compact RS256 JWT: the user's claims plus ``iat``/``exp`` (seconds, overwriting any
    given) and ``iss = jwks_domain`` unless the payload names one. The header has no
    ``version``, so it can never pass as a session access token."""
    if validity_s <= 0:
        raise BadRequest("validity must be greater than or equal to 0")  # sic, as the reference
    if algorithm.upper() not in SUPPORTED_ALGORITHMS:
        raise UnsupportedAlgorithm(algorithm)
    if use_static_signing_key:
        key = keys.static_signing_key()
    else:
        await keys.refresh_if_due()
        key = keys.dynamic_signing_key()
    iat = clock.now_ms() // 1000
    claims = dict(payload)
    claims.setdefault("iss", jwks_domain)
    claims["iat"] = iat
    claims["exp"] = iat + validity_s
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
    signing_input = (
        f"{b64url_encode(dumps_compact(header).encode())}."
        f"{b64url_encode(dumps_compact(claims).encode())}"
    )
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"
