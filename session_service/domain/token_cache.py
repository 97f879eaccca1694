"""The verified-token cache: remember which access tokens verified, so repeated
``get_session`` calls with the same token skip the signature check and the decoding.

It only replaces work whose result cannot change; everything that can change is redone on
every hit (session-semantics §2b):

* entries are keyed by the SHA-256 of the token (a token is never stored, and a forged
  token would need a second preimage to borrow another token's entry);
* a hit re-checks the token's time window (``iat``/``nbf``/``exp``, zero leeway) against
  the clock and that its ``kid`` still maps to the very key that verified it; otherwise the
  entry is dropped and the token is verified from scratch, which gives the exact outcome;
* anti-CSRF, the key-mode check, ``session_required``, claim validators, and the core call
  the SDK makes (``check_database``, a set ``parentRefreshTokenHash1``) still run per request
  in the SessionManager: the cache answers "is this token authentic", nothing more;
* two tiers keep memory bounded: a *verdict* (a few hundred bytes) for up to
  ``max_entries`` tokens, decoded again from the request on a hit; and for the
  ``decoded_entries`` most recently used ones the decoded token as well (a hit is then a
  hash and a lookup);
* rejected tokens (unparsable, refused header, bad signature) go to a separate bounded
  cache, so a flood of garbage cannot evict verified tokens;
* entries of sessions revoked through this service are dropped (an index by session
  handle), and an entry never serves past its token's ``exp``.

Not for v2 (legacy) tokens: the SDK sends those to the core, and so does the manager.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from session_service.domain.config import TokenCacheConfig
from session_service.domain.types import RenderSlot, Session, SessionResult, TokenCacheStats
from session_service.domain.verifier import VerifiedAccessToken

# Expired verdicts removed per insertion (the oldest entries expire first).
_SWEEP_PER_INSERT = 2
_COUNTERS = ("hits", "warm_hits", "rejected_hits", "misses")
Outcome = Literal["hits", "warm_hits", "rejected_hits", "misses"]


def token_digest(token: str | bytes) -> bytes:
    """The cache key of a token (given as text, or as its UTF-8 bytes off the wire)."""
    data = token if isinstance(token, bytes) else token.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).digest()


@dataclass(slots=True, eq=False)
class Verdict:
    """A v3 token whose signature, header and static claims verified under ``key``.

    Valid for epoch ms in ``[valid_from_ms, expiry_ms)`` while ``kid`` maps to ``key``.
    """

    kid: str
    key: RSAPublicKey
    valid_from_ms: int
    expiry_ms: int
    session_handle: str


@dataclass(slots=True, eq=False)
class Decoded:
    """A verdict together with the decoded token and its front token; ``session`` and
    ``ok``: the session (and its OK result) as served locally to requests that carry no
    anti-CSRF token, built on first use (the same for every such request)."""

    verdict: Verdict
    verified: VerifiedAccessToken
    front_token: str
    render_slot: RenderSlot
    session: Session | None = None
    ok: SessionResult | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A token that can never verify: unparsable (``message`` None), or refused with
    ``message`` before any time check. ``key``: the key its signature failed against (the
    rejection holds only while ``kid`` still maps to it); None for header refusals."""

    message: str | None
    kid: str | None = None
    key: RSAPublicKey | None = None


class TokenCache:
    """See the module docstring. Not thread-safe: one per SessionManager, on one loop."""

    def __init__(self, config: TokenCacheConfig) -> None:
        self._max_entries = config.max_entries
        self._max_decoded = min(config.decoded_entries, config.max_entries)
        self._max_rejected = config.max_rejected
        # Insertion order is (nearly) expiry order: tokens of one deployment share a lifetime.
        self._verdicts: dict[bytes, Verdict] = {}
        self._decoded: OrderedDict[bytes, Decoded] = OrderedDict()
        self._rejected: dict[bytes, Rejection] = {}
        self._by_handle: dict[str, list[bytes]] = {}
        self._counters = dict.fromkeys(_COUNTERS, 0)

    # -- lookups ----------------------------------------------------------------------------

    def decoded(self, digest: bytes) -> Decoded | None:
        entry = self._decoded.get(digest)
        if entry is not None:
            self._decoded.move_to_end(digest)
        return entry

    def verdict(self, digest: bytes) -> Verdict | None:
        return self._verdicts.get(digest)

    def rejection(self, digest: bytes) -> Rejection | None:
        return self._rejected.get(digest)

    def note(self, outcome: Outcome) -> None:
        """Count how a lookup was answered (the caller knows once it has re-checked)."""
        self._counters[outcome] += 1

    # -- updates ----------------------------------------------------------------------------

    def add(self, digest: bytes, decoded: Decoded, now_ms: int) -> None:
        """Remember a freshly verified token (verdict and decoded form)."""
        if self._max_entries == 0:
            return
        verdict = decoded.verdict
        if digest not in self._verdicts:
            self._sweep(now_ms)
            while len(self._verdicts) >= self._max_entries:
                self.discard(next(iter(self._verdicts)))
            self._verdicts[digest] = verdict
            self._by_handle.setdefault(verdict.session_handle, []).append(digest)
        self.add_decoded(digest, decoded)

    def add_decoded(self, digest: bytes, decoded: Decoded) -> None:
        """Keep the decoded form of a token whose verdict is cached (most recent first out
        last)."""
        if self._max_decoded == 0 or digest not in self._verdicts:
            return
        self._decoded[digest] = decoded
        self._decoded.move_to_end(digest)
        while len(self._decoded) > self._max_decoded:
            self._decoded.popitem(last=False)

    def add_rejection(self, digest: bytes, rejection: Rejection) -> None:
        if self._max_rejected == 0:
            return
        if digest not in self._rejected:
            while len(self._rejected) >= self._max_rejected:
                del self._rejected[next(iter(self._rejected))]
        self._rejected[digest] = rejection

    def discard(self, digest: bytes) -> None:
        """Forget a token (both tiers and the rejected cache)."""
        self._decoded.pop(digest, None)
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
