"""The revoked sessions a process knows of, from the core's revocation feed
(``revocation_follower.py``), and what ``get_session`` asks of them.

* A session handle is kept as a 60-bit key: Python's string hash (SipHash, keyed at random
  per process) masked to 60 bits, so that each key is one small int object (32 bytes) in a
  set of ints; a set of the handles' strings would cost about twice as much. About 75
  bytes per entry in all (the set's table, the key, its place in an expiry bucket):
  1,000,000 live revocations take about 75 MB (tests/service/domain/test_revocations.py).
  Two handles sharing a key is a false "revoked" (UNAUTHORISED) for the other one: with n
  entries, a chance of n / 2^60 per GetSession (1e-12 at a million), and handles are
  random UUIDs the core makes, so no caller can choose one to collide.
* Entries leave at their ``validUntil`` (the revocation time plus the core's access-token
  validity: no token of the session can verify after it), by expiry buckets of
  ``BUCKET_MS``: a purge drops whole buckets, never scans.
* At most ``max_entries``: past that, entries are not kept and ``overflowed`` is set; the
  follower then has ``get_session`` ask the core (``check_core``) until a reload of the
  feed fits again.
* ``check_core``: ``get_session`` verifies every token with the core, as with
  ``check_database`` (fail-safe while the feed lags, or after an overflow). Set by the
  follower; read on every GetSession, the fast path's included.

Not thread-safe: one per process, on its event loop.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from enum import StrEnum

from session_service.domain.errors import InvalidArgument

KEY_MASK = (1 << 60) - 1
# Expiry buckets: the width trades how long an expired entry may linger for fewer buckets.
BUCKET_MS = 10_000
# The core's most entries per feed answer (C3's ``limit``).
PAGE_SIZE = 10_000


def revocation_key(session_handle: str) -> int:
    """The key a session handle is kept under (module docstring)."""
    return hash(session_handle) & KEY_MASK


class FeedFailure(StrEnum):
    """What GetSession does while the feed is behind by more than the bound."""

    FAIL_OPEN = "fail-open"  # verify tokens locally, as the SDK always does
    FAIL_SAFE = "fail-safe"  # verify every token with the core, as with check_database


class FeedState(StrEnum):
    """The follower's state (the ``state`` label of the feed metric)."""

    OFF = "off"  # --revocation-feed off
    STARTING = "starting"  # the window has not been loaded yet
    FOLLOWING = "following"  # up to date within the lag bound
    LAGGING = "lagging"  # answers, but the last one is older than the lag bound
    DOWN = "down"  # the last request failed; reconnecting
    OVERFLOW = "overflow"  # more live revocations than --revocation-max-entries
    UNSUPPORTED = "unsupported"  # the core has no feed (404): behaviour as without it


FEED_STATES = tuple(FeedState)


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationConfig:
    """Following the core's revocation feed.

    * ``enabled``: run a follower (off: GetSession as in the SDK).
    * ``failure``: fail-open or fail-safe while the last answer of the feed is older than
      ``max_lag_seconds`` (and before the window is loaded).
    * ``max_entries``: the most revocations kept (module docstring).
    * ``backoff_initial_seconds`` / ``backoff_max_seconds``: reconnection delays, doubled
      after each failure up to the maximum, each with jitter (a random half of it cut).
    """

    enabled: bool = False
    failure: FeedFailure = FeedFailure.FAIL_OPEN
    max_lag_seconds: float = 10.0
    max_entries: int = 2_000_000
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_lag_seconds) and 0.2 <= self.max_lag_seconds <= 3600):
            raise InvalidArgument(
                "revocations.max_lag_seconds", "must be between 0.2 and 3600 seconds"
            )
        if self.max_entries < 1:
            raise InvalidArgument("revocations.max_entries", "must be at least 1")
        if not 0 < self.backoff_initial_seconds <= self.backoff_max_seconds:
            raise InvalidArgument(
                "revocations.backoff_initial_seconds",
                "must be positive and at most backoff_max_seconds",
            )

    @property
    def poll_wait_seconds(self) -> float:
        """How long the core may hold a poll: half the lag bound (at most 25 s), so that a
        quiet feed still answers well within the bound."""
        return min(25.0, self.max_lag_seconds / 2)


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The follower as metrics and readiness show it. ``lag_seconds``: since the last
    answer of the feed (None before the first one)."""

    state: FeedState
    lag_seconds: float | None
    entries: int
    received: int
    reconnects: int
    check_core: bool


class Revocations:
    """The revoked set (module docstring)."""

    __slots__ = ("_buckets", "_due", "check_core", "keys", "max_entries", "overflowed")

    def __init__(self, max_entries: int) -> None:
        # Read directly by the fast path: only ever changed in place, never rebound.
        self.keys: set[int] = set()
        self.check_core = False
        self.overflowed = False
        self.max_entries = max_entries
        self._buckets: dict[int, list[int]] = {}
        self._due: list[int] = []  # heap of bucket numbers

    def __len__(self) -> int:
        return len(self.keys)

    def revoked(self, session_handle: str) -> bool:
        return (hash(session_handle) & KEY_MASK) in self.keys

    def add(self, session_handle: str, valid_until_ms: int, now_ms: int) -> bool:
        """Keep a revocation until ``valid_until_ms``; True when it is new (not already
        kept, not already past, and there was room: else ``overflowed`` is set).

        A repeat keeps the first entry's expiry: the core records one removal per session
        (repeats of it carry the same ``validUntil``)."""
        if valid_until_ms <= now_ms:
            return False
        key = hash(session_handle) & KEY_MASK
        keys = self.keys
        if key in keys:
            return False
        if len(keys) >= self.max_entries:
            self.overflowed = True
            return False
        keys.add(key)
        bucket = valid_until_ms // BUCKET_MS
        entries = self._buckets.get(bucket)
        if entries is None:
            entries = self._buckets[bucket] = []
            heapq.heappush(self._due, bucket)
        entries.append(key)
        return True

    def purge(self, now_ms: int) -> int:
        """Drop the buckets whose every entry is past its ``validUntil``; how many entries
        went."""
        due, buckets, keys = self._due, self._buckets, self.keys
        current = now_ms // BUCKET_MS
        dropped = 0
        while due and due[0] < current:
            for key in buckets.pop(heapq.heappop(due)):
                keys.discard(key)
                dropped += 1
        return dropped
