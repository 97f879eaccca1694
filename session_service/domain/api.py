"""The public domain API: import everything the servicer needs from here.

``SessionRecipe`` (recipe.py) has one async method per supertokens-python 0.14.0
session recipe function; results carry a ``Status``; failures that are not outcomes are
``InvalidArgument`` (→ INVALID_ARGUMENT), ``CoreUnavailable`` (→ UNAVAILABLE),
``CoreSaturated`` (→ RESOURCE_EXHAUSTED), ``DeadlineExceeded`` (→ DEADLINE_EXCEEDED) and
``CoreIncompatible`` (→ FAILED_PRECONDITION).
"""

from session_common.clock import Clock
from session_common.json_values import JSONObject
from session_service.core_client.config import CoreClientConfig
from session_service.domain.config import (
    DEFAULT_MAX_ACCESS_TOKEN_BYTES,
    MIN_MAX_ACCESS_TOKEN_BYTES,
    AntiCsrfMode,
    DomainConfig,
    KeyCacheConfig,
    TokenCacheConfig,
    parse_anti_csrf_mode,
)
from session_service.domain.errors import (
    CoreApiKeyRejected,
    CoreIncompatible,
    CoreSaturated,
    CoreUnavailable,
    DeadlineExceeded,
    DomainError,
    InvalidArgument,
)
from session_service.domain.limits import MAX_JSON_DEPTH, check_depth
from session_service.domain.recipe import SessionRecipe
from session_service.domain.revocations import (
    FEED_STATES,
    FeedFailure,
    FeedState,
    FeedStatus,
    RevocationConfig,
)
from session_service.domain.session_claims import ClaimFetchFailed
from session_service.domain.token_cache import FastPathCache
from session_service.domain.types import (
    ClaimError,
    ClaimsValidationResult,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    ClaimValueResult,
    CoreConnectionStats,
    CreateJwtResult,
    JsonWebKey,
    JwksResult,
    KeyCacheHealth,
    KeyCacheStats,
    OpenIdDiscoveryConfiguration,
    RegenerateAccessTokenResult,
    RegeneratedAccessToken,
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
    "DEFAULT_MAX_ACCESS_TOKEN_BYTES",
    "FEED_STATES",
    "MAX_JSON_DEPTH",
    "MIN_MAX_ACCESS_TOKEN_BYTES",
    "AntiCsrfMode",
    "ClaimError",
    "ClaimFetchFailed",
    "ClaimValidatorKind",
    "ClaimValidatorSpec",
    "ClaimValueResult",
    "ClaimsValidationResult",
    "Clock",
    "CoreApiKeyRejected",
    "CoreClientConfig",
    "CoreConnectionStats",
    "CoreIncompatible",
    "CoreSaturated",
    "CoreUnavailable",
    "CreateJwtResult",
    "DeadlineExceeded",
    "DomainConfig",
    "DomainError",
    "FastPathCache",
    "FeedFailure",
    "FeedState",
    "FeedStatus",
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
    "RevocationConfig",
    "RevokeResult",
    "Session",
    "SessionHandlesResult",
    "SessionInformation",
    "SessionInformationResult",
    "SessionRecipe",
    "SessionResult",
    "Status",
    "StatusResult",
    "TokenCacheConfig",
    "TokenCacheStats",
    "TokenInfo",
    "TokenTheft",
    "check_depth",
    "parse_anti_csrf_mode",
]
