"""SessionManager: the session recipe functions of supertokens-python 0.14.0, over a core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from session_service.domain.config import DomainConfig
from session_service.domain.types import (
    ClaimsValidationResult,
    ClaimValidatorSpec,
    ClaimValueResult,
    CreateJwtResult,
    JSONObject,
    JwksResult,
    KeyCacheHealth,
    KeyCacheStats,
    OpenIdDiscoveryConfiguration,
    RegenerateAccessTokenResult,
    RevokeResult,
    SessionHandlesResult,
    SessionInformationResult,
    SessionResult,
    StatusResult,
)


class Clock(Protocol):
    """Epoch milliseconds (``session_core.clock.ManualClock`` fits)."""

    def now_ms(self) -> int: ...


class SessionManager:
    """One per process. ``await start()`` before use and ``await close()`` at shutdown.

    Every method takes ``timeout``: the seconds left of the caller's deadline; it bounds
    the core HTTP call(s) together with the configured core timeout. (It is a budget that
    is passed down to the HTTP client, hence the ASYNC109 waivers.)
    Raises ``InvalidArgument``, ``CoreUnavailable`` or ``CoreIncompatible``; every other
    outcome is a ``Status`` in the result.
    """

    def __init__(self, config: DomainConfig, *, clock: Clock | None = None) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        """Start the background signing-key refresher (does not require the core to be up)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Stop the refresher and close the HTTP client."""
        raise NotImplementedError

    async def check_core(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Negotiate the CDI version now (readiness): raises CoreUnavailable/CoreIncompatible."""
        raise NotImplementedError

    def key_cache_health(self) -> KeyCacheHealth:
        raise NotImplementedError

    def key_cache_stats(self) -> KeyCacheStats:
        raise NotImplementedError

    # -- sessions ---------------------------------------------------------------------------

    async def create_new_session(
        self,
        user_id: str,
        access_token_payload: JSONObject | None = None,
        session_data_in_database: JSONObject | None = None,
        disable_anti_csrf: bool = False,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """OK with session (new_access_token, refresh_token, anti_csrf_token when enabled)."""
        raise NotImplementedError

    async def get_session(
        self,
        access_token: str | None,
        *,
        anti_csrf_token: str | None = None,
        anti_csrf_check: bool = True,
        session_required: bool = True,
        check_database: bool = False,
        claim_validators: Sequence[ClaimValidatorSpec] = (),
        override_global_claim_validators: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """OK / UNAUTHORISED / TRY_REFRESH_TOKEN / INVALID_CLAIMS / NO_SESSION."""
        raise NotImplementedError

    async def refresh_session(
        self,
        refresh_token: str,
        anti_csrf_token: str | None = None,
        disable_anti_csrf: bool = False,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """OK / UNAUTHORISED / TOKEN_THEFT_DETECTED."""
        raise NotImplementedError

    async def revoke_session(
        self,
        session_handle: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        raise NotImplementedError

    async def revoke_all_sessions_for_user(
        self,
        user_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        raise NotImplementedError

    async def revoke_multiple_sessions(
        self,
        session_handles: Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        raise NotImplementedError

    async def get_all_session_handles_for_user(
        self,
        user_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionHandlesResult:
        raise NotImplementedError

    async def get_session_information(
        self,
        session_handle: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionInformationResult:
        raise NotImplementedError

    async def update_session_data_in_database(
        self,
        session_handle: str,
        new_session_data: JSONObject,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        raise NotImplementedError

    async def merge_into_access_token_payload(
        self,
        session_handle: str,
        access_token_payload_update: JSONObject,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        """Shallow-merge into the stored payload; keys set to None are removed."""
        raise NotImplementedError

    async def regenerate_access_token(
        self,
        access_token: str,
        new_access_token_payload: JSONObject | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RegenerateAccessTokenResult:
        raise NotImplementedError

    # -- claims -----------------------------------------------------------------------------

    async def set_claim_value(
        self,
        session_handle: str,
        key: str,
        value: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        """Merge ``{key: {"v": value, "t": now_ms}}`` into the stored payload."""
        raise NotImplementedError

    async def get_claim_value(
        self,
        session_handle: str,
        key: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimValueResult:
        raise NotImplementedError

    async def remove_claim(
        self,
        session_handle: str,
        key: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        raise NotImplementedError

    async def validate_claims_for_session_handle(
        self,
        session_handle: str,
        *,
        claim_validators: Sequence[ClaimValidatorSpec] = (),
        override_global_claim_validators: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimsValidationResult:
        raise NotImplementedError

    # -- JWT / JWKS / OpenId ------------------------------------------------------------------

    async def get_jwks(self, *, timeout: float | None = None) -> JwksResult:  # noqa: ASYNC109
        raise NotImplementedError

    async def create_jwt(
        self,
        payload: JSONObject,
        validity_seconds: int | None = None,
        use_static_signing_key: bool | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> CreateJwtResult:
        raise NotImplementedError

    async def get_open_id_discovery_configuration(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> OpenIdDiscoveryConfiguration:
        raise NotImplementedError
