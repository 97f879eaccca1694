"""The verified-token cache: remember which access tokens verified, so repeated
``get_session`` calls with the same token skip the signature check and the decoding.

It only replaces work whose result cannot change; everything that can change is redone on
every hit, as supertokens-python's ``session_functions.get_session`` does it on every call:

* entries are keyed by the SHA-256 of the token (a token is never stored, and a forged
  token would need a second preimage to borrow another token's entry);
* a hit re-checks the token's time window (``iat``/``nbf``/``exp``, zero leeway) against
  the clock and that its ``kid`` still maps to the very key that verified it; otherwise the
  entry is dropped and the token is verified from scratch, which gives the exact outcome;
* anti-CSRF, the key-mode check, ``session_required``, claim validators, and the core call
  the SDK makes (``check_database``, a set ``parentRefreshTokenHash1``) still run per request
  in the SessionRecipe: the cache answers "is this token authentic", nothing more;
* two tiers keep memory bounded: a *verdict* (a few hundred bytes) for up to
  ``max_entries`` tokens, decoded again from the request on a hit; and for the
  ``decoded_entries`` most recently used ones the decoded token as well, keyed by the
  token's bytes themselves (a hit is then one dictionary lookup: no SHA-256, whose
  OpenSSL call is the costliest step of a hit in a busy server, and an exact match of the
  whole token);
* the decoded tier admits a token on its second use (the first verifies and keeps a
  verdict; the second decodes it again and keeps that): a token used once costs no
  decoded entry, whose few kilobytes of fresh memory were a fifth of a first
  verification's cost, and a burst of one-off tokens cannot push the tokens in steady
  use out of the tier;
* rejected tokens (unparsable, refused header, bad signature) go to a separate bounded
  cache, so a flood of garbage cannot evict verified tokens;
* entries of sessions revoked through this service are dropped (an index by session
  handle), and an entry never serves past its token's ``exp``.

Not for v2 (legacy) tokens: the SDK sends those to the core, and so does the recipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from session_service.domain.config import TokenCacheConfig
from session_service.domain.revocations import Revocations
from session_service.domain.types import Session, SessionResult, TokenCacheStats
from session_service.domain.verifier import VerifiedAccessToken

# Expired verdicts removed per insertion (the oldest entries expire first).
_SWEEP_PER_INSERT = 2
_COUNTERS = ("hits", "warm_hits", "rejected_hits", "misses")
Outcome = Literal["hits", "warm_hits", "rejected_hits", "misses"]
A = TypeVar("A")


def token_digest(token: bytes) -> bytes:
    """The verdict tier's key of a token (its UTF-8 bytes)."""
    return hashlib.sha256(token).digest()


@dataclass(slots=True, eq=False)
class Verdict:
    """A v3 token whose signature, header and static claims verified under ``key``.

    Valid for epoch ms in ``[valid_from_ms, expiry_ms)`` while ``kid`` maps to ``key``.
    ``revocation_key``: its session's key in ``Revocations`` (made once, looked up on
    every fast-path hit).
    """

    kid: str
    key: RSAPublicKey
    valid_from_ms: int
    expiry_ms: int
    session_handle: str
    revocation_key: int


@dataclass(frozen=True, slots=True, eq=False)
class Decoded:
    """A verdict together with the decoded token, and the session (with its OK result)
    ``get_session`` serves for it to requests that carry no anti-CSRF token: the same on
    every such request, since the token is the key byte for byte. ``answer``: what the
    fast path rendered of that session (``FastPathCache``), kept with the entry by replacing
    it (entries are never changed). ``digest``: the verdict's key."""

    digest: bytes
    verdict: Verdict
    verified: VerifiedAccessToken
    session: Session
    ok: SessionResult
    answer: object = None


