"""The reference's parse boundary, run inside the SDK's virtual environment.

Reads a JSON list of access tokens on stdin and prints, for each, what supertokens-python
0.14.0 does before any key or time check: ``parse`` when its own parsing or structure check
fails (UNAUTHORISED, or no session when optional), ``load`` when PyJWT's strict decoding of
the three segments fails (TRY_REFRESH_TOKEN), ``ok`` when both pass. Imports nothing from
this project.
"""

from __future__ import annotations

import json
import sys

from jwt.api_jws import PyJWS
from supertokens_python.recipe.session.access_token import validate_access_token_structure
from supertokens_python.recipe.session.jwt import parse_jwt_without_signature_verification


def classify(token: str) -> str:
    try:
        parsed = parse_jwt_without_signature_verification(token)
        validate_access_token_structure(parsed.payload, parsed.version)
    except Exception:  # every failure here is the SDK's "Token parsing failed"
        return "parse"
    try:
        PyJWS()._load(token)
    except Exception:  # DecodeError and friends become TryRefreshTokenError
        return "load"
    return "ok"


print(json.dumps([classify(token) for token in json.load(sys.stdin)]))
