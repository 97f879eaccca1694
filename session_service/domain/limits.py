"""What the service can carry back to its callers: how deep a JSON value may nest, and how
long an access token may be. Both are checked before the service writes anything, so a
session it writes can always be served back; what others wrote through the core's own API
is refused with a status when it passes them (docs/security.md, "Limits").

Nesting. Payloads and session data travel as ``google.protobuf.Struct``, and every JSON
object in a Struct costs three message levels (``Struct``, its map entry, ``Value``), every
array two (``ListValue``, ``Value``). Protobuf's parsers stop at 100 message levels by
default (Go's at 10 000), counted from the response, in which payloads sit two levels down
(``GetSessionResponse.session.access_token_payload``). Measured on a GetSessionResponse:
C++ and Java (protobuf 3.21) and Python (upb) parse a payload of 33 nested objects, the
Node client (ts-proto 2.18 on protobuf-es 2.17, which counts the response as a level too)
32. ``MAX_JSON_DEPTH`` is what they all parse.

Token length. A CDI 2.21 core issues ``base64url(header).base64url(claims).base64url(signature)``
with compact JSON; the service knows the payload, the user and the session, takes the key
from the signing keys, and bounds what the core chooses per token (``access_token_length``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from session_common.json_values import JSONObject, json_depth
from session_service.domain.errors import InvalidArgument
from session_service.domain.types import JsonWebKey

# The deepest nesting of objects and arrays the service serves or writes in a JSON value
# ({} and {"a": 1} nest 1, {"a": [1]} 2), counting the payload or session data object itself.
MAX_JSON_DEPTH = 32
# A claim value is stored as {key: {"v": value, ...}} in the payload: two levels down.
MAX_CLAIM_VALUE_DEPTH = MAX_JSON_DEPTH - 2

# What a core chooses when it issues a token, bounded: times in seconds with at most 11
# digits (until the year 5138), SHA-256 hex refresh-token hashes, and UUID anti-CSRF
# tokens (the SDK's and the project's cores both use UUIDs).
_LATEST_TIME_S = 99_999_999_999
_REFRESH_TOKEN_HASH = "0" * 64
_UUID = "00000000-0000-0000-0000-000000000000"


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``value`` cannot be served (it nests deeper than ``limit``), or None."""
    depth = json_depth(value)
    if depth <= limit:
        return None
    return (
        f"nests {depth} levels of objects and arrays, more than the {limit} the service "
        "can return (protobuf's nesting limit)"
    )


def check_depth(field: str, value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a value the service is asked to write but could not serve back."""
    reason = too_deep(value, limit)
    if reason is not None:
        raise InvalidArgument(field, reason)


def _b64_length(size: int) -> int:
    """Characters of unpadded base64url for ``size`` bytes."""
    return (4 * size + 2) // 3


def _json_length(value: Any) -> int:
    # ASCII-escaped compact JSON: the project's core writes exactly this; a core writing
    # UTF-8 (Java's Gson) writes every escaped character in fewer bytes.
    return len(json.dumps(value, separators=(",", ":")))


def access_token_length(
    user_id: str, session_handle: str, payload: JSONObject, kid: str, signature_bytes: int
) -> int:
    """The length of the longest v3 access token a core can issue for this session while
    its stored payload is ``payload`` (the custom claims, ``iss`` included), signed with
    a key of id ``kid`` and ``signature_bytes`` (the RSA modulus): with both refresh-token
    hashes (a refreshed session's tokens carry their parent's) and an anti-CSRF token
    (whether one is issued is decided per refresh)."""
    header = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": kid}
    claims = {
        "iat": _LATEST_TIME_S,
        "exp": _LATEST_TIME_S,
        "sub": user_id,
        "sessionHandle": session_handle,
        "refreshTokenHash1": _REFRESH_TOKEN_HASH,
        "parentRefreshTokenHash1": _REFRESH_TOKEN_HASH,
        "antiCsrfToken": _UUID,
        **payload,
    }
    return (
        _b64_length(_json_length(header))
        + 1
        + _b64_length(_json_length(claims))
        + 1
        + _b64_length(signature_bytes)
    )


def longest_signing_key(keys: Sequence[JsonWebKey]) -> tuple[str, int]:
    """The longest ``kid`` and the largest modulus (bytes) among ``keys``: whichever of
    them signs a session's next token, it is no longer than that."""
    kid = max((key.kid for key in keys), key=_json_length, default="")
    # A JWK's modulus is base64url without leading zero bytes.
    return kid, max((len(key.n) * 3 // 4 for key in keys), default=0)
