"""The public domain API: import everything the servicer needs from here.

``SessionManager`` (sessions.py) has one async method per supertokens-python 0.14.0
session recipe function; results carry a ``Status``; failures that are not outcomes are
``InvalidArgument`` (→ INVALID_ARGUMENT), ``CoreUnavailable`` (→ UNAVAILABLE) and
``CoreIncompatible`` (→ FAILED_PRECONDITION).
"""

from session_service.domain.config import (
    AntiCsrfMode,
    CoreClientConfig,
    DomainConfig,
    KeyCacheConfig,
    TokenCacheConfig,
    parse_anti_csrf_mode,
)
from session_service.domain.errors import (
    CoreIncompatible,
    CoreUnavailable,
    DomainError,
    InvalidArgument,
)
from session_service.domain.sessions import Clock, SessionManager
from session_service.domain.types import (
    ClaimError,
    ClaimsValidationResult,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    ClaimValueResult,
    CreateJwtResult,
    JSONObject,
    JsonWebKey,
    JwksResult,
    KeyCacheHealth,
    KeyCacheStats,
    OpenIdDiscoveryConfiguration,
    RegenerateAccessTokenResult,
    RegeneratedAccessToken,
    RenderSlot,
    RevokeResult,
    Session,
    SessionHandlesResult,
    SessionInformation,
    SessionInformationResult,
    SessionResult,
    Status,
    StatusResult,
    TokenCacheStats,
    TokenInfo,
    TokenTheft,
)

__all__ = [
    "AntiCsrfMode",
    "ClaimError",
    "ClaimValidatorKind",
    "ClaimValidatorSpec",
    "ClaimValueResult",
    "ClaimsValidationResult",
    "Clock",
    "CoreClientConfig",
    "CoreIncompatible",
    "CoreUnavailable",
    "CreateJwtResult",
    "DomainConfig",
    "DomainError",
    "InvalidArgument",
    "JSONObject",
    "JsonWebKey",
    "JwksResult",
    "KeyCacheConfig",
    "KeyCacheHealth",
    "KeyCacheStats",
    "OpenIdDiscoveryConfiguration",
    "RegenerateAccessTokenResult",
    "RegeneratedAccessToken",
    "RenderSlot",
    "RevokeResult",
    "Session",
    "SessionHandlesResult",
    "SessionInformation",
    "SessionInformationResult",
    "SessionManager",
    "SessionResult",
    "Status",
    "StatusResult",
    "TokenCacheConfig",
    "TokenCacheStats",
    "TokenInfo",
    "TokenTheft",
    "parse_anti_csrf_mode",
]
