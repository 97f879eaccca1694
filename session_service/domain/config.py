"""Configuration of the domain layer: plain frozen dataclasses.

The settings layer builds these from flags and environment; invalid values raise
``InvalidArgument`` (a ``ValueError``) naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from session_service.core_client.config import (
    CoreClientConfig,
    require_positive,
)
from session_service.domain.claims import check_claim_validators
from session_service.domain.errors import InvalidArgument
from session_service.domain.types import ClaimValidatorSpec

# The SDK's default validity for create_jwt (100 years, jwt recipe config).
DEFAULT_JWT_VALIDITY_SECONDS = 3_153_600_000
# Access tokens: 8000 bytes leave room for "Authorization: Bearer " (or the cookie's name
# and others) in one 8 KiB header line, nginx's default large_client_header_buffers.
DEFAULT_MAX_ACCESS_TOKEN_BYTES = 8000
MIN_MAX_ACCESS_TOKEN_BYTES = 1024


class AntiCsrfMode(StrEnum):
    """How get_session/refresh_session protect against CSRF (the SDK's ``anti_csrf`` session
    config, ``recipe/session/utils.py``).

    VIA_CUSTOM_HEADER is a check on an HTTP request header (``rid``): the service's HTTP
    decision (``http_sessions.py``: the HTTP edge, Envoy's ``Check``) makes it; for the
    session RPCs, which see no HTTP request, it is NONE and the calling application's HTTP
    layer makes it.
    """

    VIA_TOKEN = "VIA_TOKEN"
    VIA_CUSTOM_HEADER = "VIA_CUSTOM_HEADER"
    NONE = "NONE"


def parse_anti_csrf_mode(value: str) -> AntiCsrfMode:
    """Parse a configured anti-CSRF mode."""
    try:
        return AntiCsrfMode(value.strip().upper())
    except ValueError:
        raise InvalidArgument("anti_csrf", "must be VIA_TOKEN, VIA_CUSTOM_HEADER or NONE") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyCacheConfig:
    """The signing-key (JWKS) cache (the SDK's ``recipe/session/jwks.py``, improved).

    * ``max_age_seconds``: freshness when the core sends no ``Cache-Control: max-age``
      (the SDK's 60 s). A header value is clamped to [``refetch_cooldown_seconds``,
      ``max_age_ceiling_seconds``].
    * ``refetch_cooldown_seconds``: minimum gap between fetches caused by unknown kids
      (the SDK's 500 ms).
    * ``unknown_kid_ttl_seconds``: how long a kid that was not found after a refetch is
      answered from the negative cache without another fetch (default: the cooldown).
    * ``unknown_kid_cache_size``: bound of that negative cache (LRU).
    * ``max_stale_seconds``: how long past freshness the last good keys keep serving while
      the core's JWKS cannot be fetched.
    * ``refresh_lead_seconds`` / ``refresh_jitter_seconds``: the background refresher
      refetches this long (minus up to the jitter) before the keys go stale.
    """

    max_age_seconds: float = 60.0
    max_age_ceiling_seconds: float = 86_400.0
    honour_cache_control: bool = True
    refetch_cooldown_seconds: float = 0.5
    unknown_kid_ttl_seconds: float | None = None
    unknown_kid_cache_size: int = 1024
    max_stale_seconds: float = 3600.0
    fetch_timeout_seconds: float = 5.0
    refresh_lead_seconds: float = 5.0
    refresh_jitter_seconds: float = 2.0
    max_jwks_bytes: int = 1_048_576

    def __post_init__(self) -> None:
        require_positive("key_cache.max_age_seconds", self.max_age_seconds)
        require_positive("key_cache.fetch_timeout_seconds", self.fetch_timeout_seconds)
        require_positive("key_cache.unknown_kid_cache_size", self.unknown_kid_cache_size)
        require_positive("key_cache.max_jwks_bytes", self.max_jwks_bytes)
        if self.max_age_ceiling_seconds < self.max_age_seconds:
            raise InvalidArgument("key_cache.max_age_ceiling_seconds", "must be >= max_age_seconds")
        for name in (
            "refetch_cooldown_seconds",
            "max_stale_seconds",
            "refresh_lead_seconds",
            "refresh_jitter_seconds",
        ):
            if getattr(self, name) < 0:
                raise InvalidArgument(f"key_cache.{name}", "must not be negative")
        if self.unknown_kid_ttl_seconds is not None and self.unknown_kid_ttl_seconds < 0:
            raise InvalidArgument("key_cache.unknown_kid_ttl_seconds", "must not be negative")

    @property
    def negative_ttl_seconds(self) -> float:
        if self.unknown_kid_ttl_seconds is None:
            return self.refetch_cooldown_seconds
        return self.unknown_kid_ttl_seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenCacheConfig:
    """The verified-token cache (token_cache.py).

    * ``enabled``: off means every get_session verifies from scratch.
    * ``max_entries``: verified tokens remembered (oldest out first); each costs a few
      hundred bytes, since the token is decoded again from the request.
    * ``decoded_entries``: how many of them (the most recently used, from their second use
      on) are also kept decoded, which makes a hit one dictionary lookup; a few KB each.
    * ``max_rejected``: tokens remembered as never valid, in a separate bound so that
      garbage cannot push out verified tokens.
    """

    enabled: bool = True
    max_entries: int = 100_000
    decoded_entries: int = 2048
    max_rejected: int = 10_000

    def __post_init__(self) -> None:
        for name in ("max_entries", "decoded_entries", "max_rejected"):
            if getattr(self, name) < 0:
                raise InvalidArgument(f"token_cache.{name}", "must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainConfig:
    """Everything the SessionRecipe needs.

    * ``api_domain`` / ``api_base_path``: the SDK's appInfo; the default ``issuer`` is their
      concatenation (it becomes ``iss`` in new sessions and JWTs and the OpenId issuer).
    * ``anti_csrf``: VIA_TOKEN, VIA_CUSTOM_HEADER (NONE for everything but the HTTP
      decision) or NONE (default NONE).
    * ``use_dynamic_access_token_signing_key``: sent at create; tokens whose kid type
      (``d-``/``s-``) disagrees get TRY_REFRESH_TOKEN.
    * ``required_claim_validators``: the server-wide validators every get_session applies
      unless the request overrides them.
    * ``max_access_token_bytes``: the longest access token the service accepts and lets a
      session have: longer tokens are rejected (UNAUTHORISED) before any decoding, and a
      write whose session's tokens could be longer is refused (INVALID_ARGUMENT). A bound
      the SDK does not have; the default fits one 8 KiB HTTP header line (nginx's default
      buffer), not one browser cookie (about 4 KiB: docs/security.md).
    * ``revoke_session_on_token_theft``: refresh_session revokes a session in which it
      detects token theft, as the SDK's default theft handler does.
    * ``token_cache``: the verified-token cache.
    """

    api_domain: str
    api_base_path: str = "/auth"
    issuer: str | None = None
    core: CoreClientConfig = field(default_factory=CoreClientConfig)
    key_cache: KeyCacheConfig = field(default_factory=KeyCacheConfig)
    token_cache: TokenCacheConfig = field(default_factory=TokenCacheConfig)
    anti_csrf: AntiCsrfMode = AntiCsrfMode.NONE
    use_dynamic_access_token_signing_key: bool = True
    required_claim_validators: tuple[ClaimValidatorSpec, ...] = ()
    jwt_validity_seconds: int = DEFAULT_JWT_VALIDITY_SECONDS
    max_access_token_bytes: int = DEFAULT_MAX_ACCESS_TOKEN_BYTES
    revoke_session_on_token_theft: bool = True

    def __post_init__(self) -> None:
        parts = urlsplit(self.api_domain)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgument(
                "api_domain", "must be an http(s) URL such as https://api.example.com"
            )
        if self.api_base_path and not self.api_base_path.startswith("/"):
            raise InvalidArgument("api_base_path", "must start with '/'")
        if not isinstance(self.anti_csrf, AntiCsrfMode):
            # Accept the plain strings a settings layer reads from flags/env.
            object.__setattr__(self, "anti_csrf", parse_anti_csrf_mode(str(self.anti_csrf)))
        check_claim_validators(self.required_claim_validators, "required_claim_validators")
        if self.jwt_validity_seconds <= 0:
            raise InvalidArgument("jwt_validity_seconds", "must be positive")
        if self.max_access_token_bytes < MIN_MAX_ACCESS_TOKEN_BYTES:
            raise InvalidArgument(
                "max_access_token_bytes",
                f"must be at least {MIN_MAX_ACCESS_TOKEN_BYTES} (a token with an empty "
                "payload is about 700 bytes)",
            )

    @property
    def effective_issuer(self) -> str:
        if self.issuer:
            return self.issuer.rstrip("/")
        return self.api_domain.rstrip("/") + self.api_base_path.rstrip("/")

    @property
    def jwks_domain(self) -> str:
        """``jwksDomain`` sent with create_jwt (the SDK sends the api domain)."""
        return self.api_domain.rstrip("/")
