"""Typed clients for ``session.v1.SessionService``: ``SessionClient`` (asyncio) and
``SyncSessionClient`` (blocking), with the same methods and results. ``session_client.http``
carries tokens over HTTP as SuperTokens' backend SDK does.

async with SessionClient.insecure("127.0.0.1:50051") as client:
    created = await client.create_session("user-1", {"role": "admin"})
    result = await client.get_session(created.session.access_token)
    if result.status is SessionStatus.TRY_REFRESH_TOKEN:
        ...
"""

from session_client._validators import excludes, excludes_all, has_value, includes, includes_all
from session_client.client import SessionClient
from session_client.sync import SyncSessionClient
from session_client.types import (
    ClaimsValidationResult,
    ClaimValidationError,
    ClaimValueResult,
    CreatedSession,
    CreateJwtResult,
    GetSessionResult,
    JsonWebKey,
    JwksResult,
    OpenIdDiscoveryConfiguration,
    RefreshSessionResult,
    RegenerateAccessTokenResult,
    Session,
    SessionHandlesResult,
    SessionInformation,
    SessionInformationResult,
    SessionStatus,
    StatusResult,
    TokenInfo,
    TokenTheft,
)

__all__ = [
    "ClaimValidationError",
    "ClaimValueResult",
    "ClaimsValidationResult",
    "CreateJwtResult",
    "CreatedSession",
    "GetSessionResult",
    "JsonWebKey",
    "JwksResult",
    "OpenIdDiscoveryConfiguration",
    "RefreshSessionResult",
    "RegenerateAccessTokenResult",
    "Session",
    "SessionClient",
    "SessionHandlesResult",
    "SessionInformation",
    "SessionInformationResult",
    "SessionStatus",
    "StatusResult",
    "SyncSessionClient",
    "TokenInfo",
    "TokenTheft",
    "excludes",
    "excludes_all",
    "has_value",
    "includes",
    "includes_all",
]
