"""One real core shared by the tests of a module, handed to each as a new core would be.

A new core on a new database: its clock where it started, the signing keys it made then, no
stored session and no request counted. ``ModuleCore`` gives each test the module's core in
that state, or a new one:

- before a test, ``requests`` (requests per path) is zeroed;
- after it, the rows of the tables that were empty at the start (sessions, last activity)
  are deleted; then, if anything else differs from the start (the clock moved, the keys
  changed, a table that had rows changed), the core is stopped and the next test gets a new
  core on a new database.

What carries over: the core's ``/metrics`` counters, and its key reloads (their count and
the cooldown after one). A reload re-reads the keys from the database, which no other core
writes, so it finds the keys the core has. A test that counts reloads has a core of its
own.

The core runs in a thread of its own, with its own event loop, so it keeps serving between
tests while each test runs in its own loop: tests reach it over HTTP, as a service does, and
read its state (``requests``, the signing keys); a test that drives the core object itself
(stops it, awaits its storage) has a core of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig

T = TypeVar("T")
WAIT_SECONDS = 60.0

Tables = dict[str, list[str]]  # rows (as text, sorted) by table name


class SharedCore:
    """A core on the SQLite file ``database`` served from its own thread."""

    def __init__(self, database: Path) -> None:
        self.clock = ManualClock()
        self._database = database
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="shared-core", daemon=True
        )
        self._thread.start()
        config = CoreConfig(host="127.0.0.1", port=0, database=f"sqlite:///{database}")
        try:
            self.running: RunningCore = asyncio.run_coroutine_threadsafe(
                start_core(config, clock=self.clock), self._loop
            ).result(WAIT_SECONDS)
        except BaseException:
            self._end_loop()
            raise
        self._start = self._state()
        self._tables = self._read_tables()

    def call(self, function: Callable[[], T]) -> T:
        """``function()`` run on the core's loop (where the core changes its state)."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(WAIT_SECONDS)

    def begin_test(self) -> None:
        self.call(self.running.requests.clear)

    def reset(self) -> bool:
        """Delete the rows of the tables empty at the start; whether the core is then as it
        started."""
        with self._connect() as db, db:  # the second: one transaction
            for table, rows in self._tables.items():
                if not rows:
                    db.execute(f'DELETE FROM "{table}"')
        return self._state() == self._start and self._read_tables() == self._tables

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.running.stop(), self._loop).result(WAIT_SECONDS)
        finally:
            self._end_loop()

    def _state(self) -> tuple[int, list[str]]:
        keys = self.running.signing_keys
        return self.call(lambda: (self.clock.now_ms(), [k.kid for k in keys.verification_keys()]))

    def _read_tables(self) -> Tables:
        with self._connect() as db:
            tables = "SELECT name FROM sqlite_master WHERE type = 'table'"
            names = [name for (name,) in db.execute(tables) if not name.startswith("sqlite_")]
            return {
                name: sorted(map(repr, db.execute(f'SELECT * FROM "{name}"'))) for name in names
            }

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(self._database, timeout=WAIT_SECONDS))

    def _end_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class ModuleCore:
    """The core the tests of a module share: ``take`` it before a test, ``release`` it after.
    ``new_database`` makes the SQLite file of each new core."""

    def __init__(self, new_database: Callable[[], Path]) -> None:
        self._new_database = new_database
        self._core: SharedCore | None = None

    def take(self) -> SharedCore:
        if self._core is None:
            self._core = SharedCore(self._new_database())
        self._core.begin_test()
        return self._core

    def release(self) -> None:
        if self._core is not None and not self._core.reset():
            self.close()

    def close(self) -> None:
        if self._core is not None:
            core, self._core = self._core, None
            core.stop()
