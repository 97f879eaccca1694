"""SQLite storage: one file, safe for several cores on one host.

Two connections: a *writer* guarded by an ``asyncio.Lock`` (every write is one
``BEGIN IMMEDIATE`` transaction, so the file lock also serialises other processes) and a
*reader* that sees committed data only (WAL lets it read while a write is open). The
writer runs ``synchronous=FULL``: WAL's default ``NORMAL`` may lose the last commits on
power loss, and an acknowledged refresh-token rotation must survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import aiosqlite

from session_common.json_values import JSONObject
from session_core.storage.base import (
    DynamicKeyRow,
    RevocationListener,
    RevocationRow,
    SessionRow,
    StaticKeyRow,
    StorageError,
)
from session_core.storage.schema import (
    HeldConnection,
    dynamic_keys_from_rows,
    encode_json,
    session_from_row,
    static_keys_from_rows,
)
from session_core.storage.sqlite.connections import (
    Params,
    count,
    fetch,
    open_connections,
    storage_error,
)
from session_core.storage.sqlite.rows import LockedRow, purge_feed, read_feed, record_revocations

_SESSION_COLUMNS: Final = (
    "session_handle, user_id, refresh_token_hash_2, session_data, expires_at,"
    " created_at_time, jwt_user_payload, use_static_key"
)
# SQLite's default host-parameter limit is 32766; stay far below it.
_SELECT_SESSION: Final = f"SELECT {_SESSION_COLUMNS} FROM session_info WHERE session_handle = ?"  # noqa: S608
_INSERT_SESSION: Final = (
    f"INSERT INTO session_info ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
)
_IN_CHUNK: Final = 500


class SQLiteStorage:
    """``Storage`` on a SQLite file (see the module docstring for the locking model)."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._held: HeldConnection[aiosqlite.Connection] = HeldConnection(f"sqlite-{id(self)}")
        self._closed = False
        self._revocation_listeners: list[RevocationListener] = []

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    async def open(cls, url: str, *, busy_timeout_ms: int = 10_000) -> SQLiteStorage:
        """Open ``url`` (see ``connections.open_connections``)."""
        return cls(*await open_connections(url, busy_timeout_ms))

    async def close(self) -> None:
        """Close both connections (idempotent); waits for an open write to finish."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            for conn in (self._reader, self._writer):
                with contextlib.suppress(sqlite3.Error):
                    await conn.close()

    async def schema_version(self) -> int:
        rows = await self._read("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(rows[0][0])

    # -- plumbing -----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("SQLite storage is closed")

    async def _read(self, sql: str, params: Params = ()) -> list[Any]:
        self._check_open()
        # Inside this task's lock_session block, read through the block's transaction.
        conn = self._held.get() or self._reader
        try:
            return await fetch(conn, sql, params)
        except sqlite3.Error as exc:
            raise storage_error("read", exc) from exc

    @asynccontextmanager
    async def _write(self, method: str) -> AsyncIterator[aiosqlite.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction on the writer; commit on success."""
        self._held.refuse_write(method)
        async with self._write_lock:
            self._check_open()
            conn = self._writer
            try:
                await fetch(conn, "BEGIN IMMEDIATE")
                yield conn
                await fetch(conn, "COMMIT")
            except BaseException as exc:
                # aiosqlite runs statements in order on its thread, so this ROLLBACK
                # also follows a BEGIN/COMMIT whose await was cancelled.
                with contextlib.suppress(sqlite3.Error):
                    await fetch(conn, "ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise storage_error(method, exc) from exc
                raise

    # -- sessions -----------------------------------------------------------------------------
    async def insert_session(self, row: SessionRow) -> None:
        async with self._write("insert_session") as conn:
            await fetch(
                conn,
                _INSERT_SESSION,
                (
                    row.session_handle,
                    row.user_id,
                    row.refresh_token_hash_2,
                    encode_json(row.session_data),
                    row.expires_at,
                    row.created_at_time,
                    encode_json(row.jwt_user_payload),
                    1 if row.use_static_key else 0,
                ),
            )

    async def get_session(self, session_handle: str) -> SessionRow | None:
        rows = await self._read(
            _SELECT_SESSION,
            (session_handle,),
        )
        return session_from_row(rows[0]) if rows else None

    @asynccontextmanager
    async def lock_session(self, session_handle: str) -> AsyncIterator[LockedRow]:
        """Hold the database write lock (and this storage's writer) for the block.

        The whole file is locked, not just the row: keep the block short and free of
        slow awaits. Reads of this storage inside the block see the block's own update.
        """
        async with self._write("lock_session") as conn:
            try:
                rows = await fetch(
                    conn,
                    _SELECT_SESSION,
                    (session_handle,),
                )
            except sqlite3.Error as exc:
                raise storage_error("lock_session", exc) from exc
            locked = LockedRow(conn, session_from_row(rows[0]) if rows else None)
            token = self._held.set(conn)
            try:
                yield locked
            finally:
                self._held.reset(token)
                locked.close()

    async def update_session(
        self,
        session_handle: str,
        *,
        now_ms: int,
        session_data: JSONObject | None = None,
        jwt_user_payload: JSONObject | None = None,
    ) -> bool:
        sets: list[str] = []
        params: list[Any] = []
        if session_data is not None:
            sets.append("session_data = ?")
            params.append(encode_json(session_data))
        if jwt_user_payload is not None:
            sets.append("jwt_user_payload = ?")
            params.append(encode_json(jwt_user_payload))
        async with self._write("update_session") as conn:
            if not sets:  # nothing to change: report whether a live row exists
                rows = await fetch(
                    conn,
                    "SELECT 1 FROM session_info WHERE session_handle = ? AND expires_at > ?",
                    (session_handle, now_ms),
                )
            else:
                rows = await fetch(
                    conn,
                    f"UPDATE session_info SET {', '.join(sets)}"  # noqa: S608 - fixed column names
                    " WHERE session_handle = ? AND expires_at > ? RETURNING 1",
                    (*params, session_handle, now_ms),
                )
        return bool(rows)

    async def delete_sessions(
        self, session_handles: list[str], *, revoked_at: int, valid_until: int
    ) -> list[str]:
        """Returns the deleted handles in the order given (each once)."""
        wanted = list(dict.fromkeys(session_handles))
        if not wanted:
            self._held.refuse_write("delete_sessions")
            return []
        deleted: set[str] = set()
        async with self._write("delete_sessions") as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i : i + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = await fetch(
                    conn,
                    f"DELETE FROM session_info WHERE session_handle IN ({marks})"  # noqa: S608
                    " RETURNING session_handle",
                    chunk,
                )
                deleted.update(str(r[0]) for r in rows)
            revoked = [h for h in wanted if h in deleted]
            await record_revocations(conn, revoked, revoked_at, valid_until)
        self._revoked(revoked)
        return revoked

    async def delete_sessions_of_user(
        self, user_id: str, now_ms: int, *, valid_until: int
    ) -> list[str]:
        async with self._write("delete_sessions_of_user") as conn:
            rows = await fetch(
                conn,
                "DELETE FROM session_info WHERE user_id = ? AND expires_at >= ?"
                " RETURNING session_handle",
                (user_id, now_ms),
            )
            revoked = [str(r[0]) for r in rows]
            await record_revocations(conn, revoked, now_ms, valid_until)
        self._revoked(revoked)
        return revoked

    def _revoked(self, handles: list[str]) -> None:
        """Tell the listeners, after the commit, that entries were recorded."""
        if handles:
            for listener in self._revocation_listeners:
                listener()

    async def get_session_handles_of_user(self, user_id: str, now_ms: int) -> list[str]:
        rows = await self._read(
            "SELECT session_handle FROM session_info WHERE user_id = ? AND expires_at >= ?"
            " ORDER BY created_at_time, session_handle",
            (user_id, now_ms),
        )
        return [str(r[0]) for r in rows]

    async def delete_expired_sessions(self, now_ms: int) -> int:
        async with self._write("delete_expired_sessions") as conn:
            return await count(conn, "DELETE FROM session_info WHERE expires_at <= ?", (now_ms,))

    # -- revocation feed -------------------------------------------------------------------------
    async def read_revocations(
        self, after_seq: int, now_ms: int, limit: int
    ) -> list[RevocationRow]:
        self._check_open()
        try:
            return await read_feed(self._reader, after_seq, now_ms, limit)
        except sqlite3.Error as exc:
            raise storage_error("read_revocations", exc) from exc

    async def delete_expired_revocations(self, now_ms: int, batch: int) -> int:
        async with self._write("delete_expired_revocations") as conn:
            return await purge_feed(conn, now_ms, batch)

    async def watch_revocations(self, listener: RevocationListener) -> None:
        """Only this storage's own removals: SQLite cannot tell another process's."""
        self._revocation_listeners.append(listener)

    async def update_user_last_active(self, user_id: str, now_ms: int) -> None:
        async with self._write("update_user_last_active") as conn:
            await fetch(
                conn,
                "INSERT INTO user_last_active (user_id, last_active_time) VALUES (?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET last_active_time = excluded.last_active_time",
                (user_id, now_ms),
            )

    async def get_or_create_value(
        self, name: str, make_value: Callable[[], str], now_ms: int
    ) -> str:
        self._held.refuse_write("get_or_create_value")
        sql = "SELECT value FROM key_value WHERE name = ?"
        rows = await self._read(sql, (name,))
        if rows:
            return str(rows[0][0])
        async with self._write("get_or_create_value") as conn:
            rows = await fetch(conn, sql, (name,))
            if rows:  # another coroutine or process won the race
                return str(rows[0][0])
            value = make_value()
            await fetch(
                conn,
                "INSERT INTO key_value (name, value, created_at_time) VALUES (?, ?, ?)",
                (name, value, now_ms),
            )
            return value

    # -- signing keys ---------------------------------------------------------------------------
    async def get_dynamic_keys(self) -> list[DynamicKeyRow]:
        return dynamic_keys_from_rows(
            await self._read(
                "SELECT created_at_time, value FROM session_access_token_signing_keys"
                " ORDER BY created_at_time DESC"
            )
        )

    async def add_dynamic_key_unless_newer_exists(
        self, make_key: Callable[[], Awaitable[DynamicKeyRow]], newer_than: int
    ) -> list[DynamicKeyRow]:
        """``make_key`` runs inside the write transaction, and only when a key is needed."""
        self._held.refuse_write("add_dynamic_key_unless_newer_exists")
        keys = await self.get_dynamic_keys()
        if any(k.created_at_time >= newer_than for k in keys):
            return keys  # fast path: no write lock when a fresh key exists
        async with self._write("add_dynamic_key_unless_newer_exists") as conn:
            fresh = await fetch(
                conn,
                "SELECT 1 FROM session_access_token_signing_keys WHERE created_at_time >= ?"
                " LIMIT 1",
                (newer_than,),
            )
            if not fresh:
                key = await make_key()
                await fetch(
                    conn,
                    "INSERT INTO session_access_token_signing_keys (created_at_time, value)"
                    " VALUES (?, ?)",
                    (key.created_at_time, key.value),
                )
            rows = await fetch(
                conn,
                "SELECT created_at_time, value FROM session_access_token_signing_keys"
                " ORDER BY created_at_time DESC",
            )
        return dynamic_keys_from_rows(rows)

    async def delete_dynamic_keys_older_than(self, created_before: int) -> int:
        async with self._write("delete_dynamic_keys_older_than") as conn:
            return await count(
                conn,
                "DELETE FROM session_access_token_signing_keys WHERE created_at_time < ?",
                (created_before,),
            )

    async def get_static_keys(self, algorithm: str) -> list[StaticKeyRow]:
        return static_keys_from_rows(
            await self._read(
                "SELECT key_id, key_string, algorithm, created_at FROM jwt_signing_keys"
                " WHERE algorithm = ? ORDER BY created_at DESC, key_id DESC",
                (algorithm,),
            )
        )

    async def add_static_key_unless_exists(
        self, make_key: Callable[[], Awaitable[StaticKeyRow]]
    ) -> list[StaticKeyRow]:
        """``make_key`` is always awaited (its algorithm is only known from the key), but
        before taking the write lock; the candidate is dropped if a key already exists.
        Call ``get_static_keys`` first to skip generating a key at every start."""
        self._held.refuse_write("add_static_key_unless_exists")
        key = await make_key()
        async with self._write("add_static_key_unless_exists") as conn:
            exists = await fetch(
                conn, "SELECT 1 FROM jwt_signing_keys WHERE algorithm = ? LIMIT 1", (key.algorithm,)
            )
            if not exists:
                await fetch(
                    conn,
                    "INSERT INTO jwt_signing_keys (key_id, key_string, algorithm, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (key.key_id, key.key_string, key.algorithm, key.created_at),
                )
            rows = await fetch(
                conn,
                "SELECT key_id, key_string, algorithm, created_at FROM jwt_signing_keys"
                " WHERE algorithm = ? ORDER BY created_at DESC, key_id DESC",
                (key.algorithm,),
            )
        return static_keys_from_rows(rows)

    # -- health -----------------------------------------------------------------------------------
    async def ping(self) -> None:
        """Reads a page of the file (``SELECT 1`` would not touch it)."""
        await self._read("SELECT version FROM schema_version LIMIT 1")
