"""SessionRecipe: the session recipe functions of supertokens-python 0.14.0, over a core.

Each method mirrors one SDK function (session-semantics §1) and the core call(s) it makes
(cdi-2.21 §2.15). Where the SDK raises UnauthorisedError / TryRefreshTokenError /
TokenTheftError / InvalidClaimsError or returns False/None, the result carries a ``Status``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from session_common.clock import Clock, SystemClock
from session_common.json_values import JSONObject
from session_common.token_format import PROTECTED_PROPS
from session_service.core_client import calls
from session_service.core_client.client import CoreClient, JwksDocument
from session_service.core_client.replies import IssuedSession, Refusal, malformed
from session_service.domain.access_token import build_front_token, issued_payload
from session_service.domain.arguments import ensure_json, json_object, required_str
from session_service.domain.claims import (
    check_claim_validators,
    claim_value_for_payload,
    get_claim_value,
    validate_claims,
)
from session_service.domain.config import AntiCsrfMode, DomainConfig
from session_service.domain.errors import PROTECTED_CLAIMS, InvalidArgument
from session_service.domain.key_cache import KeyCache
from session_service.domain.limits import (
    MAX_CLAIM_VALUE_DEPTH,
    access_token_length,
    check_depth,
    too_deep,
)
from session_service.domain.messages import (
    ANTI_CSRF_FAILED_MESSAGE,
    ANTI_CSRF_MISSING_MESSAGE,
    INVALID_CLAIMS_MESSAGE,
    KEY_MODE_MESSAGE,
    NO_REFRESH_TOKEN_MESSAGE,
    NO_SESSION_MESSAGE,
    NO_TOKEN_MESSAGE,
    PARSE_FAILED_MESSAGE,
    SESSION_ENDED_MESSAGE,
    SESSION_GONE_MESSAGE,
    THEFT_MESSAGE,
)
from session_service.domain.session_claims import (
    ClaimRegistry,
    SessionClaim,
    fetch_claim_value,
    should_refetch,
)
from session_service.domain.session_limits import (
    SessionLimits,
    Unservable,
    check_servable,
)
from session_service.domain.token_cache import (
    Decoded,
)
from session_service.domain.token_check import CheckedToken, TokenCheck
from session_service.domain.types import (
    ClaimError,
    ClaimsValidationResult,
    ClaimValidatorSpec,
    ClaimValueResult,
    CoreConnectionStats,
    CreateJwtResult,
    JwksResult,
    KeyCacheHealth,
    KeyCacheStats,
    OpenIdDiscoveryConfiguration,
    RegenerateAccessTokenResult,
    RevokeResult,
    Session,
    SessionHandlesResult,
    SessionInformationResult,
    SessionResult,
    Status,
    StatusResult,
    TokenCacheStats,
)
from session_service.domain.verifier import (
    AccessTokenVerifier,
    TokenParseError,
    TokenVerificationError,
    VerifiedAccessToken,
    parse_access_token,
    require_anti_csrf,
)


def _same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class SessionRecipe:
    """One per process. ``await start()`` before use and ``await close()`` at shutdown.

    Every method takes ``timeout``: the seconds left of the caller's deadline; it bounds
    the core HTTP call(s) together with the configured core timeout. (It is a budget that
    is passed down to the HTTP client, hence the ASYNC109 waivers.)
    Raises ``InvalidArgument``, ``CoreUnavailable``, ``CoreSaturated``, ``DeadlineExceeded``
    or ``CoreIncompatible``; every other outcome is a ``Status`` in the result.
    """

    def __init__(
        self,
        config: DomainConfig,
        *,
        clock: Clock | None = None,
        core_client: CoreClient | None = None,
        claims: Iterable[SessionClaim] = (),
    ) -> None:
        self._config = config
        self._clock: Clock = clock or SystemClock()
        # The claims it can fetch (--claims-module), and the server-wide validators bound to
        # them; raises InvalidArgument when a validator does not fit its claim.
        self._claims = ClaimRegistry(claims)
        self._claims.use_clock(self._clock.now_ms)
        self._required_validators = self._claims.bind(
            config.required_claim_validators, "required_claim_validators"
        )
        self._core = core_client or CoreClient(config.core)
        self._keys = KeyCache(self._fetch_jwks, config.key_cache, self._clock)
        self._verifier = AccessTokenVerifier(self._keys, self._clock)
        self._tokens = TokenCheck(config, self._clock, self._keys, self._verifier)
        self._limits = SessionLimits(config.max_access_token_bytes, self._keys)
        self._via_token = config.anti_csrf is AntiCsrfMode.VIA_TOKEN
        self._default_get_is_cacheable = not self._via_token and not (
            config.required_claim_validators
        )

    @property
    def key_cache(self) -> KeyCache:
        """The signing-key cache (health, counters, fetch notifications)."""
        return self._keys

    async def start(self) -> None:
        """Start the background signing-key refresher (does not require the core to be up)."""
        self._keys.start_background_refresh()

    async def close(self) -> None:
        """Stop the refresher and close the HTTP client."""
        await self._keys.stop()
        await self._core.close()

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

    # -- sessions ---------------------------------------------------------------------------

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
        return await self.recipe_create_new_session(
            user_id,
            {**(payload or {}), "iss": self._config.effective_issuer},
            session_data_in_database,
            disable_anti_csrf,
            user_context=user_context,
            timeout=timeout,
        )

    async def recipe_create_new_session(
        self,
        user_id: str,
        access_token_payload: JSONObject | None = None,
        session_data_in_database: JSONObject | None = None,
        disable_anti_csrf: bool = False,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """The recipe function: create a session with exactly this payload."""
        required_str("user_id", user_id)
        payload = json_object("access_token_payload", access_token_payload, optional=True)
        data = json_object("session_data_in_database", session_data_in_database, optional=True)
        deadline = self._core.deadline(timeout)
        issued = await calls.create_session(
            self._core,
            user_id=user_id,
            access_token_payload=payload or {},
            session_data_in_database=data or {},
            use_dynamic_signing_key=self._config.use_dynamic_access_token_signing_key,
            enable_anti_csrf=self._via_token and not disable_anti_csrf,
            deadline=deadline,
        )
        session = _issued_session(issued, "create")
        # Only the core's answer shows which key signs this session's tokens: a session
        # whose tokens could grow past the limit is removed again before anyone saw it.
        token = parse_access_token(session.access_token, max_length=len(session.access_token))
        length = access_token_length(
            session.user_id,
            session.session_handle,
            payload or {},
            token.kid or "",
            len(token.signature),
        )
        if length > self._config.max_access_token_bytes:
            await calls.remove_sessions(
                self._core, session_handles=[session.session_handle], deadline=deadline
            )
            raise InvalidArgument("access_token_payload", self._limits.too_long(length))
        return SessionResult(Status.OK, session=session)

    def default_get_session_lookup(self) -> Callable[[bytes], SessionResult | None] | None:
        """What ``get_session(access_token)`` with every option at its default answers, when
        the verified-token cache can tell without awaiting anything, as one function of the
        token's UTF-8 bytes (as they arrive off the wire: a hit never needs the text) that
        checks nothing of the configuration per call: the OK result of a token seen before,
        else None, and ``get_session`` then gives the exact outcome (a miss includes bytes
        that are not UTF-8). The function is None when no default ``get_session`` can be
        answered from the cache (the cache off, anti-CSRF via token, server-wide
        claim validators, or an override of ``get_session``). An override applied after
        this call is not seen by the function: take it once overrides are in place (the
        server applies them before it serves).

        This is the common call of every calling service. With anti-CSRF off, no
        server-wide claim validators and no override of ``get_session``, nothing about such
        a request can change the OK result that ``get_session`` kept with the cache entry on
        the token's first cached hit, for as long as the entry is valid; so none of the
        per-request steps run here (the caller's deadline cannot matter either).
        """
        if not self._default_get_is_cacheable or "get_session" in vars(self):
            return None
        return self._tokens.ok_lookup()

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
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """OK / UNAUTHORISED / TRY_REFRESH_TOKEN / INVALID_CLAIMS / NO_SESSION: the SDK's
        ``get_session`` algorithm.

        Claim validators run last, as the SDK's ``get_session_without_request_response``
        runs ``Session.assert_claims``: a value of a defined claim that is missing or too old
        is fetched first and merged into the session, whose new access token the result
        carries (``_assert_claims``).
        """
        validators = self._validators(claim_validators, override_global_claim_validators)
        if not access_token:
            if not session_required:
                return SessionResult(Status.NO_SESSION, NO_SESSION_MESSAGE)
            return SessionResult(Status.UNAUTHORISED, NO_TOKEN_MESSAGE)
        deadline = self._core.deadline(timeout)
        try:
            token = await self._tokens.check(access_token, deadline)
        except TokenParseError:
            if not session_required:
                return SessionResult(Status.NO_SESSION, NO_SESSION_MESSAGE)
            return SessionResult(Status.UNAUTHORISED, PARSE_FAILED_MESSAGE)
        except TokenVerificationError as exc:
            # A v3 token that fails locally is never sent to the core; the kid-driven key
            # refetch makes that safe.
            return SessionResult(Status.TRY_REFRESH_TOKEN, str(exc))
        except Unservable as exc:
            return SessionResult(Status.UNAUTHORISED, str(exc))

        check_csrf = self._via_token and anti_csrf_check
        verified = token.verified
        if check_csrf and verified is not None:
            try:
                require_anti_csrf(verified)
            except TokenVerificationError as exc:
                if token.version >= 3:
                    return SessionResult(Status.TRY_REFRESH_TOKEN, str(exc))
                verified = None  # legacy v2 tokens go to the core (SDK 0.14.0 quirk)

        if token.version >= 3:
            assert token.kid is not None
            if token.kid.startswith("d-") != self._config.use_dynamic_access_token_signing_key:
                return SessionResult(Status.TRY_REFRESH_TOKEN, KEY_MODE_MESSAGE)

        if check_csrf and verified is not None:
            if anti_csrf_token is None:
                return SessionResult(Status.TRY_REFRESH_TOKEN, ANTI_CSRF_MISSING_MESSAGE)
            assert verified.anti_csrf_token is not None  # checked by require_anti_csrf()
            if not _same_secret(anti_csrf_token, verified.anti_csrf_token):
                return SessionResult(Status.TRY_REFRESH_TOKEN, ANTI_CSRF_FAILED_MESSAGE)

        cached = token.cached
        if (
            verified is not None
            and not check_database
            and verified.parent_refresh_token_hash_1 is None
        ):
            if cached is not None and anti_csrf_token is None:
                # Served from the cache, such a session is the same on every hit (the
                # token is, byte for byte): build it, and its OK result, once.
                if cached.session is None:
                    cached.session = self._session_from_token(access_token, verified, cached, None)
                    cached.ok = SessionResult(Status.OK, session=cached.session)
                if not validators:
                    assert cached.ok is not None
                    return cached.ok
                session = cached.session
            else:
                session = self._session_from_token(access_token, verified, cached, anti_csrf_token)
        else:
            outcome = await self._verify_with_core(
                access_token,
                token,
                verified,
                anti_csrf_token=anti_csrf_token,
                anti_csrf_check=anti_csrf_check,
                check_database=check_database,
                deadline=deadline,
            )
            if isinstance(outcome, SessionResult):
                return outcome
            session = outcome

        if not validators:
            return SessionResult(Status.OK, session=session)
        return await self._assert_claims(session, validators, user_context, deadline)

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
        result = await self.recipe_refresh_session(
            refresh_token,
            anti_csrf_token,
            disable_anti_csrf,
            user_context=context,
            timeout=_time_left(deadline),
        )
        if result.theft is not None and self._config.revoke_session_on_token_theft:
            await self.revoke_session(
                result.theft.session_handle, user_context=context, timeout=_time_left(deadline)
            )
        return result

    async def recipe_refresh_session(
        self,
        refresh_token: str,
        anti_csrf_token: str | None = None,
        disable_anti_csrf: bool = False,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionResult:
        """OK / UNAUTHORISED / TOKEN_THEFT_DETECTED (§5). UNAUTHORISED also when the new
        access token is one GetSession would refuse (a payload written through the core's
        own API past the service's limits): the session cannot be used through it."""
        if not refresh_token:
            return SessionResult(Status.UNAUTHORISED, NO_REFRESH_TOKEN_MESSAGE)
        reply = await calls.refresh_session(
            self._core,
            refresh_token=refresh_token,
            anti_csrf_token=anti_csrf_token,
            enable_anti_csrf=self._via_token and not disable_anti_csrf,
            deadline=self._core.deadline(timeout),
        )
        if isinstance(reply, Refusal):
            if reply.theft is not None:
                return SessionResult(reply.status, THEFT_MESSAGE, theft=reply.theft)
            return SessionResult(reply.status, reply.message)
        session = _issued_session(reply, "refresh")
        refusal = self._limits.unusable(session.access_token, session.access_token_payload)
        if refusal is not None:
            return SessionResult(Status.UNAUTHORISED, refusal)
        return SessionResult(Status.OK, session=session)

    async def revoke_session(
        self,
        session_handle: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        """OK when exactly this session was revoked, else SESSION_DOES_NOT_EXIST."""
        required_str("session_handle", session_handle)
        revoked = await calls.remove_sessions(
            self._core, session_handles=[session_handle], deadline=self._core.deadline(timeout)
        )
        self._tokens.forget_sessions((session_handle, *revoked))
        if len(revoked) == 1:
            return RevokeResult(Status.OK, revoked_session_handles=revoked)
        return RevokeResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE, revoked)

    async def revoke_all_sessions_for_user(
        self,
        user_id: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        required_str("user_id", user_id)
        revoked = await calls.remove_sessions(
            self._core, user_id=user_id, deadline=self._core.deadline(timeout)
        )
        self._tokens.forget_sessions(revoked)
        return RevokeResult(Status.OK, revoked_session_handles=revoked)

    async def revoke_multiple_sessions(
        self,
        session_handles: Sequence[str],
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RevokeResult:
        if isinstance(session_handles, str) or not all(isinstance(h, str) for h in session_handles):
            raise InvalidArgument("session_handles", "must be a list of strings")
        revoked = await calls.remove_sessions(
            self._core, session_handles=session_handles, deadline=self._core.deadline(timeout)
        )
        self._tokens.forget_sessions((*session_handles, *revoked))
        return RevokeResult(Status.OK, revoked_session_handles=revoked)

    async def get_all_session_handles_for_user(
        self,
        user_id: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionHandlesResult:
        required_str("user_id", user_id)
        handles = await calls.session_handles_for_user(
            self._core, user_id, deadline=self._core.deadline(timeout)
        )
        return SessionHandlesResult(Status.OK, session_handles=handles)

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
        (``_check_servable``)."""
        found = await self.recipe_get_session_information(
            session_handle, user_context=user_context, timeout=timeout
        )
        if found.info is not None:
            check_servable(found.info, session_data=True)
        return found

    async def recipe_get_session_information(
        self,
        session_handle: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> SessionInformationResult:
        """The recipe function (what an override of get_session_information replaces): the
        session as the core stores it, or SESSION_DOES_NOT_EXIST. The functions that read a
        session to work on its payload (validate_claims_for_session_handle,
        fetch_and_set_claim) call it and check only the payload."""
        required_str("session_handle", session_handle)
        info = await calls.session_information(
            self._core, session_handle, deadline=self._core.deadline(timeout)
        )
        if info is None:
            return SessionInformationResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
        return SessionInformationResult(Status.OK, info=info)

    async def update_session_data_in_database(
        self,
        session_handle: str,
        new_session_data: JSONObject,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        required_str("session_handle", session_handle)
        data = json_object("new_session_data", new_session_data)
        assert data is not None
        found = await calls.update_session_data(
            self._core, session_handle, data, deadline=self._core.deadline(timeout)
        )
        return _ok_or_gone(found)

    async def merge_into_access_token_payload(
        self,
        session_handle: str,
        access_token_payload_update: JSONObject,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        """Shallow-merge into the stored payload; keys set to None are removed (§1)."""
        required_str("session_handle", session_handle)
        update = json_object("access_token_payload_update", access_token_payload_update)
        assert update is not None
        return await self._merge(
            session_handle, update, self._core.deadline(timeout), "access_token_payload_update"
        )

    async def regenerate_access_token(
        self,
        access_token: str,
        new_access_token_payload: JSONObject | None = None,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> RegenerateAccessTokenResult:
        """Re-issue ``access_token`` with ``new_access_token_payload``, which replaces the
        stored payload; None means ``{}``, as the SDK's ``regenerate_access_token`` sends.

        The core does not check the token's signature and copies the token's user id,
        expiry and hashes into the one it signs, so the service checks the signature first
        (an expired token is accepted: the core answers it without a new token).
        """
        required_str("access_token", access_token)
        payload = json_object("new_access_token_payload", new_access_token_payload, optional=True)
        try:
            parsed = parse_access_token(
                access_token, max_length=self._config.max_access_token_bytes
            )
        except TokenParseError:
            raise InvalidArgument("access_token", "is not a session access token") from None
        deadline = self._core.deadline(timeout)
        try:
            verified = await self._verifier.verify(
                parsed, anti_csrf_required=False, deadline=deadline, check_times=False
            )
        except TokenVerificationError as exc:
            return RegenerateAccessTokenResult(Status.TRY_REFRESH_TOKEN, str(exc))
        if payload is not None:
            await self._limits.check_token_length(
                "new_access_token_payload",
                verified.user_id,
                verified.session_handle,
                payload,
                deadline,
            )
        regenerated = await calls.regenerate_session(
            self._core, access_token, payload or {}, deadline=deadline
        )
        if isinstance(regenerated, Refusal):
            return RegenerateAccessTokenResult(regenerated.status, regenerated.message)
        token_info = regenerated.new_access_token
        # Without a new payload the stored one is re-issued, which may have been written
        # past the service's limits through the core's own API.
        refusal = self._limits.unusable(
            None if token_info is None else token_info.token, regenerated.access_token_payload
        )
        if refusal is not None:
            return RegenerateAccessTokenResult(Status.UNAUTHORISED, refusal)
        return RegenerateAccessTokenResult(Status.OK, result=regenerated)

    # -- claims -----------------------------------------------------------------------------

    async def set_claim_value(
        self,
        session_handle: str,
        claim_key: str,
        value: Any,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        """Merge ``{claim_key: {"v": value, "t": now_ms}}`` into the stored payload."""
        required_str("session_handle", session_handle)
        required_str("claim_key", claim_key)
        if claim_key in PROTECTED_PROPS:
            raise InvalidArgument(
                "claim_key", f"must not be a protected claim ({PROTECTED_CLAIMS})"
            )
        check_depth("value", value, MAX_CLAIM_VALUE_DEPTH)
        ensure_json("value", value)
        update = {claim_key: claim_value_for_payload(value, self._clock.now_ms())}
        return await self._merge(session_handle, update, self._core.deadline(timeout), "value")

    async def get_claim_value(
        self,
        session_handle: str,
        claim_key: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimValueResult:
        required_str("session_handle", session_handle)
        required_str("claim_key", claim_key)
        info = await calls.session_information(
            self._core, session_handle, deadline=self._core.deadline(timeout)
        )
        if info is None:
            return ClaimValueResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
        check_servable(info)
        value = get_claim_value(info.custom_claims_in_access_token_payload, claim_key)
        return ClaimValueResult(Status.OK, value=value)

    async def remove_claim(
        self,
        session_handle: str,
        claim_key: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        required_str("session_handle", session_handle)
        required_str("claim_key", claim_key)
        return await self._merge(
            session_handle, {claim_key: None}, self._core.deadline(timeout), "claim_key"
        )

    async def validate_claims_for_session_handle(
        self,
        session_handle: str,
        *,
        claim_validators: Sequence[ClaimValidatorSpec] = (),
        override_global_claim_validators: bool = False,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimsValidationResult:
        """SDK ``validate_claims_for_session_handle``: read the session, run ``validate_claims``
        on its stored (custom) payload, which fetches the values of defined claims that are
        missing or too old, and merge a changed payload into the stored one
        (``merge_into_access_token_payload``: tokens already issued keep their payload).
        SESSION_DOES_NOT_EXIST when the session is gone, before or at the merge.

        A stored payload past the nesting limit is INVALID_ARGUMENT on ``session_handle``
        (``_check_servable``); fetched values the session cannot carry are not merged
        (``ClaimFetchFailed``, ``_check_fetched``)."""
        required_str("session_handle", session_handle)
        validators = self._validators(claim_validators, override_global_claim_validators)
        context = {} if user_context is None else user_context
        deadline = self._core.deadline(timeout)
        found = await self.recipe_get_session_information(
            session_handle, user_context=context, timeout=_time_left(deadline)
        )
        if found.info is None:
            return ClaimsValidationResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
        info = found.info
        check_servable(info)
        stored = info.custom_claims_in_access_token_payload
        checked = await self.validate_claims(
            info.user_id, stored, validators, user_context=context, timeout=_time_left(deadline)
        )
        update = checked.access_token_payload_update
        if update is not None:
            await self._limits.check_fetched(
                _changed_keys(stored, update), info.user_id, session_handle, update, deadline
            )
            merged = await self.merge_into_access_token_payload(
                session_handle, update, user_context=context, timeout=_time_left(deadline)
            )
            if merged.status is not Status.OK:
                return ClaimsValidationResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
        return _without_update(checked)

    async def validate_claims(
        self,
        user_id: str,
        access_token_payload: JSONObject,
        claim_validators: Sequence[ClaimValidatorSpec],
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimsValidationResult:
        """SDK ``recipe_implementation.validate_claims``: for each validator in order whose
        key is a defined claim and whose ``should_refetch`` holds (the value is missing, or
        older than the validator's max age), fetch the value for ``user_id`` and, unless it is
        None, add it to the payload (``add_to_payload_``); a later validator of the same claim
        sees the fetched value. When the payload's JSON changed, the whole new payload is the
        result's ``access_token_payload_update`` (it is not merged here). Then every validator
        runs against the payload as updated: INVALID_CLAIMS with the failures in validator
        order, else OK. ``access_token_payload`` itself is not modified.

        Raises ``ClaimFetchFailed`` when a ``fetch_value`` raises.
        """
        context = {} if user_context is None else user_context
        validators = self._claims.bind(claim_validators, "claim_validators")
        payload = access_token_payload
        if self._claims:
            for spec in validators:
                claim = self._claims.get(spec.key)
                max_age = spec.max_age_seconds or None  # the SDK's None: no age limit
                if claim is None or not should_refetch(
                    claim, payload, max_age, self._clock.now_ms()
                ):
                    continue
                value = await fetch_claim_value(claim, user_id, context)
                if value is not None:
                    if payload is access_token_payload:
                        payload = dict(access_token_payload)
                    claim.add_to_payload_(payload, value, context)
        update = None
        if payload is not access_token_payload and json.dumps(payload) != json.dumps(
            access_token_payload
        ):
            update = payload
        # The declarative validators (claims.validate_claims), on the updated payload.
        errors = validate_claims(payload, validators, self._clock.now_ms())
        return _claims_validation_result(errors, update)

    async def validate_claims_in_jwt_payload(
        self,
        user_id: str,
        jwt_payload: JSONObject,
        *,
        claim_validators: Sequence[ClaimValidatorSpec] = (),
        override_global_claim_validators: bool = False,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ClaimsValidationResult:
        """SDK ``validate_claims_in_jwt_payload``: the validators (the server-wide ones unless
        overridden, then ``claim_validators``) run against ``jwt_payload``, a payload the
        caller verified itself; nothing is fetched or merged. ``user_id`` is only passed on
        (override hooks see it). OK or INVALID_CLAIMS."""
        if not isinstance(user_id, str):
            raise InvalidArgument("user_id", "must be a string")
        payload = json_object("jwt_payload", jwt_payload)
        assert payload is not None
        validators = self._validators(claim_validators, override_global_claim_validators)
        errors = validate_claims(payload, validators, self._clock.now_ms())
        return _claims_validation_result(errors)

    async def fetch_and_set_claim(
        self,
        session_handle: str,
        claim_key: str,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> StatusResult:
        """SDK ``fetch_and_set_claim``: read the session, ``build`` the claim named
        ``claim_key`` (a claim of the claims module) for its user, and merge the result into
        the stored payload (``merge_into_access_token_payload``; a ``fetch_value`` that gives
        None merges nothing). OK, or SESSION_DOES_NOT_EXIST. A stored payload past the
        nesting limit is INVALID_ARGUMENT on ``session_handle``, as in
        validate_claims_for_session_handle; a value the session cannot carry is not merged
        (``ClaimFetchFailed``)."""
        required_str("session_handle", session_handle)
        required_str("claim_key", claim_key)
        claim = self._claims.get(claim_key)
        if claim is None:
            raise InvalidArgument(
                "claim_key", f"no claim {claim_key!r} is defined (see --claims-module)"
            )
        context = {} if user_context is None else user_context
        deadline = self._core.deadline(timeout)
        found = await self.recipe_get_session_information(
            session_handle, user_context=context, timeout=_time_left(deadline)
        )
        if found.info is None:
            return StatusResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
        info = found.info
        check_servable(info)
        update = await claim.build(info.user_id, context)
        if update:
            merged = {**info.custom_claims_in_access_token_payload, **update}
            await self._limits.check_fetched(
                [claim_key], info.user_id, session_handle, merged, deadline
            )
        return await self.merge_into_access_token_payload(
            session_handle, update, user_context=context, timeout=_time_left(deadline)
        )

    # -- JWT / JWKS / OpenId ------------------------------------------------------------------

    async def get_jwks(
        self,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> JwksResult:
        """The core's public keys, served from the signing-key cache."""
        keys = await self._keys.get_jwks(deadline=self._core.deadline(timeout))
        return JwksResult(Status.OK, keys=keys)

    async def create_jwt(
        self,
        payload: JSONObject,
        validity_seconds: int | None = None,
        use_static_signing_key: bool | None = None,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> CreateJwtResult:
        """Sign ``payload`` (``iss`` defaults to the issuer). None means the SDK defaults:
        100 years, static key."""
        claims = json_object("payload", payload)
        assert claims is not None
        validity = self._config.jwt_validity_seconds
        if validity_seconds is not None:
            if isinstance(validity_seconds, bool) or not isinstance(validity_seconds, int):
                raise InvalidArgument("validity_seconds", "must be an integer")
            if validity_seconds <= 0:
                raise InvalidArgument("validity_seconds", "must be greater than 0")
            validity = validity_seconds
        jwt = await calls.create_jwt(
            self._core,
            payload={"iss": self._config.effective_issuer, **claims},
            validity_seconds=validity,
            use_static_signing_key=use_static_signing_key is not False,
            jwks_domain=self._config.jwks_domain,
            deadline=self._core.deadline(timeout),
        )
        if jwt is None:
            return CreateJwtResult(
                Status.UNSUPPORTED_ALGORITHM, "the core does not support RS256 signing"
            )
        return CreateJwtResult(Status.OK, jwt=jwt)

    async def get_open_id_discovery_configuration(
        self,
        *,
        user_context: JSONObject | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> OpenIdDiscoveryConfiguration:
        """``{issuer, jwks_uri = issuer + "/jwt/jwks.json"}``; no core call."""
        issuer = self._config.effective_issuer
        return OpenIdDiscoveryConfiguration(
            Status.OK, issuer=issuer, jwks_uri=issuer + "/jwt/jwks.json"
        )

    # -- internals ----------------------------------------------------------------------------

    def _validators(
        self, requested: Sequence[ClaimValidatorSpec], override: bool
    ) -> tuple[ClaimValidatorSpec, ...]:
        if not requested and not override:
            return self._required_validators  # checked with the config
        requested = tuple(requested)
        check_claim_validators(requested, "claim_validators")
        requested = self._claims.bind(requested, "claim_validators")
        if override:
            return requested
        return self._required_validators + requested

    async def _assert_claims(
        self,
        session: Session,
        validators: Sequence[ClaimValidatorSpec],
        user_context: JSONObject | None,
        deadline: float | None,
    ) -> SessionResult:
        """SDK ``Session.assert_claims``: ``validate_claims`` on the session's payload; an
        update (claims were fetched) loses the protected claims and, unless the session could
        not carry it (``_check_fetched``), is merged into the session
        (``_merge_into_session``); then INVALID_CLAIMS when any validator failed.
        A session with a new access token comes back with every outcome but UNAUTHORISED and
        TRY_REFRESH_TOKEN, so the token is not lost."""
        context = {} if user_context is None else user_context
        checked = await self.validate_claims(
            session.user_id,
            session.access_token_payload,
            validators,
            user_context=context,
            timeout=_time_left(deadline),
        )
        update = checked.access_token_payload_update
        if update is not None:
            kept = {key: value for key, value in update.items() if key not in PROTECTED_PROPS}
            await self._limits.check_fetched(
                _changed_keys(session.access_token_payload, kept),
                session.user_id,
                session.session_handle,
                {key: value for key, value in kept.items() if value is not None},
                deadline,
            )
            merged = await self._merge_into_session(session, kept, context, deadline)
            if isinstance(merged, SessionResult):
                return merged
            session = merged
        if checked.invalid_claims:
            return SessionResult(
                Status.INVALID_CLAIMS,
                INVALID_CLAIMS_MESSAGE,
                session=session,
                invalid_claims=checked.invalid_claims,
            )
        return SessionResult(Status.OK, session=session)

    async def _merge_into_session(
        self,
        session: Session,
        update: JSONObject,
        user_context: JSONObject,
        deadline: float | None,
    ) -> Session | SessionResult:
        """SDK ``Session.merge_into_access_token_payload``: the session's payload without the
        protected claims, with ``update`` merged in (None values remove keys), goes to
        ``regenerate_access_token`` with the session's access token. The core's new token
        becomes the session's, with its payload and front token; when the old token had
        expired meanwhile (no new token), only the payload is updated. The session gone:
        UNAUTHORISED "Session does not exist anymore."."""
        payload = {
            key: value
            for key, value in session.access_token_payload.items()
            if key not in PROTECTED_PROPS
        }
        payload.update(update)
        for key, value in update.items():
            if value is None:
                del payload[key]
        regenerated = await self.regenerate_access_token(
            session.access_token, payload, user_context=user_context, timeout=_time_left(deadline)
        )
        if regenerated.status is Status.UNAUTHORISED:
            return SessionResult(Status.UNAUTHORISED, SESSION_ENDED_MESSAGE)
        result = regenerated.result
        if regenerated.status is not Status.OK or result is None:
            return SessionResult(regenerated.status, regenerated.message)
        token = result.new_access_token
        if token is None:
            return dataclasses.replace(
                session,
                access_token_payload={
                    **session.access_token_payload,
                    **result.access_token_payload,
                },
                render_slot=None,  # no longer what the cache entry rendered
            )
        try:
            parsed = parse_access_token(token.token, max_length=len(token.token))
        except TokenParseError:
            raise malformed("regenerate") from None
        new_payload = parsed.payload if parsed.version >= 3 else result.access_token_payload
        return Session(
            session_handle=session.session_handle,
            user_id=session.user_id,
            access_token_payload=new_payload,
            access_token=token.token,
            access_token_expiry_ms=token.expiry_ms,
            front_token=build_front_token(session.user_id, token.expiry_ms, new_payload),
            new_access_token=token,
            anti_csrf_token=session.anti_csrf_token,
        )

    def _session_from_token(
        self,
        access_token: str,
        verified: VerifiedAccessToken,
        cached: Decoded | None,
        anti_csrf_token: str | None,
    ) -> Session:
        payload = verified.user_data
        if cached is not None:
            front_token, render_slot = cached.front_token, cached.render_slot
        else:
            front_token = build_front_token(verified.user_id, verified.expiry_ms, payload)
            render_slot = None
        return Session(
            session_handle=verified.session_handle,
            user_id=verified.user_id,
            access_token_payload=payload,
            access_token=access_token,
            access_token_expiry_ms=verified.expiry_ms,
            front_token=front_token,
            anti_csrf_token=anti_csrf_token,
            render_slot=render_slot,
        )

    async def _verify_with_core(
        self,
        access_token: str,
        token: CheckedToken,
        verified: VerifiedAccessToken | None,
        *,
        anti_csrf_token: str | None,
        anti_csrf_check: bool,
        check_database: bool,
        deadline: float | None,
    ) -> Session | SessionResult:
        """§2b steps 6-7: ``POST /recipe/session/verify``."""
        reply = await calls.verify_session(
            self._core,
            access_token=access_token,
            anti_csrf_token=anti_csrf_token,
            do_anti_csrf_check=anti_csrf_check,
            enable_anti_csrf=self._via_token,
            check_database=check_database,
            deadline=deadline,
        )
        if isinstance(reply, Refusal):
            return SessionResult(reply.status, reply.message)
        handle, user_id, user_data = reply.session_handle, reply.user_id, reply.user_data_in_jwt
        token_info = reply.access_token
        if token_info is not None:
            expiry_ms = token_info.expiry_ms
        elif verified is not None:
            expiry_ms = verified.expiry_ms
        else:
            expiry_ms = token.payload["expiryTime"]  # v2: checked by the structure check
        if token.version < 3:
            payload = user_data
        elif token_info is not None:
            payload = issued_payload(token_info.token, "verify")
        else:
            payload = token.payload
        refusal = self._limits.unusable(None if token_info is None else token_info.token, payload)
        if refusal is not None:
            return SessionResult(Status.UNAUTHORISED, refusal)
        return Session(
            session_handle=handle,
            user_id=user_id,
            access_token_payload=payload,
            access_token=token_info.token if token_info is not None else access_token,
            access_token_expiry_ms=expiry_ms,
            front_token=build_front_token(user_id, expiry_ms, payload),
            new_access_token=token_info,
            anti_csrf_token=anti_csrf_token,
        )

    async def _merge(
        self, session_handle: str, update: JSONObject, deadline: float | None, field: str
    ) -> StatusResult:
        """The SDK's recipe-level merge: read, shallow-merge, drop None values, write.
        ``field`` is the request field the update comes from (named when it is refused).

        Like the SDK it is not atomic: a concurrent merge between the read and the write
        can be lost.
        """
        info = await calls.session_information(self._core, session_handle, deadline=deadline)
        if info is None:
            return StatusResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
        merged = {**info.custom_claims_in_access_token_payload, **update}
        for key, value in update.items():
            if value is None:
                merged.pop(key, None)
        # The update itself was checked; a stored payload written past the limits through
        # the core's own API is accepted only once the update brings it back within them.
        reason = too_deep(merged)
        if reason is not None:
            raise InvalidArgument(field, f"the merged access-token payload {reason}")
        await self._limits.check_token_length(field, info.user_id, session_handle, merged, deadline)
        found = await calls.update_access_token_payload(
            self._core, session_handle, merged, field=field, deadline=deadline
        )
        return _ok_or_gone(found)


def _time_left(deadline: float | None) -> float | None:
    """What is left until ``deadline`` (loop time), as the ``timeout`` of a recipe function
    that another one calls."""
    if deadline is None:
        return None
    return max(0.0, deadline - asyncio.get_running_loop().time())


def _claims_validation_result(
    errors: Sequence[ClaimError], update: JSONObject | None = None
) -> ClaimsValidationResult:
    if errors:
        return ClaimsValidationResult(
            Status.INVALID_CLAIMS,
            INVALID_CLAIMS_MESSAGE,
            tuple(errors),
            access_token_payload_update=update,
        )
    return ClaimsValidationResult(Status.OK, access_token_payload_update=update)


def _changed_keys(before: JSONObject, after: JSONObject) -> list[str]:
    """The keys ``after`` adds or changes (by their JSON, as ``validate_claims`` tells
    whether the payload changed): the claims whose values were fetched."""
    return [
        key
        for key, value in after.items()
        if key not in before or json.dumps(before[key]) != json.dumps(value)
    ]


def _without_update(checked: ClaimsValidationResult) -> ClaimsValidationResult:
    """A ``validate_claims`` result as the public functions give it (no payload update)."""
    return dataclasses.replace(checked, access_token_payload_update=None)


def _issued_session(issued: IssuedSession, what: str) -> Session:
    """A Session from a create/refresh answer: the payload is the new access token's."""
    access = issued.access_token
    payload = issued_payload(access.token, what)
    return Session(
        session_handle=issued.session_handle,
        user_id=issued.user_id,
        access_token_payload=payload,
        access_token=access.token,
        access_token_expiry_ms=access.expiry_ms,
        front_token=build_front_token(issued.user_id, access.expiry_ms, payload),
        new_access_token=access,
        refresh_token=issued.refresh_token,
        anti_csrf_token=issued.anti_csrf_token,
    )


def _ok_or_gone(found: bool) -> StatusResult:
    if found:
        return StatusResult(Status.OK)
    return StatusResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