def still_holds(
    verdict: Verdict, now_ms: int, current_key: Callable[[str, int], RSAPublicKey | None]
) -> bool:
    """A cached verification still holds: inside the token's time window, and its kid
    still maps to the very key that verified it."""
    return (
        verdict.valid_from_ms <= now_ms < verdict.expiry_ms
        and current_key(verdict.kid, now_ms) is verdict.key
    )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A token that can never verify: unparsable (``message`` None), or refused with
    ``message`` before any time check. ``key``: the key its signature failed against (the
    rejection holds only while ``kid`` still maps to it); None for header refusals."""

    message: str | None
    kid: str | None = None
    key: RSAPublicKey | None = None


class TokenCache:
    """See the module docstring. Not thread-safe: one per SessionRecipe, on one loop."""

    def __init__(self, config: TokenCacheConfig) -> None:
        self._max_entries = config.max_entries
        self._max_decoded = min(config.decoded_entries, config.max_entries)
        self._max_rejected = config.max_rejected
        # Insertion order is (nearly) expiry order: tokens of one deployment share a lifetime.
        self._verdicts: dict[bytes, Verdict] = {}
        # Keyed by the token's bytes (the verdicts by its digest): a hit needs no digest.
        self._decoded: OrderedDict[bytes, Decoded] = OrderedDict()
        self._decoded_tokens: dict[bytes, bytes] = {}  # digest -> token, for discard()
        self._rejected: dict[bytes, Rejection] = {}
        self._by_handle: dict[str, list[bytes]] = {}
        self._counters = dict.fromkeys(_COUNTERS, 0)

    # -- lookups ----------------------------------------------------------------------------

    def decoded(
        self,
        token: bytes,
        now_ms: Callable[[], int],
        current_key: Callable[[str, int], RSAPublicKey | None],
    ) -> Decoded | None:
        """The decoded entry of a token (its UTF-8 bytes) if it still holds: the clock
        (``now_ms``, read only when there is an entry) is inside the token's time window and
        ``current_key`` still maps its kid to the very key that verified it. Such a hit is
        counted and marked most recently used; an entry that no longer holds is dropped
        (the caller verifies the token from scratch, for the exact outcome)."""
        entry = self._decoded.get(token)
        if entry is None:
            return None
        if still_holds(entry.verdict, now_ms(), current_key):
            self._decoded.move_to_end(token)
            self._counters["hits"] += 1
            return entry
        self.discard(entry.digest)
        return None

    def fast_path_cache(
        self,
        now_ms: Callable[[], int],
        current_key: Callable[[str, int], RSAPublicKey | None],
        render: Callable[[Session], A],
        answers_tokens: bool,
        revocations: Revocations,
    ) -> FastPathCache[A]:
        """This cache as the transport's fast path uses it (``FastPathCache``)."""
        return FastPathCache(
            self, now_ms, current_key, render, answers_tokens, revocations=revocations
        )

    def known(self, digest: bytes) -> Verdict | Rejection | None:
        """What is kept about a token the decoded tier does not hold: its verdict, or its
        rejection (one call: it is on the path of every token not seen before)."""
        return self._verdicts.get(digest) or self._rejected.get(digest)

    def note(self, outcome: Outcome) -> None:
        """Count how a lookup was answered (the caller knows once it has re-checked)."""
        self._counters[outcome] += 1

    # -- updates ----------------------------------------------------------------------------

    def add(self, digest: bytes, verdict: Verdict, now_ms: int) -> None:
        """Remember a freshly verified token (its verdict; the decoded form is kept from
        its second use on, ``add_decoded``)."""
        if self._max_entries == 0 or digest in self._verdicts:
            return
        self._sweep(now_ms)
        while len(self._verdicts) >= self._max_entries:
            self.discard(next(iter(self._verdicts)))
        self._verdicts[digest] = verdict
        self._by_handle.setdefault(verdict.session_handle, []).append(digest)

    def add_decoded(self, token: bytes, decoded: Decoded) -> None:
        """Keep the decoded form of a token (its UTF-8 bytes) whose verdict is cached (most
        recent first out last)."""
        digest = decoded.digest
        if self._max_decoded == 0 or digest not in self._verdicts:
            return
        self._decoded[token] = decoded
        self._decoded.move_to_end(token)
        self._decoded_tokens[digest] = token
        while len(self._decoded) > self._max_decoded:
            _, oldest = self._decoded.popitem(last=False)
            del self._decoded_tokens[oldest.digest]

    def keep_answer(self, token: bytes, entry: Decoded, answer: object) -> None:
        """Keep ``answer`` with the decoded entry of ``token``, if ``entry`` is still it."""
        if self._decoded.get(token) is entry:
            self._decoded[token] = dataclasses.replace(entry, answer=answer)

    def add_rejection(self, digest: bytes, rejection: Rejection) -> None:
        if self._max_rejected == 0:
            return
        if digest not in self._rejected:
            while len(self._rejected) >= self._max_rejected:
                del self._rejected[next(iter(self._rejected))]
        self._rejected[digest] = rejection

    def discard(self, digest: bytes) -> None:
        """Forget a token (both tiers and the rejected cache)."""
        token = self._decoded_tokens.pop(digest, None)
        if token is not None:
            del self._decoded[token]
        self._rejected.pop(digest, None)
        verdict = self._verdicts.pop(digest, None)
        if verdict is None:
            return
        digests = self._by_handle.get(verdict.session_handle)
        if digests is not None:
            digests.remove(digest)
            if not digests:
                del self._by_handle[verdict.session_handle]

    def discard_sessions(self, session_handles: Iterable[str]) -> int:
        """Forget every token of these sessions; returns how many were cached."""
        dropped = 0
        for handle in set(session_handles):
            for digest in tuple(self._by_handle.get(handle, ())):
                self.discard(digest)
                dropped += 1
        return dropped

    def stats(self) -> TokenCacheStats:
        return TokenCacheStats(
            verified=len(self._verdicts),
            decoded=len(self._decoded),
            rejected=len(self._rejected),
            hits=self._counters["hits"],
            warm_hits=self._counters["warm_hits"],
            rejected_hits=self._counters["rejected_hits"],
            misses=self._counters["misses"],
        )

    def _sweep(self, now_ms: int) -> None:
        """Drop a few expired verdicts from the old end, so that tokens that are never
        presented again do not wait for the size bound to leave."""
        for _ in range(_SWEEP_PER_INSERT):
            oldest = next(iter(self._verdicts), None)
            if oldest is None or self._verdicts[oldest].expiry_ms > now_ms:
                return
            self.discard(oldest)


