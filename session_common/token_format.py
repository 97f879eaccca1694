"""The access-token format both processes read: what the core writes and the service checks.

v3 tokens are standard compact JWS (base64url, no padding) with the header
``{"alg": "RS256", "typ": "JWT", "version": "3", "kid": ...}`` and every claim at the root.
Legacy v1/v2 tokens are standard Base64 with padding throughout and carry no ``kid``; they
are recognised by their exact header string, as the SuperTokens core
(``io.supertokens.session.accessToken.AccessToken``) and supertokens-python
(``recipe/session/jwt.py``, which knows only v2) recognise them.
"""

from __future__ import annotations

# The claims the token format owns; a user payload may not set them. The core's
# ``AccessTokenInfo.protectedPropNames``, the SDK's ``recipe/session/constants.protected_props``.
PROTECTED_PROPS = frozenset(
    {
        "sub",
        "exp",
        "iat",
        "sessionHandle",
        "refreshTokenHash1",
        "parentRefreshTokenHash1",
        "antiCsrfToken",
    }
)

# The only v2 and v1 headers: standard, padded Base64 of
# {"alg":"RS256","typ":"JWT","version":"2"} and of the same with "version":"1".
V2_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0="
V1_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIxIn0="

# A token that lacks a claim its version requires, in the core's and the SDK's words.
STRUCTURE_CHANGED_MESSAGE = (
    "Access token does not contain all the information. Maybe the structure has changed?"
)
