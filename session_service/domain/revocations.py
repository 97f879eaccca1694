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
* Revocations made through this process (``add_local``) are kept as soon as the core
  confirms them, so the process that revoked refuses at once rather than when the feed
  brings them back. They are kept until now plus the core's access-token validity as this
  process has learnt it (``validity_ms``: the longest ``validUntil - revokedAt`` of a feed
  entry, or ``exp - iat`` of an access token it verified), or an hour (the core's default)
  before it has seen either. When the feed's entry for such a session arrives it is filed
  too, and the session stays until the later of the two expiries (a count in ``_copies``
  for the few keys filed twice), so a local guess never cuts the feed's window short.

Not thread-safe: one per process, on its event loop.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from session_service.domain.errors import InvalidArgument

KEY_MASK = (1 << 60) - 1
# Expiry buckets: the width trades how long an expired entry may linger for fewer buckets.
BUCKET_MS = 10_000
# The most entries asked for in one feed answer (C3's ``limit``, the core's default).
# Taking an answer (its JSON, the entries, their cached tokens) runs on the event loop in
# one go: 10,000 held GetSession for 50 to 100 ms, 1,000 for a tenth of that.
PAGE_SIZE = 1_000
# The access-token validity assumed before one is learnt: the core's default (3600 s).
DEFAULT_VALIDITY_MS = 3_600_000


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

    __slots__ = (
        "_buckets",
        "_copies",
        "_due",
        "_local",
        "check_core",
        "follows",
        "keys",
        "max_entries",
        "overflowed",
        "validity_ms",
    )

    def __init__(self, max_entries: int) -> None:
        # Read directly by the fast path: only ever changed in place, never rebound.
        self.keys: set[int] = set()
        self.check_core = False
        self.overflowed = False
        self.max_entries = max_entries
        # True while a follower follows a feed: only then are local revocations kept (a
        # process without the feed, or whose core has none, verifies as the SDK does).
        self.follows = False
        # The longest access-token validity seen (ms); 0 before any (module docstring).
        self.validity_ms = 0
        self._buckets: dict[int, list[int]] = {}
        self._due: list[int] = []  # heap of bucket numbers
        # Keys filed in more than one bucket -> in how many; a key leaves with its last one.
        self._copies: dict[int, int] = {}
        # Keys kept by ``add_local`` whose feed entry has not arrived yet.
        self._local: set[int] = set()

    def __len__(self) -> int:
        return len(self.keys)

    def revoked(self, session_handle: str) -> bool:
        return (hash(session_handle) & KEY_MASK) in self.keys

    def add(self, session_handle: str, valid_until_ms: int, now_ms: int) -> bool:
        """Keep a revocation of the feed until ``valid_until_ms``; True when it is new (not
        already kept, not already past, and there was room: else ``overflowed`` is set).

        A repeat of a feed entry is a no-op: the core records one removal per session
        (repeats of it carry the same ``validUntil``). The feed's entry of a session kept by
        ``add_local`` is filed as well: the later expiry holds."""
        if valid_until_ms <= now_ms:
            return False
        return self._add(hash(session_handle) & KEY_MASK, valid_until_ms, local=False)

    def add_local(self, session_handles: Iterable[str], now_ms: int) -> None:
        """Keep the sessions whose removal the core has just confirmed to this process
        (module docstring), when a feed is followed."""
        if not self.follows:
            return
        valid_until_ms = now_ms + (self.validity_ms or DEFAULT_VALIDITY_MS)
        for session_handle in session_handles:
            self._add(hash(session_handle) & KEY_MASK, valid_until_ms, local=True)

    def clear(self) -> None:
        """Forget every entry (a core without the feed: only local ones were kept)."""
        for kept in (self.keys, self._buckets, self._copies, self._local):
            kept.clear()
        self._due.clear()

    def _add(self, key: int, valid_until_ms: int, *, local: bool) -> bool:
        keys = self.keys
        if key in keys:
            if not local and key not in self._local:
                return False
            # One of the two entries is this process's own: both filed, the later holds.
            self._copies[key] = self._copies.get(key, 1) + 1
            if not local:
                self._local.discard(key)
            self._file(key, valid_until_ms)
            return False
        if len(keys) >= self.max_entries:
            self.overflowed = True
            return False
        keys.add(key)
        if local:
            self._local.add(key)
        self._file(key, valid_until_ms)
        return True

    def _file(self, key: int, valid_until_ms: int) -> None:
        bucket = valid_until_ms // BUCKET_MS
        entries = self._buckets.get(bucket)
        if entries is None:
            entries = self._buckets[bucket] = []
            heapq.heappush(self._due, bucket)
        entries.append(key)

    def purge(self, now_ms: int, most: int | None = None) -> int:
        """Drop the entries of the buckets whose every entry is past its ``validUntil``,
        looking at ``most`` of them at a time (None: all); how many went. ``expired``
        tells whether any are left: a million revocations made together expire together,
        and dropping them in one go held the event loop half a second."""
        due, buckets, keys = self._due, self._buckets, self.keys
        copies, local = self._copies, self._local
        current = now_ms // BUCKET_MS
        dropped = looked = 0
        while due and due[0] < current:
            entries = buckets[due[0]]
            while entries:
                if most is not None and looked >= most:
                    return dropped
                looked += 1
                key = entries.pop()
                if copies:
                    count = copies.get(key)
                    if count is not None:  # filed in a later bucket as well
                        if count > 2:
                            copies[key] = count - 1
                        else:
                            del copies[key]
                        continue
                keys.discard(key)
                dropped += 1
                if local:
                    local.discard(key)
            del buckets[heapq.heappop(due)]
        return dropped

    def expired(self, now_ms: int) -> bool:
        """Whether entries past their window are still kept (``purge``)."""
        return bool(self._due) and self._due[0] < now_ms // BUCKET_MS
