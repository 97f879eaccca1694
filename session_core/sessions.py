"""The session algorithms of the SuperTokens core 5.0.0 (``io.supertokens.session.Session``):
create, verify, refresh, regenerate, revoke and read sessions.

No HTTP here: inputs are already parsed and typed, and outcomes other than success are
the exceptions of ``session_core.errors``. Tokens are always built *before* anything is
written, so a refused payload never leaves a half-written row (the SuperTokens core builds
the access token before its insert too).
"""

from __future__ import annotations

import hmac
import uuid

from session_common.clock import Clock
from session_common.json_values import JSONObject, json_equal
from session_common.token_format import STRUCTURE_CHANGED_MESSAGE
from session_core.access_token import (
    AccessTokenFormatError,
    AccessTokenInfo,
    check_user_payload,
    encode_access_token,
    parse_access_token,
)
from session_core.config import CoreConfig
from session_core.crypto import constant_time_equal, sha256hex
from session_core.errors import (
    ANTI_CSRF_FAILED,
    ANTI_CSRF_REFRESH_FAILED,
    BLACKLISTED,
    MISSING_IN_DB,
    MISSING_OR_EXPIRED,
    PROTECTED_FIELD_MESSAGE,
    SESSION_DOES_NOT_EXIST,
    BadRequest,
    ProtectedClaimError,
    TokenTheftError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from session_core.refresh_token import RefreshTokenCodec, RefreshTokenInfo
from session_core.session_results import (
    NewSession,
    SessionInformation,
    SessionSummary,
    TokenInfo,
    VerifiedSession,
)
from session_core.signing_keys import SigningKeyManager
from session_core.storage.base import (
    MAX_HANDLE_LENGTH,
    MAX_USER_ID_LENGTH,
    SessionRow,
    Storage,
    storable,
)
from session_core.token_verification import verified_access_token


class CoreSessions:
    """The core's sessions: created, verified, refreshed, regenerated, revoked and read, over
    ``storage`` with the signing keys and refresh tokens. (The service's
    ``session_service.domain.recipe.SessionRecipe`` is the SDK's recipe over a core.)"""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        config: CoreConfig,
        keys: SigningKeyManager,
        refresh_tokens: RefreshTokenCodec,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._config = config
        self._keys = keys
        self._refresh_tokens = refresh_tokens

    # -- create -------------------------------------------------------------------------------
    async def create(
        self,
        user_id: str,
        user_data_in_jwt: JSONObject,
        user_data_in_database: JSONObject,
        *,
        enable_anti_csrf: bool,
        use_dynamic_signing_key: bool = True,
    ) -> NewSession:
        if not storable(user_id, MAX_USER_ID_LENGTH):
            raise BadRequest("Field name 'userId' is invalid in JSON input")
        check_user_payload(user_data_in_jwt)
        await self._keys.refresh_if_due()
        handle = str(uuid.uuid4())
        anti_csrf = str(uuid.uuid4()) if enable_anti_csrf else None
        now = self._clock.now_ms()
        refresh = self._refresh_tokens.create(RefreshTokenInfo(handle, user_id, None, anti_csrf))
        refresh_info = TokenInfo(refresh, now + self._config.refresh_token_validity_ms, now)
        access = encode_access_token(
            AccessTokenInfo(
                version=3,
                session_handle=handle,
                user_id=user_id,
                refresh_token_hash_1=sha256hex(refresh),
                parent_refresh_token_hash_1=None,
                anti_csrf_token=anti_csrf,
                user_data=user_data_in_jwt,
                expiry_ms=now + self._config.access_token_validity_ms,
                time_created_ms=now,
            ),
            self._keys.signing_key(dynamic=use_dynamic_signing_key),
        )
        await self._storage.insert_session(
            SessionRow(
                session_handle=handle,
                user_id=user_id,
                refresh_token_hash_2=sha256hex(sha256hex(refresh)),
                session_data=user_data_in_database,
                expires_at=refresh_info.expiry,
                created_at_time=now,
                jwt_user_payload=user_data_in_jwt,
                use_static_key=not use_dynamic_signing_key,
            )
        )
        await self._storage.update_user_last_active(user_id, now)
        return NewSession(
            SessionSummary(handle, user_id, user_data_in_jwt),
            TokenInfo.of(access),
            refresh_info,
            anti_csrf,
        )

    # -- verify -------------------------------------------------------------------------------
    async def verify(
        self,
        access_token: str,
        *,
        anti_csrf_token: str | None,
        enable_anti_csrf: bool,
        do_anti_csrf_check: bool,
        check_database: bool,
    ) -> VerifiedSession:
        info = (await verified_access_token(access_token, self._keys, self._clock)).info
        if enable_anti_csrf and do_anti_csrf_check:
            if info.anti_csrf_token is None:
                raise TryRefreshTokenError(STRUCTURE_CHANGED_MESSAGE)
            if anti_csrf_token is None or not constant_time_equal(
                anti_csrf_token, info.anti_csrf_token
            ):
                raise TryRefreshTokenError(ANTI_CSRF_FAILED)

        payload_needs_update = False
        if check_database:
            row = await self._storage.get_session(info.session_handle)
            if row is None:
                raise UnauthorisedError(BLACKLISTED)
            payload_needs_update = not json_equal(row.jwt_user_payload, info.user_data)
        token_data = SessionSummary(info.session_handle, info.user_id, info.user_data)
        if info.parent_refresh_token_hash_1 is None and not payload_needs_update:
            return VerifiedSession(token_data, None)

        # Make any due key before taking the row lock, so the lock is never held while an
        # RSA key is generated.
        await self._keys.refresh_if_due()
        async with self._storage.lock_session(info.session_handle) as locked:
            row = locked.row
            if row is None:
                raise UnauthorisedError(MISSING_IN_DB)
            parent = info.parent_refresh_token_hash_1
            promote = parent is not None and row.refresh_token_hash_2 == sha256hex(parent)
            current = row.refresh_token_hash_2 == sha256hex(info.refresh_token_hash_1)
            if not (promote or current or payload_needs_update):
                # A token of an older refresh token: still valid until it expires, as the
                # SuperTokens core answers it (SessionTest4, a grandparent's access token).
                return VerifiedSession(token_data, None)
            now = self._clock.now_ms()
            new_token = encode_access_token(
                AccessTokenInfo(
                    version=info.version,
                    session_handle=info.session_handle,
                    user_id=info.user_id,
                    refresh_token_hash_1=info.refresh_token_hash_1,
                    parent_refresh_token_hash_1=None,
                    anti_csrf_token=info.anti_csrf_token,
                    user_data=row.jwt_user_payload,
                    expiry_ms=now + self._config.access_token_validity_ms,
                    time_created_ms=now,
                ),
                self._keys.signing_key(dynamic=not row.use_static_key),
            )
            if promote:
                await locked.set_refresh_token_hash_2(
                    sha256hex(info.refresh_token_hash_1),
                    now + self._config.refresh_token_validity_ms,
                )
            return VerifiedSession(
                SessionSummary(info.session_handle, info.user_id, row.jwt_user_payload),
                TokenInfo.of(new_token),
            )

    # -- refresh ------------------------------------------------------------------------------
    async def refresh(
        self, refresh_token: str, *, anti_csrf_token: str | None, enable_anti_csrf: bool
    ) -> NewSession:
        parsed = self._refresh_tokens.parse(refresh_token)
        # A refresh token without an embedded anti-CSRF token is accepted unchecked, as in
        # the SuperTokens core's Session.refreshSession.
        if (
            enable_anti_csrf
            and parsed.anti_csrf_token is not None
            and (
                anti_csrf_token is None
                or not constant_time_equal(anti_csrf_token, parsed.anti_csrf_token)
            )
        ):
            raise UnauthorisedError(ANTI_CSRF_REFRESH_FAILED)
        await self._keys.refresh_if_due()
        hash_1 = sha256hex(refresh_token)
        async with self._storage.lock_session(parsed.session_handle) as locked:
            row = locked.row
            now = self._clock.now_ms()
            if row is None or row.expires_at < now:
                raise UnauthorisedError(MISSING_OR_EXPIRED)
            is_current = hmac.compare_digest(row.refresh_token_hash_2, sha256hex(hash_1))
            parent = parsed.parent_refresh_token_hash_1
            is_unpromoted_child = (
                not is_current
                and parent is not None
                and hmac.compare_digest(row.refresh_token_hash_2, sha256hex(parent))
            )
            if not (is_current or is_unpromoted_child):
                raise TokenTheftError(row.session_handle, row.user_id)

            # Issue a child of this token; the row only changes when a child is promoted.
            anti_csrf = str(uuid.uuid4()) if enable_anti_csrf else None
            child = self._refresh_tokens.create(
                RefreshTokenInfo(row.session_handle, row.user_id, hash_1, anti_csrf)
            )
            try:
                access = encode_access_token(
                    AccessTokenInfo(
                        version=3,
                        session_handle=row.session_handle,
                        user_id=row.user_id,
                        refresh_token_hash_1=sha256hex(child),
                        parent_refresh_token_hash_1=hash_1,
                        anti_csrf_token=anti_csrf,
                        user_data=row.jwt_user_payload,
                        expiry_ms=now + self._config.access_token_validity_ms,
                        time_created_ms=now,
                    ),
                    self._keys.signing_key(dynamic=not row.use_static_key),
                )
            except ProtectedClaimError:
                # A payload stored by an old CDI: the SuperTokens core cannot build the v3
                # token either, and answers refresh UNAUTHORISED (not the 400 of the others).
                raise UnauthorisedError(PROTECTED_FIELD_MESSAGE) from None
            if is_unpromoted_child:
                await locked.set_refresh_token_hash_2(
                    sha256hex(hash_1), now + self._config.refresh_token_validity_ms
                )
        await self._storage.update_user_last_active(row.user_id, now)
        return NewSession(
            SessionSummary(row.session_handle, row.user_id, row.jwt_user_payload),
            TokenInfo.of(access),
            TokenInfo(child, now + self._config.refresh_token_validity_ms, now),
            anti_csrf,
        )

    # -- regenerate ---------------------------------------------------------------------------
    async def regenerate(
        self, access_token: str, user_data_in_jwt: JSONObject | None
    ) -> VerifiedSession:
        """Re-issue a token with a new payload and the same expiry
        (``POST /recipe/session/regenerate``).

        The token is parsed but not verified: the caller has verified it already.
        """
        try:
            info = parse_access_token(access_token).info
        except AccessTokenFormatError:
            # The reference answers 500 here; malformed input is a 400 in this core.
            raise BadRequest("Field name 'accessToken' is invalid in JSON input") from None
        now = self._clock.now_ms()
        row = await self._live_row(info.session_handle, now)
        payload = row.jwt_user_payload if user_data_in_jwt is None else user_data_in_jwt
        check_user_payload(payload)
        if not await self._storage.update_session(
            info.session_handle, now_ms=now, jwt_user_payload=payload
        ):
            raise UnauthorisedError(SESSION_DOES_NOT_EXIST)
        summary = SessionSummary(info.session_handle, info.user_id, payload)
        if info.expiry_ms < now:
            return VerifiedSession(summary, None)
        await self._keys.refresh_if_due()
        new_token = encode_access_token(
            AccessTokenInfo(
                version=info.version,
                session_handle=info.session_handle,
                user_id=info.user_id,
                refresh_token_hash_1=info.refresh_token_hash_1,
                parent_refresh_token_hash_1=info.parent_refresh_token_hash_1,
                anti_csrf_token=info.anti_csrf_token,
                user_data=payload,
                expiry_ms=info.expiry_ms,
                time_created_ms=now,
            ),
            self._keys.signing_key(dynamic=not row.use_static_key),
        )
        return VerifiedSession(summary, TokenInfo.of(new_token))

    # -- removal and lookups ------------------------------------------------------------------
    # Every removal is recorded in the revocation feed (``revocation_feed``) by the storage,
    # valid until no access token of the session can still verify: now + their validity.
    # Token theft removes nothing here: the SuperTokens core leaves the row, and the SDK's
    # theft handler revokes the session through ``revoke_by_handles``.
    async def revoke_by_handles(self, session_handles: list[str]) -> list[str]:
        handles = [h for h in session_handles if storable(h, MAX_HANDLE_LENGTH)]
        if not handles:
            return []
        now = self._clock.now_ms()
        return await self._storage.delete_sessions(
            handles, revoked_at=now, valid_until=now + self._config.access_token_validity_ms
        )

    async def revoke_all_for_user(self, user_id: str) -> list[str]:
        if not storable(user_id, MAX_USER_ID_LENGTH):
            return []
        now = self._clock.now_ms()
        revoked = await self._storage.delete_sessions_of_user(
            user_id, now, valid_until=now + self._config.access_token_validity_ms
        )
        await self._storage.update_user_last_active(user_id, now)
        return revoked

    async def session_handles_for_user(self, user_id: str) -> list[str]:
        if not storable(user_id, MAX_USER_ID_LENGTH):
            return []
        return await self._storage.get_session_handles_of_user(user_id, self._clock.now_ms())

    async def _live_row(self, session_handle: str, now: int) -> SessionRow:
        row = None
        if storable(session_handle, MAX_HANDLE_LENGTH):
            row = await self._storage.get_session(session_handle)
        if row is None or row.expires_at <= now:
            raise UnauthorisedError(SESSION_DOES_NOT_EXIST)
        return row

    async def information(self, session_handle: str) -> SessionInformation:
        row = await self._live_row(session_handle, self._clock.now_ms())
        return SessionInformation(
            session_handle=row.session_handle,
            user_id=row.user_id,
            user_data_in_database=row.session_data,
            user_data_in_jwt=row.jwt_user_payload,
            expiry=row.expires_at,
            time_created=row.created_at_time,
        )

    async def update_session_data(self, session_handle: str, data: JSONObject) -> None:
        """Replace the session data of a live session."""
        await self._update(session_handle, session_data=data)

    async def update_jwt_payload(self, session_handle: str, payload: JSONObject) -> None:
        """Replace the stored access-token payload (``PUT /recipe/jwt/data``); tokens
        already issued keep theirs until a refresh or a database-checked verify."""
        check_user_payload(payload)
        await self._update(session_handle, jwt_user_payload=payload)

    async def _update(
        self,
        session_handle: str,
        *,
        session_data: JSONObject | None = None,
        jwt_user_payload: JSONObject | None = None,
    ) -> None:
        updated = storable(
            session_handle, MAX_HANDLE_LENGTH
        ) and await self._storage.update_session(
            session_handle,
            now_ms=self._clock.now_ms(),
            session_data=session_data,
            jwt_user_payload=jwt_user_payload,
        )
        if not updated:
            raise UnauthorisedError(SESSION_DOES_NOT_EXIST)

    async def delete_expired(self) -> int:
        """The cleanup cron: drop rows whose refresh expiry has passed."""
        return await self._storage.delete_expired_sessions(self._clock.now_ms())
