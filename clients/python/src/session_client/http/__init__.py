"""HTTP token transfer as SuperTokens' backend SDK (supertokens-python 0.14.0) does it, so
that SuperTokens' frontend SDKs work unchanged against a gateway that uses the session service.

Framework-neutral: describe a request with ``HttpRequest(method, headers)``, call
``HttpSessions`` (asyncio) or ``SyncHttpSessions`` (threads), then append
``result.response.header_items()`` to the response; on ``HttpError`` answer
``result.http_status`` with the JSON ``result.body``.

Tokens are read from ``Authorization: Bearer`` or the ``sAccessToken`` / ``sRefreshToken``
cookies, and written as cookies or as ``st-access-token`` / ``st-refresh-token`` headers,
with ``front-token`` and ``anti-csrf``; at sign-in the ``st-auth-mode`` request header picks
the method (default: headers).
"""

from session_client.http._sessions import HttpSessions, SyncHttpSessions
from session_client.http._transport import (
    ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_TOKEN_COOKIE,
    ACCESS_TOKEN_HEADER,
    ANTI_CSRF_HEADER,
    AUTH_MODE_HEADER,
    AUTHORIZATION_HEADER,
    CORS_ALLOWED_HEADERS,
    DEFAULT_REFRESH_TOKEN_PATH,
    FRONT_TOKEN_HEADER,
    HUNDRED_YEARS_MS,
    LEGACY_ID_REFRESH_TOKEN_COOKIE,
    REFRESH_TOKEN_COOKIE,
    REFRESH_TOKEN_HEADER,
    RID_HEADER,
    AllowedTransferMethod,
    Cookie,
    HttpRequest,
    ResponseChanges,
    SameSite,
    TokenTransferMethodChooser,
    TransferMethod,
    choose_token,
    default_token_transfer_method,
    is_access_token,
    parse_cookie_header,
    read_token,
)
from session_client.http._types import (
    AntiCsrf,
    HttpConfig,
    HttpError,
    HttpOk,
    HttpResult,
    RequestSession,
    UnexpectedStatusError,
)

__all__ = [
    "ACCESS_CONTROL_EXPOSE_HEADERS",
    "ACCESS_TOKEN_COOKIE",
    "ACCESS_TOKEN_HEADER",
    "ANTI_CSRF_HEADER",
    "AUTHORIZATION_HEADER",
    "AUTH_MODE_HEADER",
    "CORS_ALLOWED_HEADERS",
    "DEFAULT_REFRESH_TOKEN_PATH",
    "FRONT_TOKEN_HEADER",
    "HUNDRED_YEARS_MS",
    "LEGACY_ID_REFRESH_TOKEN_COOKIE",
    "REFRESH_TOKEN_COOKIE",
    "REFRESH_TOKEN_HEADER",
    "RID_HEADER",
    "AllowedTransferMethod",
    "AntiCsrf",
    "Cookie",
    "HttpConfig",
    "HttpError",
    "HttpOk",
    "HttpRequest",
    "HttpResult",
    "HttpSessions",
    "RequestSession",
    "ResponseChanges",
    "SameSite",
    "SyncHttpSessions",
    "TokenTransferMethodChooser",
    "TransferMethod",
    "UnexpectedStatusError",
    "choose_token",
    "default_token_transfer_method",
    "is_access_token",
    "parse_cookie_header",
    "read_token",
]
