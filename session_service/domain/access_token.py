"""What the service derives from an access token besides verifying it: the front token, and
the payload of a token the core just issued."""

from __future__ import annotations

import base64
import json

from session_common.json_values import JSONObject
from session_service.core_client.replies import malformed
from session_service.domain.token_parsing import TokenParseError, parse_access_token


def build_front_token(user_id: str, access_token_expiry_ms: int, payload: JSONObject) -> str:
    """The SDK's ``build_front_token``
    (``supertokens_python.recipe.session.cookie_and_header``): std base64 of the compact,
    key-sorted JSON ``{"ate", "uid", "up"}``."""
    text = json.dumps(
        {"uid": user_id, "ate": access_token_expiry_ms, "up": payload},
        separators=(",", ":"),
        sort_keys=True,
    )
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def issued_payload(token: str, what: str) -> JSONObject:
    """The full payload of a v3 token the core just issued in its answer to ``what`` (read,
    as the SDK does, without checking the signature: it came straight from the core)."""
    try:
        parsed = parse_access_token(token, max_length=max(len(token), 1))
    except TokenParseError:
        raise malformed(what) from None
    if parsed.version < 3:
        raise malformed(what)
    return parsed.payload
