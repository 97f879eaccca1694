"""Local access-token verification, matching supertokens-python 0.14.0's
``get_info_from_access_token`` (``recipe/session/access_token.py``), which
``session_functions.get_session`` calls: PyJWT's ``jwt.decode`` with RS256 only, then the
SDK's own checks.

This module does the same checks directly with ``cryptography`` (PyJWT's decode spends half
its time on per-character base64 checks) while keeping every guarantee PyJWT gives:

* RS256 only, with keys pinned from the core's JWKS; strict, canonical base64url
  (``token_parsing.py``);
* zero leeway: ``iat``/``nbf`` in the future are rejected, ``exp`` is checked
  (PyJWT's ``exp <= now`` and the SDK's ``exp*1000 < now`` together: expired when
  ``exp*1000 <= now_ms``);
* a truthy ``aud`` is rejected (no audience is configured); ``jti``, if present, must be
  a string; a ``crit`` header is refused;
* claim types exactly as the SDK's structure check, with ``bool`` not counted as an int.

Parsing failures (``TokenParseError``) become UNAUTHORISED (or NO_SESSION); verification
failures (``TokenVerificationError``) become TRY_REFRESH_TOKEN. Messages never contain token
material. Verification is split into steps (``authenticate``, ``check_claims``) so the
verified-token cache can redo just the per-request and time-dependent ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from session_common.clock import Clock
from session_common.json_values import JSONObject
from session_common.token_format import STRUCTURE_CHANGED_MESSAGE
from session_service.domain.key_cache import UnknownKid
from session_service.domain.token_parsing import ParsedAccessToken

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class TokenVerificationError(Exception):
    """A well-formed token that does not verify (signature, expiry, key, claims)."""


class TokenRejected(TokenVerificationError):
    """A failure that depends only on the token (a refused header), or on the token and
    ``key``, the signing key its signature failed against: it would fail the same way again."""

    def __init__(self, message: str, key: RSAPublicKey | None = None) -> None:
        super().__init__(message)
        self.key = key


class KeySource(Protocol):
    async def get_key(self, kid: str, *, deadline: float | None = None) -> RSAPublicKey: ...

    async def get_all_keys(self, *, deadline: float | None = None) -> Sequence[RSAPublicKey]: ...


class VerifiedAccessToken(NamedTuple):
    """What the SDK's ``get_info_from_access_token`` returns. ``user_data`` is the whole
    payload for v3+ and ``userData`` for v2."""

    version: int
    kid: str | None
    session_handle: str
    user_id: str
    refresh_token_hash_1: str
    parent_refresh_token_hash_1: str | None
    anti_csrf_token: str | None
    user_data: JSONObject
    expiry_ms: int
    time_created_ms: int


def _signature_ok(key: RSAPublicKey, parsed: ParsedAccessToken) -> bool:
    try:
        key.verify(parsed.signature, parsed.signing_input, _PKCS1, _SHA256)
    except InvalidSignature:
        return False
    return True


def _clean_str(value: Any) -> str | None:
    """The SDK's ``sanitize_string``: strings are trimmed, anything else becomes None."""
    return value.strip() if isinstance(value, str) else None


def _check_registered_claims(payload: JSONObject, now_ms: int) -> None:
    """PyJWT's ``_validate_claims`` with leeway 0, no audience and no issuer; stricter in
    one respect: ``bool`` times (which PyJWT reads as 0 or 1) are refused."""
    if type(payload["iat"]) is bool or type(payload["exp"]) is bool:
        raise TokenVerificationError("iat and exp must be integers")
    if payload["iat"] * 1000 > now_ms:
        raise TokenVerificationError("The token is not yet valid (iat)")
    if "nbf" in payload:
        nbf = payload["nbf"]
        # PyJWT's int(nbf) refuses NaN with this message (and fails on infinity).
        finite = isinstance(nbf, int) or (isinstance(nbf, float) and math.isfinite(nbf))
        if isinstance(nbf, bool) or not finite:
            raise TokenVerificationError("Not Before claim (nbf) must be an integer.")
        if int(nbf) * 1000 > now_ms:
            raise TokenVerificationError("The token is not yet valid (nbf)")
    if payload["exp"] * 1000 <= now_ms:
        raise TokenVerificationError("Signature has expired")
    if payload.get("aud"):
        raise TokenVerificationError("Invalid audience")
    if "jti" in payload and not isinstance(payload["jti"], str):
        raise TokenVerificationError("JWT ID must be a string")


