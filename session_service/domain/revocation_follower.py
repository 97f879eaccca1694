"""The follower of the core's revocation feed (``GET /recipe/session/revocations``, the
project's core's extension beyond CDI 2.21): one per serving process.

It loads every revocation still inside its window (no cursor), then long-polls from the
cursor the core gave, keeping ``Revocations`` and dropping the cached tokens of each newly
revoked session. A failed request (core unreachable, timed out, 5xx, refused key) is
retried after an exponential backoff with jitter, on the next core of the URL list (the
client's requests go round the list). A cursor the core cannot read is dropped, and the
window loaded again: at once when a core had read that cursor before (its database was
replaced), after the backoff, as a failure, when it came from a load of the window just
made (cores on different databases answer in turn). A 404 means a core without the feed
(the SuperTokens core): logged once, the follower ends and GetSession behaves as it does
without one.

The lag is the time since the feed's last answer. With ``fail-safe``, ``check_core`` is
set while the lag exceeds the bound or the window is not loaded yet, and while more
revocations are live than the set may keep; a timer set at each answer notices the bound
passing while a request is still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable

from session_common.clock import Clock
from session_service.core_client import calls
from session_service.core_client.client import CoreClient
from session_service.core_client.replies import RevocationPage
from session_service.domain.errors import (
    CoreIncompatible,
    CoreSaturated,
    CoreUnavailable,
    DeadlineExceeded,
)
from session_service.domain.revocations import (
    PAGE_SIZE,
    FeedFailure,
    FeedState,
    FeedStatus,
    RevocationConfig,
    Revocations,
)

logger = logging.getLogger("session_service.revocations")

# A reload after an overflow waits until the set has this much room again.
_RELOAD_BELOW = 0.9
# Expired entries dropped between two turns of the event loop (about 5 ms of work).
_PURGE_SLICE = 10_000


class RevocationFollower:
    """See the module docstring. ``start()`` once the event loop runs; ``await stop()``."""

    def __init__(
        self,
        core: CoreClient,
        revocations: Revocations,
        config: RevocationConfig,
        clock: Clock,
        forget: Callable[[Iterable[str]], None],
    ) -> None:
        self._core = core
        self._set = revocations
        self._config = config
        self._clock = clock
        self._forget = forget
        self._fail_safe = config.failure is FeedFailure.FAIL_SAFE
        self._task: asyncio.Task[None] | None = None
        self._lag_timer: asyncio.TimerHandle | None = None
        self._loaded = False
        self._failing = False
        self._unsupported = False
        self._last_answer: float | None = None  # loop time
        self._received = 0
        self._reconnects = 0
        self._logged: FeedState | None = None
        self._set.check_core = self._fail_safe
        self._set.follows = True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="session-service-revocations")

    async def stop(self) -> None:
        if self._lag_timer is not None:
            self._lag_timer.cancel()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> FeedStatus:
        lag = None
        if self._last_answer is not None:
            lag = max(0.0, asyncio.get_running_loop().time() - self._last_answer)
        return FeedStatus(
            self._state(lag),
            lag,
            len(self._set),
            self._received,
            self._reconnects,
            self._set.check_core,
        )

    def _state(self, lag: float | None) -> FeedState:
        if self._unsupported:
            return FeedState.UNSUPPORTED
        if self._set.overflowed:
            return FeedState.OVERFLOW
        if self._failing:
            return FeedState.DOWN
        if not self._loaded:
            return FeedState.STARTING
        if lag is None or lag > self._config.max_lag_seconds:
            return FeedState.LAGGING
        return FeedState.FOLLOWING

    # -- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        since: str | None = None
        # ``since`` has been read back by a core (not only given by a load of the window).
        accepted = False
        more = False
        backoff = self._config.backoff_initial_seconds
        wait_ms = int(self._config.poll_wait_seconds * 1000)
        while True:
            await self._purge()
            if self._set.overflowed and len(self._set) < self._set.max_entries * _RELOAD_BELOW:
                self._set.overflowed = False  # load the window again (the lost entries)
                since, self._loaded = None, False
            why: str | None = None
            try:
                page = await calls.revocations(
                    self._core,
                    since=since,
                    wait_ms=0 if since is None or more else wait_ms,
                    limit=PAGE_SIZE,
                )
            except calls.CursorRejected as exc:
                if since is not None and accepted:
                    # Another database now (the core's was replaced): start again.
                    logger.warning("revocation feed: %s; loading the window again", exc)
                    since, self._loaded, accepted = None, False, False
                    continue
                why = str(exc)
                if since is not None:
                    # A cursor refused right after a core gave it: the answers come from
                    # cores on different databases (one URL in front of both). A failure
                    # like the others (backed off, counted), then the window again.
                    why += "; the cursor a core had just given was refused"
                    since, self._loaded = None, False
            except (CoreUnavailable, CoreSaturated, CoreIncompatible, DeadlineExceeded) as exc:
                why = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # A bug must not end the follower for the life of the process.
                why = f"unexpected {type(exc).__name__}"
                logger.error("revocation feed: request failed with %s", why)
            if why is not None:
                self._failing = True
                self._reconnects += 1
                self._log(why)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self._config.backoff_max_seconds)
                continue
            if page is None:
                self._unsupported = True
                self._set.check_core = False
                # As without a follower: revocations through this process are not kept.
                self._set.follows = False
                self._set.clear()
                if self._lag_timer is not None:
                    self._lag_timer.cancel()
                self._log("")
                return
            if since is not None:
                # Not after a load of the window alone: that would undo the backoff of a
                # cursor refused right after each load (above).
                backoff = self._config.backoff_initial_seconds
            accepted = since is not None
            self._failing = False
            self._take(page)
            since, more = page.cursor, page.more
            if not more:
                self._loaded = True
            self._answered()
            self._log("")

    async def _purge(self) -> None:
        """Drop the expired entries a slice at a time, letting GetSession run between."""
        while True:
            now_ms = self._clock.now_ms()
            self._set.purge(now_ms, _PURGE_SLICE)
            if not self._set.expired(now_ms):
                return
            await asyncio.sleep(0)

    def _take(self, page: RevocationPage) -> None:
        now_ms = self._clock.now_ms()
        revocations = self._set
        add = revocations.add
        new = [
            entry.session_handle
            for entry in page.revocations
            if add(entry.session_handle, entry.valid_until_ms, now_ms)
        ]
        if page.revocations:
            # The core's access-token validity, for revocations made through this process.
            validity = max(e.valid_until_ms - e.revoked_at_ms for e in page.revocations)
            revocations.validity_ms = max(revocations.validity_ms, validity)
        self._received += len(page.revocations)
        if new:
            self._forget(new)

    def _answered(self) -> None:
        """The feed answered: the lag is 0 again, and the timer is set for the bound."""
        loop = asyncio.get_running_loop()
        self._last_answer = loop.time()
        if self._lag_timer is not None:
            self._lag_timer.cancel()
        self._lag_timer = loop.call_later(self._config.max_lag_seconds, self._lag_passed)
        self._set.check_core = (self._fail_safe and not self._loaded) or self._set.overflowed

    def _lag_passed(self) -> None:
        self._lag_timer = None
        if self._fail_safe and not self._unsupported:
            self._set.check_core = True
        self._log("")

    def _log(self, why: str) -> None:
        """Log each change of state once: INFO for starting, following and a core without
        the feed (an expected set-up: the SuperTokens core), WARNING for the others."""
        state = self._state(self.status().lag_seconds)
        if state is self._logged:
            return
        self._logged = state
        mode = "fail-safe: GetSession asks the core" if self._set.check_core else "fail-open"
        if state is FeedState.UNSUPPORTED:
            logger.info(
                "revocation feed: the session core has none (404 on GET "
                "/recipe/session/revocations); revocations by other replicas or through the "
                "core are seen only by check_database, as with the SDK"
            )
        elif state is FeedState.FOLLOWING:
            logger.info("revocation feed: following (%d revoked sessions known)", len(self._set))
        elif state is FeedState.STARTING:
            logger.info("revocation feed: loading the revocations inside their window")
        else:
            detail = f": {why}" if why else ""
            logger.warning("revocation feed: %s (%s)%s", state.value, mode, detail)
