"""The revocation feed: the sessions the core removed, served to followers with a cursor,
waiting (long-polling) for news. An extension beyond CDI 2.21 (the SuperTokens core has no
such thing); ``http_api.revocation_routes`` serves it, docs/core.md describes it.

Entries are written by the storage in the transaction that removes the sessions (every
removal path of ``CoreSessions`` goes through ``Storage.delete_sessions`` or
``delete_sessions_of_user``); after it commits the storage calls ``wake`` (on PostgreSQL
also for other cores' commits, through ``LISTEN``/``NOTIFY``). A waiting read holds no
database connection: it waits on an ``asyncio.Event`` replaced at each wake, taken *before*
it reads, so a commit between its read and its wait still wakes it.

The cursor is ``<feed id>.<seq>``: the last ``seq`` served (entries commit in ``seq`` order,
see the storage backends), and the database's feed id (made once, kept in ``key_value``), so
a cursor from another database is refused rather than silently skipping entries.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Final

from session_common.clock import Clock
from session_core.storage.base import RevocationRow, Storage

FEED_ID_NAME: Final = "revocation_feed_id"
MAX_TIMEOUT_MS: Final = 30_000
MAX_LIMIT: Final = 10_000
DEFAULT_LIMIT: Final = 1_000
PURGE_BATCH: Final = 1_000
_CURSOR_RE: Final = re.compile(r"([0-9a-f]{32})\.(0|[1-9][0-9]{0,18})")


class CursorError(ValueError):
    """A ``since`` the feed cannot read (its message says why, for the 400 answer)."""


@dataclass(frozen=True, slots=True)
class FeedPage:
    entries: list[RevocationRow]
    cursor: str
    more: bool


class RevocationFeed:
    """Reads of the feed for one core; ``waiting``, ``served`` and ``purged`` are its
    metrics (``CoreMetrics`` reads them at scrape time)."""

    def __init__(self, storage: Storage, clock: Clock, feed_id: str) -> None:
        self._storage = storage
        self._clock = clock
        self.feed_id = feed_id
        self._news = asyncio.Event()
        self._closed = False
        self._waiting_changed = asyncio.Event()
        self.waiting = 0
        self.served = 0
        self.purged = 0

    @classmethod
    async def open(cls, storage: Storage, clock: Clock) -> RevocationFeed:
        """The feed of ``storage``'s database, woken by its removals."""
        feed_id = await storage.get_or_create_value(
            FEED_ID_NAME, lambda: uuid.uuid4().hex, clock.now_ms()
        )
        feed = cls(storage, clock, feed_id)
        await storage.watch_revocations(feed.wake)
        return feed

    def wake(self) -> None:
        """News may have committed: every waiting read reads again."""
        news, self._news = self._news, asyncio.Event()
        news.set()

    def close(self) -> None:
        """Waiting reads answer now (with what they have); later ones do not wait."""
        self._closed = True
        self.wake()

    def parse_cursor(self, since: str) -> int:
        match = _CURSOR_RE.fullmatch(since)
        if match is None:
            raise CursorError("'since' is not a cursor of this feed")
        if match.group(1) != self.feed_id:
            raise CursorError(
                "'since' is a cursor of another database's feed; read again without it"
            )
        return int(match.group(2))

    def cursor(self, seq: int) -> str:
        return f"{self.feed_id}.{seq}"

    async def read(self, since: str | None, *, limit: int, timeout_ms: int) -> FeedPage:
        """Entries after ``since`` (without it: every entry still valid), oldest first, at
        most ``limit``; when there are none, wait up to ``timeout_ms`` for news.

        Raises ``CursorError`` for a ``since`` it cannot read.
        """
        after = 0 if since is None else self.parse_cursor(since)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            news = self._news  # before the read: a wake after it is not missed
            rows = await self._storage.read_revocations(after, self._clock.now_ms(), limit + 1)
            remaining = deadline - loop.time()
            if rows or remaining <= 0 or self._closed:
                break
            self._count_waiting(+1)
            try:
                async with asyncio.timeout(remaining):
                    await news.wait()
            except TimeoutError:
                break
            finally:
                self._count_waiting(-1)
        entries = rows[:limit]
        self.served += len(entries)
        last = entries[-1].seq if entries else after
        return FeedPage(entries, self.cursor(last), len(rows) > limit)

    def _count_waiting(self, change: int) -> None:
        self.waiting += change
        changed, self._waiting_changed = self._waiting_changed, asyncio.Event()
        changed.set()

    async def wait_for_waiting(self, count: int) -> None:
        """Return once exactly ``count`` reads are waiting for news (lets a caller know a
        long-poll is parked without polling)."""
        while True:
            changed = self._waiting_changed
            if self.waiting == count:
                return
            await changed.wait()

    async def purge(self) -> int:
        """Delete the entries past their window, in batches of ``PURGE_BATCH``."""
        now = self._clock.now_ms()
        total = 0
        while True:
            deleted = await self._storage.delete_expired_revocations(now, PURGE_BATCH)
            total += deleted
            self.purged += deleted
            if deleted < PURGE_BATCH:
                return total