def valid_from_ms(payload: JSONObject) -> int:
    """The first epoch ms at which a verified v3 payload passes the ``iat``/``nbf`` checks
    (``nbf`` has been type-checked by then)."""
    start: int = payload["iat"] * 1000
    if "nbf" in payload:
        start = max(start, int(payload["nbf"]) * 1000)
    return start


def check_claims(
    parsed: ParsedAccessToken, now_ms: int, *, check_times: bool = True
) -> VerifiedAccessToken:
    """Claim checks and extraction after the signature has been checked (no anti-CSRF
    requirement: that depends on the request). Raises ``TokenVerificationError``."""
    payload = parsed.payload
    if parsed.version >= 3:
        if check_times:
            _check_registered_claims(payload, now_ms)
        user_id = _clean_str(payload["sub"])
        expiry_ms = payload["exp"] * 1000
        time_created_ms = payload["iat"] * 1000
        user_data = payload
    else:
        user_id = _clean_str(payload["userId"])
        expiry_ms = payload["expiryTime"]
        time_created_ms = payload["timeCreated"]
        user_data = payload["userData"]
        if not isinstance(user_data, dict):  # the SDK's structure check only wants non-null
            raise TokenVerificationError(STRUCTURE_CHANGED_MESSAGE)
    return VerifiedAccessToken(
        version=parsed.version,
        kid=parsed.kid,
        session_handle=_clean_str(payload["sessionHandle"]) or "",
        user_id=user_id or "",
        refresh_token_hash_1=_clean_str(payload["refreshTokenHash1"]) or "",
        parent_refresh_token_hash_1=_clean_str(payload.get("parentRefreshTokenHash1")),
        anti_csrf_token=_clean_str(payload.get("antiCsrfToken")),
        user_data=user_data,
        expiry_ms=expiry_ms,
        time_created_ms=time_created_ms,
    )


def require_anti_csrf(verified: VerifiedAccessToken) -> None:
    """The SDK's check, made after the claim checks, when the request asks for anti-CSRF."""
    if verified.anti_csrf_token is None:
        raise TokenVerificationError("Access token does not contain the anti-csrf token")


class AccessTokenVerifier:
    """Verifies parsed tokens against the signing-key cache. Stateless apart from that."""

    def __init__(self, keys: KeySource, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock

    async def verify(
        self,
        parsed: ParsedAccessToken,
        *,
        anti_csrf_required: bool,
        deadline: float | None = None,
        check_times: bool = True,
    ) -> VerifiedAccessToken:
        """Check signature and claims. Raises ``TokenVerificationError``, or
        ``KeysUnavailable`` when no signing key can be obtained at all.

        ``check_times=False`` checks authenticity only (regenerate accepts expired tokens).
        """
        await self.authenticate(parsed, deadline=deadline)
        now_ms = self._clock.now_ms()
        verified = check_claims(parsed, now_ms, check_times=check_times)
        if anti_csrf_required:
            require_anti_csrf(verified)
        if check_times and verified.expiry_ms < now_ms:
            raise TokenVerificationError("Access token expired")
        return verified

    async def authenticate(
        self, parsed: ParsedAccessToken, *, deadline: float | None = None
    ) -> RSAPublicKey | None:
        """Check the header and the signature. Returns the key that verified a v3+ token
        (None for legacy v2 tokens, which are tried against every key)."""
        if not parsed.strict:
            raise TokenRejected("Invalid token encoding or key id")
        if parsed.version < 3:
            keys = await self._keys.get_all_keys(deadline=deadline)
            if not any(_signature_ok(key, parsed) for key in keys):
                raise TokenVerificationError("Signature verification failed")
            return None
        check_header(parsed)
        assert parsed.kid is not None  # parse_access_token guarantees a kid for v3+
        try:
            key = await self._keys.get_key(parsed.kid, deadline=deadline)
        except UnknownKid as exc:
            raise TokenVerificationError(str(exc)) from None
        if not _signature_ok(key, parsed):
            raise TokenRejected("Signature verification failed", key)
        return key


def check_header(parsed: ParsedAccessToken) -> None:
    """PyJWT's header rules for a v3+ token: RS256 only, no critical extensions."""
    header = parsed.header
    if header.get("alg") != "RS256":
        raise TokenRejected("The specified alg value is not allowed")
    if "crit" in header or "b64" in header:
        raise TokenRejected("Unsupported critical extension")
