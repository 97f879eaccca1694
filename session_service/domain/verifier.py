"""Local access-token verification, matching supertokens-python 0.14.0 (semantics §2b, §4).

The SDK parses the token itself and then calls ``jwt.decode`` (PyJWT, RS256 only). This
module does the same checks directly with ``cryptography`` (PyJWT's decode spends half its
time on per-character base64 checks) while keeping every guarantee PyJWT gives:

* RS256 only, with keys pinned from the core's JWKS; strict, canonical base64url;
* zero leeway: ``iat``/``nbf`` in the future are rejected, ``exp`` is checked
  (PyJWT's ``exp <= now`` and the SDK's ``exp*1000 < now`` together: expired when
  ``exp*1000 <= now_ms``);
* a truthy ``aud`` is rejected (no audience is configured); ``jti``, if present, must be
  a string; a ``crit`` header is refused;
* claim types exactly as the SDK's structure check, with ``bool`` not counted as an int.

Parsing failures (``TokenParseError``) become UNAUTHORISED (or NO_SESSION); verification
failures (``TokenVerificationError``) become TRY_REFRESH_TOKEN. The line between the two is
the SDK's: it parses leniently (Python's forgiving base64, any non-null ``kid``, ``bool``
counted as an int) and only PyJWT's strict decoding afterwards rejects the rest, so a token
that parses only leniently is a verification failure, never an acceptance. Messages never
contain token material.

Speed (this runs on every GetSession): a header segment is decoded and checked once and
remembered (every token signed with one key shares it), base64url goes straight to
``binascii`` in strict mode with the canonical-encoding rule checked on the last character,
and verification is split into steps (``authenticate``, ``check_claims``) so the verified-token
cache can redo just the per-request and time-dependent ones.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from session_common.clock import Clock
from session_common.json_values import JSONObject
from session_common.token_format import STRUCTURE_CHANGED_MESSAGE, V2_HEADER
from session_service.domain.key_cache import UnknownKid

_B64STD_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
# An unpadded segment of length 2 or 3 (mod 4) ends in a character with 4 or 2 unused low
# bits; only the canonical encoding (PyJWT re-encodes to check) leaves them zero.
_CANONICAL_LAST = {
    2: frozenset(c for i, c in enumerate(_B64URL_ALPHABET) if i & 0x0F == 0),
    3: frozenset(c for i, c in enumerate(_B64URL_ALPHABET) if i & 0x03 == 0),
}
_PADDING = (b"", b"", b"==", b"=")
# Decoded v3+ headers by their base64url text (a pure function of it, so sharing is safe).
_HEADER_MEMO_SIZE = 256
_header_memo: dict[str, tuple[int, str | None, JSONObject]] = {}
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class TokenParseError(Exception):
    """Not a structurally valid session access token."""


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


class ParsedAccessToken(NamedTuple):
    """A token split, decoded and structure-checked; the signature is not yet checked.
    (Named tuples: these are built on every verification, and build faster than frozen
    dataclasses.)

    ``strict`` is False when the token parsed only the SDK's lenient way (or its v3 ``kid``
    is not a string): PyJWT would refuse it, so it can never verify."""

    version: int
    kid: str | None
    header: JSONObject
    payload: JSONObject
    signing_input: bytes
    signature: bytes
    strict: bool = True


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


def _b64url_decode(segment: str) -> bytes:
    """PyJWT's strict decoding: url-safe alphabet, at most 2 '=' of correct padding, and
    the canonical encoding of the result (no stray trailing bits). Raises ValueError."""
    stripped = segment.rstrip("=")
    pad = len(segment) - len(stripped)
    rest = len(stripped) % 4
    if pad > 2 or (pad and len(segment) % 4) or rest == 1:
        raise ValueError("bad base64url padding")
    # After translation '+' and '/' would pass as the url-safe characters; strict mode
    # rejects every other character outside the alphabet (and non-ASCII fails to encode).
    if "+" in stripped or "/" in stripped:
        raise ValueError("bad base64url alphabet")
    if rest and stripped[-1] not in _CANONICAL_LAST[rest]:
        raise ValueError("non-canonical base64url")
    data = stripped.encode("ascii").translate(_URL_TO_STD) + _PADDING[rest]
    return binascii.a2b_base64(data, strict_mode=True)


def _lenient_json_object(segment: str) -> JSONObject:
    """The SDK's ``utf_base64decode(segment, urlsafe=True)`` and ``json.loads``: Python's
    forgiving base64 (stray characters dropped, extra padding allowed), then UTF-8."""
    text = base64.urlsafe_b64decode(segment.encode("utf-8") + b"==").decode("utf-8")
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _b64std_decode(segment: str) -> bytes:
    """Legacy v2 segments are standard, padded base64."""
    if not _B64STD_RE.fullmatch(segment):
        raise ValueError("bad base64 alphabet")
    return binascii.a2b_base64(segment, strict_mode=True)


def _json_object(raw: bytes) -> JSONObject:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _check_structure(payload: JSONObject, version: int) -> None:
    """The SDK's ``validate_access_token_structure``, exactly: like the SDK, ``bool`` passes
    as an int here (``True`` as ``exp`` then fails verification as long expired)."""
    if version >= 3:
        ok = (
            isinstance(payload.get("sub"), str)
            and isinstance(payload.get("exp"), int)
            and isinstance(payload.get("iat"), int)
            and isinstance(payload.get("sessionHandle"), str)
            and isinstance(payload.get("refreshTokenHash1"), str)
        )
    else:
        ok = (
            isinstance(payload.get("sessionHandle"), str)
            and payload.get("userData") is not None
            and isinstance(payload.get("refreshTokenHash1"), str)
            and isinstance(payload.get("expiryTime"), int)
            and isinstance(payload.get("timeCreated"), int)
        )
    if not ok:
        raise TokenParseError(STRUCTURE_CHANGED_MESSAGE)


def parse_access_token(token: str, *, max_length: int) -> ParsedAccessToken:
    """Split and decode a session access token without checking its signature.

    This follows supertokens-python's ``parse_jwt_without_signature_verification`` and
    ``validate_access_token_structure`` (``recipe/session/jwt.py``, ``access_token.py``),
    which are more lenient than the core's ``session_core.access_token.parse_access_token``:
    no v1, any header ``version`` of at least 3 and any non-null ``kid``, only the claims the
    SDK requires, and a second, forgiving reading where strict decoding fails. The SDK tells
    "not a session token" (UNAUTHORISED) from "a token that does not verify"
    (TRY_REFRESH_TOKEN) by that reading, and so must the service.
    """
    if len(token) > max_length:
        raise TokenParseError("access token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenParseError("invalid jwt")
    header_b64, payload_b64, signature_b64 = parts
    try:
        parsed = _parse_strictly(header_b64, payload_b64, signature_b64)
    except (ValueError, RecursionError):
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too.
        parsed = _parse_leniently(header_b64, payload_b64)
    _check_structure(parsed.payload, parsed.version)
    return parsed


def _parse_strictly(header_b64: str, payload_b64: str, signature_b64: str) -> ParsedAccessToken:
    """The fast path, taken by every token a core issued."""
    if header_b64 == V2_HEADER:
        version, kid, header = 2, None, dict(_V2_HEADER_JSON)
        payload = _json_object(_b64std_decode(payload_b64))
        signature = _b64std_decode(signature_b64)
    else:
        known = _header_memo.get(header_b64)
        if known is None:
            known = _decode_header(_json_object(_b64url_decode(header_b64)))
            if len(_header_memo) >= _HEADER_MEMO_SIZE:
                del _header_memo[next(iter(_header_memo))]
            _header_memo[header_b64] = known
        version, kid, header = known
        payload = _json_object(_b64url_decode(payload_b64))
        signature = _b64url_decode(signature_b64)
    return ParsedAccessToken(
        version=version,
        kid=kid,
        header=header,
        payload=payload,
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=signature,
        strict=kid is not None or version < 3,
    )


def _parse_leniently(header_b64: str, payload_b64: str) -> ParsedAccessToken:
    """Where strict decoding failed: the SDK's own parse decides between "not a token"
    (``TokenParseError``) and "a token that cannot verify" (``strict=False``)."""
    try:
        if header_b64 == V2_HEADER:
            version, kid, header = 2, None, dict(_V2_HEADER_JSON)
        else:
            version, kid, header = _decode_header(_lenient_json_object(header_b64))
        payload = _lenient_json_object(payload_b64)
    except (ValueError, RecursionError, binascii.Error):
        raise TokenParseError("invalid jwt") from None
    return ParsedAccessToken(version, kid, header, payload, b"", b"", strict=False)


_V2_HEADER_JSON: JSONObject = {"alg": "RS256", "typ": "JWT", "version": "2"}


def _decode_header(header: JSONObject) -> tuple[int, str | None, JSONObject]:
    """Check a decoded v3+ header as the SDK does: a string ``version`` that ``int()``
    reads as at least 3, ``typ`` JWT and a non-null ``kid``. A ``kid`` that is not a
    non-empty string passes here (as in the SDK) but is returned as None: no key has it."""
    version = header.get("version")
    if not isinstance(version, str):
        raise TokenParseError("JWT header mismatch")
    try:
        number = int(version)
    except ValueError:
        raise TokenParseError("JWT header mismatch") from None
    kid = header.get("kid")
    if header.get("typ") != "JWT" or number < 3 or kid is None:
        raise TokenParseError("JWT header mismatch")
    return number, kid if isinstance(kid, str) and kid else None, header


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
