"""The messages results carry: the SDK's own texts where it has one, so that a caller reads
what supertokens-python 0.14.0 would say."""

from __future__ import annotations

# supertokens_python.recipe.session.recipe_implementation.RecipeImplementation.get_session:
# no access token, or one that does not parse, with a session required.
NO_TOKEN_MESSAGE = (
    "Session does not exist. Are you sending the session tokens in the request with the "
    "appropriate token transfer method?"
)
PARSE_FAILED_MESSAGE = "Token parsing failed"
# Where the SDK returns None (no session, not required), the service says why.
NO_SESSION_MESSAGE = "No session exists: no (parsable) access token was given"
# supertokens_python.recipe.session.session_functions.get_session.
KEY_MODE_MESSAGE = "The access token doesn't match the useDynamicAccessTokenSigningKey setting"
ANTI_CSRF_MISSING_MESSAGE = (
    "Provided antiCsrfToken is undefined. If you do not want anti-csrf check for this API, "
    "please set doAntiCsrfCheck to false for this API"
)
ANTI_CSRF_FAILED_MESSAGE = "anti-csrf check failed"
# supertokens_python.recipe.session.recipe_implementation.RecipeImplementation.refresh_session.
NO_REFRESH_TOKEN_MESSAGE = (
    "Refresh token not found. Are you sending the refresh token in the request?"
)
# The SDK's TokenTheftError and InvalidClaimsError.
THEFT_MESSAGE = "token theft detected"
INVALID_CLAIMS_MESSAGE = "invalid claim"
# The by-handle functions, when the core does not know the session.
SESSION_GONE_MESSAGE = "Session does not exist."
# The SDK's Session methods (supertokens_python.recipe.session.session_class.Session), when
# the core no longer knows the session.
SESSION_ENDED_MESSAGE = "Session does not exist anymore."
# The core's answer to a verify with checkDatabase of a session it no longer has (the
# SuperTokens core's and this project's): also GetSession's for a session the revocation
# feed reported revoked.
SESSION_REVOKED_MESSAGE = "Either the session has ended or has been blacklisted"
