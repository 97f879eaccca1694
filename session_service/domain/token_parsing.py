"""Reading a session access token without checking its signature, as supertokens-python
0.14.0 does: ``parse_jwt_without_signature_verification`` (``recipe/session/jwt.py``) and
``validate_access_token_structure`` (``recipe/session/access_token.py``).

The SDK parses leniently (Python's forgiving base64, any non-null ``kid``, ``bool`` counted
as an int) and only PyJWT's strict decoding afterwards rejects the rest: a token that
parses only leniently is marked (``strict`` False) and can never verify. This reading is
more lenient than the core's own parser (``session_core.access_token.parse_access_token``)
on purpose: the SDK tells "not a session token" (UNAUTHORISED) from "a token that does not
verify" (TRY_REFRESH_TOKEN) by it, and so must the service.

Speed (this runs on every GetSession that is not a cache hit): a header segment is decoded
and checked once and remembered (every token signed with one key shares it), and base64url
goes straight to ``binascii`` in strict mode with the canonical-encoding rule checked on
the last character.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import NamedTuple

from session_common.json_values import JSONObject
from session_common.token_format import STRUCTURE_CHANGED_MESSAGE, V2_HEADER

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


class TokenParseError(Exception):
    """Not a structurally valid session access token."""


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
