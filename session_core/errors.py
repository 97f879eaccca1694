"""Outcomes of the core's operations that are not plain successes.

``BadRequest`` becomes an HTTP 400 with its message as the text body. The others are
business outcomes that the HTTP layer returns as HTTP 200 with a ``status`` field (as the
SuperTokens core's ``WebserverAPI`` does), so they carry exactly the fields of that reply.
"""

from __future__ import annotations

# The SuperTokens core's messages of the outcomes (word for word: SDKs and tests compare them).
PROTECTED_FIELD_MESSAGE = "The user payload contains protected field"
ANTI_CSRF_FAILED = "anti-csrf check failed"
ACCESS_TOKEN_EXPIRED = "Access token expired"
KEY_NOT_FOUND = "io.supertokens.session.jwt.JWT$JWTException: Key not found"
SIGNATURE_FAILED = "io.supertokens.session.jwt.JWT$JWTException: JWT verification failed"
BLACKLISTED = "Either the session has ended or has been blacklisted"
MISSING_IN_DB = "Session missing in db"
MISSING_OR_EXPIRED = "Session missing in db or has expired"
ANTI_CSRF_REFRESH_FAILED = "Anti CSRF token missing, or not matching"
SESSION_DOES_NOT_EXIST = "Session does not exist."


class CoreError(Exception):
    """Base class of every expected (non-bug) outcome raised by the core's logic."""


class BadRequest(CoreError):
    """Invalid input; the message is the exact reference 400 body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtectedClaimError(BadRequest):
    """A user payload contains one of the seven protected access-token claims
    (``session_common.token_format.PROTECTED_PROPS``).

    A 400 everywhere except refresh, which reports it as UNAUTHORISED, as the SuperTokens
    core does (its ``AccessTokenPayloadError``).
    """

    def __init__(self) -> None:
        super().__init__(PROTECTED_FIELD_MESSAGE)


class UnauthorisedError(CoreError):
    """``{"status": "UNAUTHORISED", "message": ...}``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TryRefreshTokenError(CoreError):
    """``{"status": "TRY_REFRESH_TOKEN", "message": ...}``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenTheftError(CoreError):
    """``{"status": "TOKEN_THEFT_DETECTED", "session": {"handle", "userId"}}``."""

    def __init__(self, session_handle: str, user_id: str) -> None:
        super().__init__("token theft detected")
        self.session_handle = session_handle
        self.user_id = user_id
