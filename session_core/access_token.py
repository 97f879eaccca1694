"""Access-token codec: v3 JWTs (issued at CDI 2.21) and legacy v1/v2 tokens, in the format of
the SuperTokens core's ``AccessToken`` (``session_common.token_format``).

Written by hand rather than with PyJWT because the exact shape matters: compact JSON,
integer ``iat``/``exp``, all seven protected claims present (nullable ones as ``null``),
the fixed v2 header string, and standard Base64 for v2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from session_common.json_values import JSONObject
from session_common.token_format import (
    PROTECTED_PROPS,
    STRUCTURE_CHANGED_MESSAGE,
    V1_HEADER,
    V2_HEADER,
)
from session_core.crypto import SigningKey, b64_decode_any, b64_std_encode, b64url_encode
from session_core.errors import ProtectedClaimError

INVALID_JWT = "io.supertokens.session.jwt.JWT$JWTException: Invalid JWT"


class AccessTokenFormatError(Exception):
    """The string is not a well-formed session access token (or a claim is missing)."""


def dumps_compact(value: object) -> str:
    """Compact JSON, ASCII-only (so lone surrogates cannot break UTF-8 encoding), no NaN."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def check_user_payload(payload: JSONObject) -> None:
    """Refuse a user payload that would overwrite a protected claim (the SuperTokens core's
    ``AccessTokenPayloadError``)."""
    if not PROTECTED_PROPS.isdisjoint(payload):
        raise ProtectedClaimError()


@dataclass(frozen=True, slots=True)
class AccessTokenInfo:
    """Everything an access token says, whatever its version. Times in epoch ms."""

    version: int
    session_handle: str
    user_id: str
    refresh_token_hash_1: str
    parent_refresh_token_hash_1: str | None
    anti_csrf_token: str | None
    user_data: JSONObject
    expiry_ms: int
    time_created_ms: int


@dataclass(frozen=True, slots=True)
class ParsedAccessToken:
    """A token split and decoded, but whose signature and expiry are not yet checked."""

    info: AccessTokenInfo
    kid: str | None
    signing_input: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class EncodedAccessToken:
    token: str
    expiry_ms: int
    created_time_ms: int


def encode_access_token(info: AccessTokenInfo, key: SigningKey) -> EncodedAccessToken:
    """Sign ``info`` as a token of ``info.version``.

    For v3 the reported ``expiry``/``createdTime`` are rounded down to whole seconds so
    they equal ``exp``/``iat``, as the SuperTokens core reports them. Raises
    ``ProtectedClaimError`` before signing anything if the custom claims hold a protected
    name.
    """
    check_user_payload(info.user_data)
    if info.version >= 3:
        return _encode_v3(info, key)
    return _encode_legacy(info, key)


def _encode_v3(info: AccessTokenInfo, key: SigningKey) -> EncodedAccessToken:
    iat = info.time_created_ms // 1000
    exp = info.expiry_ms // 1000
    header = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": key.kid}
    payload: JSONObject = {
        "iat": iat,
        "exp": exp,
        "sub": info.user_id,
        "sessionHandle": info.session_handle,
        "refreshTokenHash1": info.refresh_token_hash_1,
        "parentRefreshTokenHash1": info.parent_refresh_token_hash_1,
        "antiCsrfToken": info.anti_csrf_token,
    }
    payload.update(info.user_data)
    signing_input = (
        f"{b64url_encode(dumps_compact(header).encode())}."
        f"{b64url_encode(dumps_compact(payload).encode())}"
    )
    signature = b64url_encode(key.sign(signing_input.encode("ascii")))
    return EncodedAccessToken(f"{signing_input}.{signature}", exp * 1000, iat * 1000)


def _encode_legacy(info: AccessTokenInfo, key: SigningKey) -> EncodedAccessToken:
    payload: JSONObject = {
        "sessionHandle": info.session_handle,
        "userId": info.user_id,
        "refreshTokenHash1": info.refresh_token_hash_1,
        "parentRefreshTokenHash1": info.parent_refresh_token_hash_1,
        "userData": info.user_data,
        "antiCsrfToken": info.anti_csrf_token,
        "expiryTime": info.expiry_ms,
    }
    header = V1_HEADER
    if info.version == 2:
        header = V2_HEADER
        payload["timeCreated"] = info.time_created_ms
    signing_input = f"{header}.{b64_std_encode(dumps_compact(payload).encode())}"
    signature = b64_std_encode(key.sign(signing_input.encode("ascii")))
    return EncodedAccessToken(f"{signing_input}.{signature}", info.expiry_ms, info.time_created_ms)


