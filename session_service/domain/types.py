"""Result and request types of the domain API (no gRPC, no HTTP).

Every result carries a ``Status`` and a human-readable ``message`` (empty on success).
JSON values (payloads, claim values, reason dicts) are plain ``dict``/``list``/``str``/
``int``/``float``/``bool``/``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from session_common.json_values import JSONObject


class Status(StrEnum):
    """Outcomes callers branch on: where the SDK's recipe functions raise
    ``UnauthorisedError``, ``TryRefreshTokenError``, ``TokenTheftError`` or
    ``InvalidClaimsError``, return None (NO_SESSION) or False (SESSION_DOES_NOT_EXIST)."""

    OK = "OK"
    UNAUTHORISED = "UNAUTHORISED"
    TRY_REFRESH_TOKEN = "TRY_REFRESH_TOKEN"
    TOKEN_THEFT_DETECTED = "TOKEN_THEFT_DETECTED"
    INVALID_CLAIMS = "INVALID_CLAIMS"
    SESSION_DOES_NOT_EXIST = "SESSION_DOES_NOT_EXIST"
    UNSUPPORTED_ALGORITHM = "UNSUPPORTED_ALGORITHM"
    # get_session with session_required=False and no (or an unparseable) token: the SDK
    # returns None there.
    NO_SESSION = "NO_SESSION"


class ClaimValidatorKind(StrEnum):
    """The declarative validators of the SDK's ``PrimitiveClaim`` and ``PrimitiveArrayClaim``
    (``supertokens_python.recipe.session.claim_base_classes``).

    BooleanClaim's ``is_true``/``is_false`` are HAS_VALUE with ``value`` True/False.
    """

    HAS_VALUE = "has_value"
    INCLUDES = "includes"
    EXCLUDES = "excludes"
    INCLUDES_ALL = "includes_all"
    EXCLUDES_ALL = "excludes_all"


@dataclass(frozen=True, slots=True)
class ClaimValidatorSpec:
    """One claim validator, given as data because callbacks cannot cross gRPC.

    * ``key``: the claim's key in the access-token payload (stored as ``{"v": value, "t": ms}``).
    * ``value``: the expected value for HAS_VALUE, or the item for INCLUDES/EXCLUDES.
    * ``values``: the items for INCLUDES_ALL/EXCLUDES_ALL.
    * ``max_age_seconds``: reject values older than this; ``None`` or ``0`` means no age
      limit (the SDK's ``max_age or default`` turns 0 into "no limit" when there is no default),
      and a negative one, as in the SDK, rejects every value not set in the future.
    * ``id``: the id reported in ``ClaimError``; defaults to ``key``.
    """

    kind: ClaimValidatorKind
    key: str
    value: Any = None
    values: tuple[Any, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None

    @property
    def validator_id(self) -> str:
        return self.id or self.key


@dataclass(frozen=True, slots=True)
class ClaimError:
    """One failed validator: ``reason`` is the SDK's exact reason dict (or None)."""

    id: str
    reason: JSONObject | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token the core issued, with its expiry and creation time in epoch ms."""

    token: str = field(repr=False)
    expiry_ms: int
    created_time_ms: int


@dataclass(frozen=True, slots=True)
class Session:
    """A verified, created or refreshed session.

    * ``access_token_payload``: the full JWT payload (v3: ``sub``, ``iat``, ``exp``,
      ``sessionHandle``, ... plus custom claims) of ``access_token``; for a legacy v2 token
      only the custom claims (the SDK's behaviour).
    * ``access_token``: the token the caller should use from now on (the new one if the
      core issued one, else the one that was passed in).
    * ``front_token``: std base64 of the compact, key-sorted JSON ``{"ate","uid","up"}``.
    * ``new_access_token``: set whenever the core issued an access token (create, refresh,
      or a get_session that promoted a refreshed session / saw a changed payload). Callers
      must hand it to the client.
    * ``refresh_token``: set only by create and refresh.
    * ``anti_csrf_token``: create/refresh: the one the core minted; get_session: the one
      the request carried.
    """

    session_handle: str
    user_id: str
    access_token_payload: JSONObject
    access_token: str = field(repr=False)
    access_token_expiry_ms: int
    front_token: str = field(repr=False)
    new_access_token: TokenInfo | None = None
    refresh_token: TokenInfo | None = None
    anti_csrf_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TokenTheft:
    """The session in which a refresh token was reused (TOKEN_THEFT_DETECTED)."""

    session_handle: str
    user_id: str


@dataclass(frozen=True, slots=True)
class SessionResult:
    """Result of create_new_session, get_session and refresh_session.

    * OK: ``session`` is set.
    * INVALID_CLAIMS (get_session): ``invalid_claims`` lists the failures in validator
      order; ``session`` is still set, so a new access token issued during verification is
      not lost.
    * TOKEN_THEFT_DETECTED (refresh_session): ``theft`` is set. The core does not revoke the
      session; ``SessionRecipe.refresh_session`` then does, as the SDK's default handler,
      unless ``revoke_session_on_token_theft`` is off (the recipe function never does).
    * UNAUTHORISED / TRY_REFRESH_TOKEN / NO_SESSION: only ``message``.
    """

    status: Status
    message: str = ""
    session: Session | None = None
    invalid_claims: tuple[ClaimError, ...] = ()
    theft: TokenTheft | None = None


@dataclass(frozen=True, slots=True)
class StatusResult:
    """Result of the by-handle updates: OK or SESSION_DOES_NOT_EXIST."""

    status: Status
    message: str = ""


@dataclass(frozen=True, slots=True)
class RevokeResult:
    """Handles the core actually deleted.

    revoke_session: OK when exactly one session was revoked, else SESSION_DOES_NOT_EXIST.
    revoke_all_sessions_for_user / revoke_multiple_sessions: always OK.
    """

    status: Status
    message: str = ""
    revoked_session_handles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionHandlesResult:
    status: Status
    message: str = ""
    session_handles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionInformation:
    """The core's view of a session (GET /recipe/session)."""

    session_handle: str
    user_id: str
    session_data_in_database: JSONObject
    expiry_ms: int
    # The core's userDataInJWT: custom claims only (no protected props; ``iss`` is included).
    custom_claims_in_access_token_payload: JSONObject
    time_created_ms: int


@dataclass(frozen=True, slots=True)
class SessionInformationResult:
    """OK with ``info``, or SESSION_DOES_NOT_EXIST (missing, revoked or expired)."""

    status: Status
    message: str = ""
    info: SessionInformation | None = None


@dataclass(frozen=True, slots=True)
class ClaimValueResult:
    """OK with ``value`` (the claim's ``v``; None when the claim is absent), or
    SESSION_DOES_NOT_EXIST."""

    status: Status
    message: str = ""
    value: Any = None


@dataclass(frozen=True, slots=True)
class ClaimsValidationResult:
    """OK (no failures), INVALID_CLAIMS (``invalid_claims`` set) or SESSION_DOES_NOT_EXIST.

    ``access_token_payload_update``: set only by ``validate_claims`` (the SDK's recipe
    function), when claim values were fetched: the whole payload with them, to be merged.
    """

    status: Status
    message: str = ""
    invalid_claims: tuple[ClaimError, ...] = ()
    access_token_payload_update: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class RegeneratedAccessToken:
    """``access_token_payload`` is the session's new custom payload (the core's
    userDataInJWT). ``new_access_token`` is None when the old token had already expired:
    the payload is stored and shows up in the next token the core mints."""

    session_handle: str
    user_id: str
    access_token_payload: JSONObject
    new_access_token: TokenInfo | None


@dataclass(frozen=True, slots=True)
class RegenerateAccessTokenResult:
    """OK with ``result``; UNAUTHORISED when the session no longer exists;
    TRY_REFRESH_TOKEN when the token's signature cannot be verified locally."""

    status: Status
    message: str = ""
    result: RegeneratedAccessToken | None = None


@dataclass(frozen=True, slots=True)
class JsonWebKey:
    kty: str
    kid: str
    n: str
    e: str
    alg: str
    use: str


@dataclass(frozen=True, slots=True)
class JwksResult:
    status: Status
    message: str = ""
    keys: tuple[JsonWebKey, ...] = ()


@dataclass(frozen=True, slots=True)
class CreateJwtResult:
    """OK with ``jwt``, or UNSUPPORTED_ALGORITHM."""

    status: Status
    message: str = ""
    jwt: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class OpenIdDiscoveryConfiguration:
    status: Status
    issuer: str
    jwks_uri: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class KeyCacheHealth:
    """Signing-key cache state for health checks.

    ``is_stale``: the keys are past their freshness window (the core's JWKS could not be
    refetched); they keep serving until ``max_stale`` has also passed.
    """

    has_keys: bool
    last_success_ms: int | None
    is_stale: bool


@dataclass(frozen=True, slots=True)
class KeyCacheStats:
    """Monotonic counters for metrics."""

    fetches_ok: int
    fetches_failed: int
    unknown_kid_misses: int
    unknown_kid_refetches: int
    negative_cache_hits: int


@dataclass(frozen=True, slots=True)
class CoreConnectionStats:
    """The connections to the core that calls for callers use: at most ``limit`` at once,
    ``in_use`` now, and ``waiting`` calls queued for one."""

    limit: int
    in_use: int
    waiting: int


@dataclass(frozen=True, slots=True)
class TokenCacheStats:
    """The verified-token cache: sizes now, and monotonic counters.

    ``verified``: tokens whose verification is remembered; ``decoded``: those of them also
    held decoded (the most recently used); ``rejected``: tokens remembered as never valid.
    ``hits``: served from a decoded entry; ``warm_hits``: from a verified entry (the token
    is decoded again, its signature is not checked again); ``rejected_hits``: refused from
    the rejected cache; ``misses``: fully verified.
    """

    verified: int
    decoded: int
    rejected: int
    hits: int
    warm_hits: int
    rejected_hits: int
    misses: int
