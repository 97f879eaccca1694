"""``SessionRecipe``: the session recipe of supertokens-python 0.14.0 over a core, the
domain's public API (``session_service.domain.api``).

Its methods are the SDK's public functions (``supertokens_python.recipe.session.asyncio``):
each calls the recipe function of its name, the ``RecipeFunctions`` given at construction
(the defaults of ``recipe_implementation.py``, or what an override made of them, as the
SDK's ``override.functions`` replaces its ``RecipeInterface``). Three do more around it, as
the SDK's wrappers do: ``create_new_session`` adds the issuer, ``refresh_session`` revokes
a session whose refresh token was stolen, ``get_session_information`` refuses to answer with
what it cannot carry. Where the SDK raises UnauthorisedError / TryRefreshTokenError /
TokenTheftError / InvalidClaimsError or returns False/None, the result carries a ``Status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from session_common.clock import Clock, SystemClock
from session_common.json_values import JSONObject
from session_service.core_client.client import CoreClient, JwksDocument
from session_service.domain.arguments import json_object, required_str
from session_service.domain.config import AntiCsrfMode, DomainConfig
from session_service.domain.key_cache import KeyCache
from session_service.domain.overrides import Override, RecipeFunctions, apply_override
from session_service.domain.recipe_calls import RecipeCalls
from session_service.domain.recipe_implementation import default_functions
from session_service.domain.recipe_parts import RecipeParts, time_left
from session_service.domain.revocation_follower import RevocationFollower
from session_service.domain.revocations import (
    FeedState,
    FeedStatus,
    RevocationConfig,
    Revocations,
)
from session_service.domain.session_claims import ClaimRegistry, SessionClaim
from session_service.domain.session_limits import SessionLimits, check_servable
from session_service.domain.token_cache import FastPathCache
from session_service.domain.token_check import TokenCheck
from session_service.domain.types import (
    CoreConnectionStats,
    KeyCacheHealth,
    KeyCacheStats,
    Session,
    SessionInformationResult,
    SessionResult,
    TokenCacheStats,
)
from session_service.domain.verifier import AccessTokenVerifier

A = TypeVar("A")


class SessionRecipe(RecipeCalls):
    """One per process. ``await start()`` before use and ``await close()`` at shutdown.

    ``override`` (``--override-module``) receives the default recipe functions and returns
    the ones every call goes through; ``OverrideError`` when it fails or returns something
    else. Every method takes ``timeout``: the seconds left of the caller's deadline; it
    bounds the core HTTP call(s) together with the configured core timeout. (It is a budget
    that is passed down to the HTTP client, hence the ASYNC109 waivers.) Raises
    ``InvalidArgument``, ``CoreUnavailable``, ``CoreSaturated``, ``DeadlineExceeded`` or
    ``CoreIncompatible``; every other outcome is a ``Status`` in the result.

    ``revocations``: following the core's revocation feed (off unless given enabled;
    docs/revocation.md).
    """

    def __init__(
        self,
        config: DomainConfig,
        *,
        clock: Clock | None = None,
        core_client: CoreClient | None = None,
        claims: Iterable[SessionClaim] = (),
        override: Override | None = None,
        revocations: RevocationConfig | None = None,
    ) -> None:
        self._config = config
        clock = clock or SystemClock()
        # Raises InvalidArgument when a server-wide validator does not fit its claim.
        registry = ClaimRegistry(claims)
        registry.use_clock(clock.now_ms)
        required = registry.bind(config.required_claim_validators, "required_claim_validators")
        self._core = core_client or CoreClient(config.core)
        self._keys = KeyCache(self._fetch_jwks, config.key_cache, clock)
        verifier = AccessTokenVerifier(self._keys, clock)
        feed = revocations or RevocationConfig()
        self._revocations = Revocations(feed.max_entries)
        self._tokens = TokenCheck(config, clock, self._keys, verifier, self._revocations)
        self._follower = (
            RevocationFollower(
                self._core, self._revocations, feed, clock, self._tokens.forget_sessions
            )
            if feed.enabled
            else None
        )
        parts = RecipeParts(
            config=config,
            clock=clock,
            core=self._core,
            keys=self._keys,
            verifier=verifier,
            tokens=self._tokens,
            revocations=self._revocations,
            limits=SessionLimits(config.max_access_token_bytes, self._keys),
            claims=registry,
            required_validators=required,
            functions=lambda: self.functions,
            via_token=config.anti_csrf is AntiCsrfMode.VIA_TOKEN,
        )
        self._parts = parts
        self._defaults = default_functions(parts)
        self.functions: RecipeFunctions = (
            self._defaults if override is None else apply_override(self._defaults, override)
        )

    @property
    def key_cache(self) -> KeyCache:
        """The signing-key cache (health, counters)."""
        return self._keys

    async def start(self) -> None:
        """Start the background signing-key refresher and the revocation feed's follower
        (neither requires the core to be up)."""
        self._keys.start_background_refresh()
        if self._follower is not None:
            self._follower.start()

    async def close(self) -> None:
        """Stop the follower and the refresher, and close the HTTP client."""
        if self._follower is not None:
            await self._follower.stop()
        await self._keys.stop()
        await self._core.close()

    @property
    def revoked_sessions(self) -> Revocations:
        """The revoked sessions this process knows of (kept by the revocation feed's
        follower), and whether GetSession asks the core."""
        return self._revocations

    def revocation_feed(self) -> FeedStatus:
        """The revocation feed's follower: state, lag, revoked sessions known, counters."""
        if self._follower is None:
            return FeedStatus(FeedState.OFF, None, len(self._revocations), 0, 0, False)
        return self._follower.status()

    async def check_core(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Probe a core now (``GET /apiversion``, one request, with host failover) and
        negotiate the CDI version if not done yet. For readiness checks: it really contacts
        the core on every call. Raises CoreUnavailable/CoreIncompatible."""
        await self._core.probe(deadline=self._core.deadline(timeout))

    def key_cache_health(self) -> KeyCacheHealth:
        return self._keys.health()

    def core_connection_stats(self) -> CoreConnectionStats:
        """The core connections used for callers' calls: limit, in use, calls waiting."""
        return self._core.connection_stats()

    def key_cache_stats(self) -> KeyCacheStats:
        return self._keys.stats()

    def token_cache_stats(self) -> TokenCacheStats | None:
        """The verified-token cache's sizes and counters (None when it is off)."""
        return self._tokens.stats()

    async def _fetch_jwks(self, time_limit: float) -> JwksDocument:
        return await self._core.fetch_jwks(
            time_limit=time_limit, max_bytes=self._config.key_cache.max_jwks_bytes
        )

    def fast_path_cache(self, render: Callable[[Session], A]) -> FastPathCache[A] | None:
        """The verified-token cache as the transport's fast path uses it (the one hook of
        that path, whose rules ``session_service/transport/fast_path.py`` states): None when
        the cache is off. Its ``answer`` is None unless ``get_session(access_token)`` with
        every option at its default can be answered from the cache: anti-CSRF off, no
        server-wide claim validators, and ``get_session`` not overridden."""
        answers_tokens = not (
            self._parts.via_token
            or self._config.required_claim_validators
            or self.functions.get_session is not self._defaults.get_session
        )
        return self._tokens.fast_path_cache(render, answers_tokens)

    # -- the public functions that do more than call the recipe function -----------------

    async def create_new_session(
        self,
        user_id: str,
        access_token_payload: JSONObject | None = None,
        session_data_in_database: JSONObject | None = None,
        disable_anti_csrf: bool = False,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """OK with session (new_access_token, refresh_token, anti_csrf_token when enabled).

        Like the SDK's public wrapper, ``iss`` (the configured issuer) is added to the payload
        before the recipe function runs (which override hooks may replace: they see ``iss``).
        """
        required_str("user_id", user_id)
        payload = json_object("access_token_payload", access_token_payload, optional=True)
        return await self.functions.create_new_session(
            user_id,
            {**(payload or {}), "iss": self._config.effective_issuer},
            session_data_in_database,
            disable_anti_csrf,
            user_context=user_context,
            timeout=timeout,
        )

    async def refresh_session(
        self,
        refresh_token: str,
        anti_csrf_token: str | None = None,
        disable_anti_csrf: bool = False,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """The recipe function, then what the SDK's default error handler does on
        TOKEN_THEFT_DETECTED (``on_token_theft_detected``): revoke the session, through
        ``revoke_session`` (so an override of it sees the call). Off with
        ``revoke_session_on_token_theft`` for callers who handle theft themselves."""
        context = {} if user_context is None else user_context
        deadline = self._core.deadline(timeout)
        result = await self.functions.refresh_session(
            refresh_token,
            anti_csrf_token,
            disable_anti_csrf,
            user_context=context,
            timeout=time_left(deadline),
        )
        if result.theft is not None and self._config.revoke_session_on_token_theft:
            await self.functions.revoke_session(
                result.theft.session_handle, user_context=context, timeout=time_left(deadline)
            )
        return result

    async def get_session_information(
        self,
        session_handle: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionInformationResult:
        """SDK ``get_session_information``: the recipe function's answer, given only when it
        can carry what is stored: a payload or session data written past the nesting limit
        through the core's own API is INVALID_ARGUMENT on ``session_handle``
        (``check_servable``)."""
        found = await self.functions.get_session_information(
            session_handle, user_context=user_context, timeout=timeout
        )
        if found.info is not None:
            check_servable(found.info, session_data=True)
        return found