# -- parsing ------------------------------------------------------------------------------


def _decode_json_object(segment: str) -> JSONObject:
    try:
        value = json.loads(b64_decode_any(segment).decode("utf-8"))
    except (ValueError, RecursionError):
        raise AccessTokenFormatError(INVALID_JWT) from None
    if not isinstance(value, dict):
        raise AccessTokenFormatError(INVALID_JWT)
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(payload: JSONObject, name: str, kind: str) -> Any:
    if name not in payload:
        raise AccessTokenFormatError(STRUCTURE_CHANGED_MESSAGE)
    value = payload[name]
    ok = {
        "str": isinstance(value, str),
        "int": _is_int(value),
        "str?": value is None or isinstance(value, str),
        "object": isinstance(value, dict),
    }[kind]
    if not ok:
        raise AccessTokenFormatError(STRUCTURE_CHANGED_MESSAGE)
    return value


def _time_created(payload: JSONObject, version: int) -> int:
    if version >= 2:
        return int(_require(payload, "timeCreated", "int"))
    value = payload.get("timeCreated")  # v1 tokens predate timeCreated
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_access_token(token: str) -> ParsedAccessToken:
    """Split and decode a token without checking its signature or expiry.

    Raises ``AccessTokenFormatError`` for a malformed token. Headers other than the fixed
    v1/v2 strings must be ``{typ: JWT, alg: RS256, version: "3", kid: <string>}``; a JWT
    without ``version`` (e.g. one made by ``/recipe/jwt``) is not a session token.

    This is the SuperTokens core's parser (``io.supertokens.session.accessToken.AccessToken``),
    stricter than the service's ``session_service.domain.verifier.parse_access_token``, which
    follows supertokens-python: the core requires every claim of the version (the nullable
    ones present as ``null``), accepts v1 and only version ``"3"`` headers, and answers every
    malformed token one way (TRY_REFRESH_TOKEN at ``/recipe/session/verify``), so it needs
    no lenient second reading to tell "not a token" from "a token that cannot verify".
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise AccessTokenFormatError(INVALID_JWT)
    header_b64, payload_b64, signature_b64 = parts
    try:
        signature = b64_decode_any(signature_b64)
    except ValueError:
        raise AccessTokenFormatError(INVALID_JWT) from None
    signing_input = f"{header_b64}.{payload_b64}".encode("utf-8", "surrogatepass")

    if header_b64 in (V1_HEADER, V2_HEADER):
        version = 1 if header_b64 == V1_HEADER else 2
        payload = _decode_json_object(payload_b64)
        info = AccessTokenInfo(
            version=version,
            session_handle=_require(payload, "sessionHandle", "str"),
            user_id=_require(payload, "userId", "str"),
            refresh_token_hash_1=_require(payload, "refreshTokenHash1", "str"),
            parent_refresh_token_hash_1=_require(payload, "parentRefreshTokenHash1", "str?"),
            anti_csrf_token=_require(payload, "antiCsrfToken", "str?"),
            user_data=_require(payload, "userData", "object"),
            expiry_ms=_require(payload, "expiryTime", "int"),
            time_created_ms=_time_created(payload, version),
        )
        return ParsedAccessToken(info, None, signing_input, signature)

    header = _decode_json_object(header_b64)
    kid = header.get("kid")
    if (
        header.get("typ") != "JWT"
        or header.get("alg") != "RS256"
        or header.get("version") != "3"
        or not isinstance(kid, str)
    ):
        raise AccessTokenFormatError(INVALID_JWT)
    payload = _decode_json_object(payload_b64)
    info = AccessTokenInfo(
        version=3,
        session_handle=_require(payload, "sessionHandle", "str"),
        user_id=_require(payload, "sub", "str"),
        refresh_token_hash_1=_require(payload, "refreshTokenHash1", "str"),
        parent_refresh_token_hash_1=_require(payload, "parentRefreshTokenHash1", "str?"),
        anti_csrf_token=_require(payload, "antiCsrfToken", "str?"),
        user_data={k: v for k, v in payload.items() if k not in PROTECTED_PROPS},
        expiry_ms=_require(payload, "exp", "int") * 1000,
        time_created_ms=_require(payload, "iat", "int") * 1000,
    )
    return ParsedAccessToken(info, kid, signing_input, signature)
