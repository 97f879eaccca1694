"""The verify-and-cache pipeline of access tokens: parse and verify locally (header,
signature, time and static claims) through the verified-token cache when it is on.

It answers "is this token authentic, and what does it say"; anti-CSRF, the key-mode check,
``session_required``, claim validators and the core calls of ``get_session`` are the
recipe's (``get_session.py``). What the cache may skip and what it redoes on every hit is
``token_cache.py``'s to say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from session_common.clock import Clock
from session_common.json_values import JSONObject
from session_service.domain.access_token import build_front_token
from session_service.domain.config import DomainConfig
from session_service.domain.key_cache import KeyCache
from session_service.domain.messages import PARSE_FAILED_MESSAGE
from session_service.domain.revocations import Revocations, revocation_key
from session_service.domain.session_limits import check_payload
from session_service.domain.token_cache import (
    Decoded,
    FastPathCache,
    Rejection,
    TokenCache,
    Verdict,
    still_holds,
    token_digest,
)
from session_service.domain.token_parsing import TokenParseError, parse_access_token
from session_service.domain.types import Session, SessionResult, Status, TokenCacheStats
from session_service.domain.verifier import (
    AccessTokenVerifier,
    TokenRejected,
    TokenVerificationError,
    VerifiedAccessToken,
    check_claims,
    valid_from_ms,
)

A = TypeVar("A")


@dataclass(slots=True)
class CheckedToken:
    """An access token after local checks. ``payload``: the whole payload; ``verified``
    None: a legacy v2 token that failed locally (it goes to the core); ``cached``: its
    verified-token cache entry."""

    version: int
    kid: str | None
    payload: JSONObject
    verified: VerifiedAccessToken | None
    cached: Decoded | None


class TokenCheck:
    """Local verification of access tokens, through the verified-token cache when
    ``config.token_cache`` enables it."""

    def __init__(
        self,
        config: DomainConfig,
        clock: Clock,
        keys: KeyCache,
        verifier: AccessTokenVerifier,
        revocations: Revocations,
    ) -> None:
        self._revocations = revocations
        self._max_length = config.max_access_token_bytes
        self._clock = clock
        self._keys = keys
        self._verifier = verifier
        self._cache = TokenCache(config.token_cache) if config.token_cache.enabled else None

    def stats(self) -> TokenCacheStats | None:
        """The verified-token cache's sizes and counters (None when it is off)."""
        return None if self._cache is None else self._cache.stats()

    def forget_sessions(self, session_handles: Iterable[str]) -> None:
        """Drop cached verifications of revoked sessions (revoked through this service, or
        read from the revocation feed)."""
        if self._cache is not None:
            self._cache.discard_sessions(session_handles)

    def fast_path_cache(
        self, render: Callable[[Session], A], answers_tokens: bool
    ) -> FastPathCache[A] | None:
        """The cache as the transport's fast path uses it (None when the cache is off)."""
        if self._cache is None:
            return None
        return self._cache.fast_path_cache(
            self._clock.now_ms, self._keys.current_key, render, answers_tokens, self._revocations
        )

    async def check(self, access_token: str, deadline: float | None) -> CheckedToken:
        """Parse and verify locally; the anti-CSRF requirement is the caller's.

        Raises ``TokenParseError``, or ``TokenVerificationError`` for a v3+ token (a v2
        token that fails locally comes back with ``verified`` None), or ``Unservable``.
        """
        cache = self._cache
        max_length = self._max_length
        digest: bytes | None = None
        if cache is not None and len(access_token) <= max_length:
            token = access_token.encode("utf-8", "surrogatepass")
            entry = cache.decoded(token, self._clock.now_ms, self._keys.current_key)
            if entry is not None:
                hit = entry.verified
                return CheckedToken(hit.version, hit.kid, hit.user_data, hit, entry)
            digest = token_digest(token)
            known = cache.known(digest)
            if known is not None:
                cached = self._from_cache(cache, digest, known, token, access_token)
                if cached is not None:
                    return cached
            cache.note("misses")
        try:
            parsed = parse_access_token(access_token, max_length=max_length)
        except TokenParseError:
            if cache is not None and digest is not None:
                cache.add_rejection(digest, Rejection(None))
            raise
        if parsed.version < 3:
            verified: VerifiedAccessToken | None
            try:
                verified = await self._verifier.verify(
                    parsed, anti_csrf_required=False, deadline=deadline
                )
            except TokenVerificationError:
                verified = None
            if verified is not None:
                check_payload(verified.user_data)
            return CheckedToken(parsed.version, None, parsed.payload, verified, None)
        try:
            key = await self._verifier.authenticate(parsed, deadline=deadline)
        except TokenRejected as exc:
            if cache is not None and digest is not None:
                cache.add_rejection(digest, Rejection(str(exc), parsed.kid, exc.key))
            raise
        now_ms = self._clock.now_ms()
        verified = check_claims(parsed, now_ms)
        check_payload(verified.user_data)  # (not remembered: such tokens are rare)
        revoked = revocation_key(verified.session_handle)
        # The core's access-token validity, for revocations made through this process.
        self._revocations.validity_ms = max(
            self._revocations.validity_ms, verified.expiry_ms - verified.time_created_ms
        )
        # A revoked session's tokens are not kept: get_session refuses them anyway.
        if cache is not None and digest is not None and revoked not in self._revocations.keys:
            assert parsed.kid is not None and key is not None  # v3+: a kid, and its key
            verdict = Verdict(
                parsed.kid,
                key,
                valid_from_ms(parsed.payload),
                verified.expiry_ms,
                verified.session_handle,
                revoked,
            )
            # A verdict only: the decoded tier admits a token on its second use (warm hit).
            cache.add(digest, verdict, now_ms)
        return CheckedToken(parsed.version, parsed.kid, parsed.payload, verified, None)

    def _from_cache(
        self,
        cache: TokenCache,
        digest: bytes,
        known: Verdict | Rejection,
        token: bytes,
        access_token: str,
    ) -> CheckedToken | None:
        """What the verdict tier or the rejected cache knows about a token the decoded tier
        does not hold, re-checked against the clock and the key set; None when it no longer
        holds (dropped). Raises like ``check``."""
        if isinstance(known, Verdict):
            now_ms = self._clock.now_ms()
            if not still_holds(known, now_ms, self._keys.current_key):
                cache.discard(digest)  # verified again from scratch, for the exact outcome
                return None
            cache.note("warm_hits")
            # The very bytes that verified: decoding cannot fail, and the signature and
            # static claims need no second check.
            parsed = parse_access_token(access_token, max_length=len(access_token))
            verified = check_claims(parsed, now_ms, check_times=False)
            entry = _decoded_entry(digest, known, verified, access_token)
            cache.add_decoded(token, entry)
            return CheckedToken(verified.version, verified.kid, verified.user_data, verified, entry)
        rejection = known
        if rejection.key is not None and (
            rejection.kid is None
            or self._keys.current_key(rejection.kid, self._clock.now_ms()) is not rejection.key
        ):
            cache.discard(digest)
            return None
        cache.note("rejected_hits")
        if rejection.message is None:
            raise TokenParseError(PARSE_FAILED_MESSAGE)
        raise TokenVerificationError(rejection.message)


def _decoded_entry(
    digest: bytes, verdict: Verdict, verified: VerifiedAccessToken, access_token: str
) -> Decoded:
    """The entry of a token kept decoded, with the session (and OK result) ``get_session``
    serves for it to requests without an anti-CSRF token."""
    payload = verified.user_data
    session = Session(
        session_handle=verified.session_handle,
        user_id=verified.user_id,
        access_token_payload=payload,
        access_token=access_token,
        access_token_expiry_ms=verified.expiry_ms,
        front_token=build_front_token(verified.user_id, verified.expiry_ms, payload),
    )
    return Decoded(digest, verdict, verified, session, SessionResult(Status.OK, session=session))
