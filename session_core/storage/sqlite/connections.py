"""Opening a SQLite database file: its URL, the writer and reader connections, WAL mode and
the schema's migrations (serialised across processes), and statement helpers."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import aiosqlite

from session_core.storage.base import StorageError, UnsupportedDatabaseURL
from session_core.storage.schema import LATEST_VERSION, SCHEMA_VERSION_TABLE, SQLITE_MIGRATIONS

_PREFIX: Final = "sqlite:///"

Params = Sequence[Any]


def sqlite_path_from_url(url: str) -> Path:
    """``sqlite:///`` + a path: ``sqlite:////abs/core.db`` or ``sqlite:///rel/core.db``.

    The path is taken literally (no percent-decoding, no query string). In-memory
    databases are refused: the reader and writer connections would see two different ones.
    """
    if not url.startswith(_PREFIX) or len(url) == len(_PREFIX):
        raise UnsupportedDatabaseURL("SQLite URL must look like sqlite:///path/to/core.db")
    raw = url[len(_PREFIX) :]
    if raw == ":memory:" or raw.startswith("file:"):
        raise UnsupportedDatabaseURL("SQLite URL must name a file, not :memory: or a file: URI")
    return Path(raw)


def storage_error(action: str, exc: sqlite3.Error) -> StorageError:
    # sqlite3 messages name tables/constraints, never data, so they are safe to surface.
    return StorageError(f"SQLite {action} failed: {type(exc).__name__}: {exc}")


async def fetch(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[Any]:
    return list(await conn.execute_fetchall(sql, params))


async def count(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    async with conn.execute(sql, params) as cur:
        return int(cur.rowcount)


async def open_connections(
    url: str, busy_timeout_ms: int
) -> tuple[Path, aiosqlite.Connection, aiosqlite.Connection]:
    """The file ``url`` names, created (mode 0600: it holds signing keys) with its parent
    directories, in WAL mode with the schema migrated; and its writer and reader
    connections. ``busy_timeout_ms`` bounds how long a write waits for another process's.
    """
    path = sqlite_path_from_url(url)
    writer: aiosqlite.Connection | None = None
    reader: aiosqlite.Connection | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Create the file ourselves so it is private; SQLite gives -wal/-shm the same mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        writer = await connect(path, busy_timeout_ms)
        async with exclusive_setup(path):
            mode = await fetch(writer, "PRAGMA journal_mode = WAL")
            if str(mode[0][0]).lower() != "wal":
                raise StorageError(f"SQLite refused WAL mode (journal_mode={mode[0][0]})")
            await migrate(writer)
        reader = await connect(path, busy_timeout_ms)
        await fetch(reader, "PRAGMA query_only = ON")
    except BaseException as exc:
        for conn in (reader, writer):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        if isinstance(exc, sqlite3.Error):
            raise storage_error(f"open of {path}", exc) from exc
        if isinstance(exc, OSError):
            raise StorageError(f"cannot create SQLite database {path}: {exc.strerror}") from exc
        raise
    return path, writer, reader


@asynccontextmanager
async def exclusive_setup(path: Path) -> AsyncIterator[None]:
    """Serialise WAL conversion and migration across processes with an flock on a sidecar file.

    Switching a fresh file to WAL needs an exclusive lock for which SQLite does not always
    call the busy handler, so concurrent first opens could fail with "database is locked".
    """
    descriptor = os.open(f"{path}.setup-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


async def connect(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    # isolation_level=None: the sqlite3 module must not open transactions behind our back.
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await fetch(conn, f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await fetch(conn, "PRAGMA synchronous = FULL")
    except BaseException:
        await conn.close()
        raise
    return conn


async def migrate(conn: aiosqlite.Connection) -> None:
    """Bring the schema to ``LATEST_VERSION`` under ``BEGIN IMMEDIATE``, so concurrent
    opens from several processes apply each migration exactly once."""
    await fetch(conn, "BEGIN IMMEDIATE")
    try:
        await fetch(conn, SCHEMA_VERSION_TABLE)
        rows = await fetch(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version")
        current = int(rows[0][0])
        if current > LATEST_VERSION:
            raise StorageError(
                f"database schema version {current} is newer than this core supports"
                f" ({LATEST_VERSION})"
            )
        for version, statements in SQLITE_MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                await fetch(conn, statement)
            await fetch(
                conn,
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, int(time.time() * 1000)),
            )
        await fetch(conn, "COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            await fetch(conn, "ROLLBACK")
        raise
