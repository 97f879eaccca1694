"""The revocation feed's wake-ups across cores: ``LISTEN`` on a connection of its own.

Every transaction that records revocations sends ``NOTIFY`` (``rows.CHANNEL``), which
PostgreSQL delivers to every listening connection on the database when it commits, this
core's included. A lost connection is reconnected with a growing pause (0.1 s doubling to
5 s); the listeners are called once it is back, since notifications sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

import asyncpg

from session_core.storage.postgres.connections import DRIVER_ERRORS, storage_error
from session_core.storage.postgres.rows import CHANNEL

log = logging.getLogger(__name__)

APPLICATION_NAME: Final = "session-core revocation listener"
_FIRST_PAUSE_S: Final = 0.1
_MAX_PAUSE_S: Final = 5.0


class RevocationListener:
    """Calls ``wake`` after each notification on ``rows.CHANNEL``, and after a reconnect."""

    def __init__(self, url: str, where: str, wake: Callable[[], None], timeout: float) -> None:
        self._url = url  # may hold a password: never logged (``where`` names the database)
        self._where = where
        self._wake = wake
        self._timeout = timeout
        self._lost = asyncio.Event()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self.connects = 0

    async def start(self) -> None:
        """Connect and listen once (a failure raises ``StorageError``), then keep it up."""
        try:
            await self._connect()
        except DRIVER_ERRORS as exc:
            raise storage_error(f"LISTEN at {self._where}", exc) from exc
        self._task = asyncio.create_task(self._keep_up(), name="session-core revocation listener")

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(
            self._url,
            timeout=self._timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )
        try:
            conn.add_termination_listener(lambda _conn: self._lost.set())
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        self.connects += 1

    def _notified(self, *_args: object) -> None:
        self._wake()

    async def _keep_up(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("revocation listener lost its connection to %s; reconnecting", self._where)
            pause = _FIRST_PAUSE_S
            while True:
                try:
                    await self._connect()
                    break
                except DRIVER_ERRORS as exc:
                    log.warning(
                        "revocation listener cannot reconnect to %s (%s); retrying in %.1f s",
                        self._where,
                        type(exc).__name__,
                        pause,
                    )
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE_S)
            log.info("revocation listener reconnected to %s", self._where)
            self._wake()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                async with asyncio.timeout(5):
                    await conn.close()
            except (TimeoutError, *DRIVER_ERRORS):
                conn.terminate()