class FastPathCache(Generic[A]):
    """The verified-token cache as the transport's fast path sees it: for a token the
    decoded tier holds, ``render`` of the session kept with its entry, made once per entry
    and kept with it. ``render`` must depend only on what the token determines: every field
    of the session but ``anti_csrf_token``.

    ``answer`` (None unless ``answers_tokens``): the answer for a token's UTF-8 bytes (as
    they arrive off the wire: a hit never needs the text) when its entry still holds, as in
    ``TokenCache.decoded`` (a hit is counted and marked most recently used) and its session
    is not revoked, nor must every token be checked with the core (``Revocations``: one set
    lookup and one attribute); None otherwise, leaving the token to ``get_session`` (which
    drops an entry that no longer holds, and refuses a revoked session).
    A closure: it is every cached GetSession's path, and in a busy server each Python call
    and attribute chain on it runs with cold CPU caches, costing several times what it
    costs in a loop.
    """

    def __init__(
        self,
        cache: TokenCache,
        now_ms: Callable[[], int],
        current_key: Callable[[str, int], RSAPublicKey | None],
        render: Callable[[Session], A],
        answers_tokens: bool,
        *,
        revocations: Revocations,
    ) -> None:
        self._cache = cache
        self._render = render
        self.answer = self._answers(now_ms, current_key, revocations) if answers_tokens else None

    def _answers(
        self,
        now_ms: Callable[[], int],
        current_key: Callable[[str, int], RSAPublicKey | None],
        revocations: Revocations,
    ) -> Callable[[bytes], A | None]:
        # These are only ever mutated in place, never rebound, so the closure stays current.
        tier, counters = self._cache._decoded, self._cache._counters
        get, touch, holds, keep = tier.get, tier.move_to_end, still_holds, self._keep
        revoked = revocations.keys

        def answer(token: bytes) -> A | None:
            entry = get(token)
            if entry is None:
                return None
            verdict = entry.verdict
            if (
                not holds(verdict, now_ms(), current_key)
                or verdict.revocation_key in revoked
                or revocations.check_core
            ):
                return None
            touch(token)
            counters["hits"] += 1
            kept = entry.answer
            return keep(token, entry) if kept is None else kept  # type: ignore[return-value]

        return answer

    def rendered(self, session: Session) -> A | None:
        """The answer kept with the entry of ``session``'s access token when ``session``
        is that entry's: its verified payload is the very same object, and every other
        field but ``anti_csrf_token`` follows from the token. None for any other session
        (built from the core's answer with a new payload, or not cached)."""
        token = session.access_token.encode("utf-8", "surrogatepass")
        entry = self._cache._decoded.get(token)
        if entry is None or entry.session.access_token_payload is not session.access_token_payload:
            return None
        kept = entry.answer
        return self._keep(token, entry) if kept is None else kept  # type: ignore[return-value]

    def _keep(self, token: bytes, entry: Decoded) -> A:
        answer = self._render(entry.session)
        self._cache.keep_answer(token, entry, answer)
        return answer
