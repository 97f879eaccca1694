"""PostgreSQL storage: an ``asyncpg`` pool, shared safely by any number of cores.

Cross-process serialisation uses the database itself: ``SELECT ... FOR UPDATE`` for
``lock_session``, transaction-scoped advisory locks for key creation and migrations
(advisory locks are per database, so unrelated databases never contend), and
``INSERT ... ON CONFLICT DO NOTHING`` for ``get_or_create_value``. Revocations commit in
``seq`` order under an advisory lock (``rows``) and wake every core's feed through
``LISTEN``/``NOTIFY`` (``listener``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from session_common.json_values import JSONObject
from session_core.storage.base import (
    DynamicKeyRow,
    RevocationListener,
    RevocationRow,
    SessionRow,
    StaticKeyRow,
)
from session_core.storage.postgres.connections import (
    DRIVER_ERRORS,
    close_pool,
    create_pool,
    migrate,
    rowcount,
    storage_error,
    where_of,
)
from session_core.storage.postgres.listener import RevocationListener as Listener
from session_core.storage.postgres.rows import (
    INSERT_SESSION,
    LOCK_DYNAMIC_KEYS,
    LOCK_MIGRATE,
    LOCK_STATIC_KEYS,
    SELECT_DYNAMIC,
    SELECT_SESSION,
    SELECT_STATIC,
    LockedRow,
    purge_feed,
    read_feed,
    record_revocations,
)
from session_core.storage.schema import (
    HeldConnection,
    dynamic_keys_from_rows,
    encode_json,
    session_from_row,
    static_keys_from_rows,
)


class PostgresStorage:
    """``Storage`` on PostgreSQL (see the module docstring for the locking model)."""

    def __init__(self, pool: Any, where: str, url: str, connect_timeout: float) -> None:
        self._pool = pool
        self.where = where
        self._url = url  # may hold a password: never logged
        self._connect_timeout = connect_timeout
        self._held: HeldConnection[Any] = HeldConnection(f"postgres-{id(self)}")
        self._revocation_listeners: list[RevocationListener] = []
        self.listener: Listener | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        url: str,
        *,
        max_pool_size: int = 10,
        min_pool_size: int = 1,
        connect_timeout: float = 10.0,
        command_timeout: float | None = 30.0,
    ) -> PostgresStorage:
        """Connect a pool to ``url`` (``postgresql://user[:pw]@host:port/db``) and create
        or migrate the schema.

        ``min_pool_size`` ≥ 1 makes an unreachable server fail here, at startup.
        ``command_timeout`` bounds every statement, including waits for row and advisory
        locks; exceeding it raises ``StorageError``.
        """
        where = where_of(url)
        pool = await create_pool(
            url,
            where,
            max_pool_size=max_pool_size,
            min_pool_size=min_pool_size,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )
        storage = cls(pool, where, url, connect_timeout)
        try:
            # The advisory lock makes concurrent opens from several processes apply each
            # migration exactly once.
            async with storage._tx("migrate", LOCK_MIGRATE) as conn:
                await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        return storage

    async def close(self) -> None:
        """Close the pool (idempotent). Waits a grace period for connections in use to be
        released, then terminates them so that shutdown cannot hang."""
        if self.listener is not None:
            listener, self.listener = self.listener, None
            await listener.close()
        await close_pool(self._pool)

    async def schema_version(self) -> int:
        async with self._conn("schema_version") as conn:
            return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    # -- plumbing -------------------------------------------------------------------------------
    @asynccontextmanager
    async def _conn(self, action: str) -> AsyncIterator[Any]:
        """A connection for a read or a single-statement write; driver errors (from
        acquiring or from the body) become ``StorageError``.

        Inside this task's ``lock_session`` block it is the block's connection, so a
        read there never waits for the pool (whose connections may all be waiting for
        the block's row lock).
        """
        held = self._held.get()
        try:
            if held is not None:
                yield held
            else:
                async with self._pool.acquire() as conn:
                    yield conn
        except DRIVER_ERRORS as exc:
            raise storage_error(action, exc) from exc

    @asynccontextmanager
    async def _tx(self, method: str, advisory_lock: int | None = None) -> AsyncIterator[Any]:
        """A write transaction on its own connection, optionally holding an advisory lock
        until commit/rollback."""
        self._held.refuse_write(method)
        async with self._conn(method) as conn, conn.transaction():
            if advisory_lock is not None:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_lock)
            yield conn

    @asynccontextmanager
    async def _write(self, method: str) -> AsyncIterator[Any]:
        """A connection for a single-statement (auto-committed) write."""
        self._held.refuse_write(method)
        async with self._conn(method) as conn:
            yield conn

    # -- sessions ---------------------------------------------------------------------------------
    async def insert_session(self, row: SessionRow) -> None:
        async with self._write("insert_session") as conn:
            await conn.execute(
                INSERT_SESSION,
                row.session_handle,
                row.user_id,
                row.refresh_token_hash_2,
                encode_json(row.session_data),
                row.expires_at,
                row.created_at_time,
                encode_json(row.jwt_user_payload),
                row.use_static_key,
            )

    async def get_session(self, session_handle: str) -> SessionRow | None:
        async with self._conn("get_session") as conn:
            record = await conn.fetchrow(SELECT_SESSION, session_handle)
        return session_from_row(record) if record is not None else None

    @asynccontextmanager
    async def lock_session(self, session_handle: str) -> AsyncIterator[LockedRow]:
        """``SELECT ... FOR UPDATE`` in a transaction held for the block.

        Only this row is locked; the block keeps one pool connection busy, so keep it
        short. Reads of this storage inside the block use that connection.
        """
        async with self._tx("lock_session") as conn:
            record = await conn.fetchrow(f"{SELECT_SESSION} FOR UPDATE", session_handle)
            locked = LockedRow(conn, session_from_row(record) if record else None)
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
        params: list[Any] = [session_handle, now_ms]
        if session_data is not None:
            params.append(encode_json(session_data))
            sets.append(f"session_data = ${len(params)}")
        if jwt_user_payload is not None:
            params.append(encode_json(jwt_user_payload))
            sets.append(f"jwt_user_payload = ${len(params)}")
        async with self._write("update_session") as conn:
            if not sets:  # nothing to change: report whether a live row exists
                found = await conn.fetchval(
                    "SELECT 1 FROM session_info WHERE session_handle = $1 AND expires_at > $2",
                    *params,
                )
            else:
                found = await conn.fetchval(
                    f"UPDATE session_info SET {', '.join(sets)}"  # noqa: S608 - fixed columns
                    " WHERE session_handle = $1 AND expires_at > $2 RETURNING 1",
                    *params,
                )
        return found is not None

    async def delete_sessions(
        self, session_handles: list[str], *, revoked_at: int, valid_until: int
    ) -> list[str]:
        """Returns the deleted handles in the order given (each once)."""
        self._held.refuse_write("delete_sessions")
        wanted = list(dict.fromkeys(session_handles))
        if not wanted:
            return []
        async with self._tx("delete_sessions") as conn:
            rows = await conn.fetch(
                "DELETE FROM session_info WHERE session_handle = ANY($1::varchar[])"
                " RETURNING session_handle",
                wanted,
            )
            deleted = {str(r[0]) for r in rows}
            revoked = [h for h in wanted if h in deleted]
            await record_revocations(conn, revoked, revoked_at, valid_until)
        self._revoked(revoked)
        return revoked

    async def delete_sessions_of_user(
        self, user_id: str, now_ms: int, *, valid_until: int
    ) -> list[str]:
        async with self._tx("delete_sessions_of_user") as conn:
            rows = await conn.fetch(
                "DELETE FROM session_info WHERE user_id = $1 AND expires_at >= $2"
                " RETURNING session_handle",
                user_id,
                now_ms,
            )
            revoked = [str(r[0]) for r in rows]
            await record_revocations(conn, revoked, now_ms, valid_until)
        self._revoked(revoked)
        return revoked

    def _revoked(self, handles: list[str]) -> None:  # other cores hear of it by NOTIFY
        if handles:
            self._wake_listeners()

    # -- revocation feed ----------------------------------------------------------------------
    async def read_revocations(
        self, after_seq: int, now_ms: int, limit: int
    ) -> list[RevocationRow]:
        async with self._conn("read_revocations") as conn:
            return await read_feed(conn, after_seq, now_ms, limit)

    async def delete_expired_revocations(self, now_ms: int, batch: int) -> int:
        async with self._write("delete_expired_revocations") as conn:
            return await purge_feed(conn, now_ms, batch)

    async def watch_revocations(self, listener: RevocationListener) -> None:
        """The first call starts ``LISTEN`` on a connection of its own (``listener``)."""
        self._revocation_listeners.append(listener)
        if self.listener is None:
            self.listener = Listener(
                self._url, self.where, self._wake_listeners, self._connect_timeout
            )
            await self.listener.start()

    def _wake_listeners(self) -> None:
        for wake in self._revocation_listeners:
            wake()

    async def get_session_handles_of_user(self, user_id: str, now_ms: int) -> list[str]:
        async with self._conn("get_session_handles_of_user") as conn:
            rows = await conn.fetch(
                "SELECT session_handle FROM session_info WHERE user_id = $1 AND expires_at >= $2"
                " ORDER BY created_at_time, session_handle",
                user_id,
                now_ms,
            )
        return [str(r[0]) for r in rows]

    async def delete_expired_sessions(self, now_ms: int) -> int:
        async with self._write("delete_expired_sessions") as conn:
            status = await conn.execute("DELETE FROM session_info WHERE expires_at <= $1", now_ms)
        return rowcount(status)

    async def update_user_last_active(self, user_id: str, now_ms: int) -> None:
        async with self._write("update_user_last_active") as conn:
            await conn.execute(
                "INSERT INTO user_last_active (user_id, last_active_time) VALUES ($1, $2)"
                " ON CONFLICT (user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time",
                user_id,
                now_ms,
            )

    async def get_or_create_value(
        self, name: str, make_value: Callable[[], str], now_ms: int
    ) -> str:
        """``make_value`` may run in several racing processes; only one result is stored
        (``ON CONFLICT DO NOTHING`` waits for a concurrent inserter) and all return it."""
        self._held.refuse_write("get_or_create_value")
        sql = "SELECT value FROM key_value WHERE name = $1"
        async with self._conn("get_or_create_value") as conn:
            value = await conn.fetchval(sql, name)
            if value is not None:
                return str(value)
            await conn.execute(
                "INSERT INTO key_value (name, value, created_at_time) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO NOTHING",
                name,
                make_value(),
                now_ms,
            )
            return str(await conn.fetchval(sql, name))

    # -- signing keys -----------------------------------------------------------------------------
    async def get_dynamic_keys(self) -> list[DynamicKeyRow]:
        async with self._conn("get_dynamic_keys") as conn:
            return dynamic_keys_from_rows(await conn.fetch(SELECT_DYNAMIC))

    async def add_dynamic_key_unless_newer_exists(
        self, make_key: Callable[[], Awaitable[DynamicKeyRow]], newer_than: int
    ) -> list[DynamicKeyRow]:
        """``make_key`` runs under the advisory lock, and only when a key is needed."""
        self._held.refuse_write("add_dynamic_key_unless_newer_exists")
        keys = await self.get_dynamic_keys()
        if any(k.created_at_time >= newer_than for k in keys):
            return keys  # fast path: no lock when a fresh key exists
        async with self._tx("add_dynamic_key_unless_newer_exists", LOCK_DYNAMIC_KEYS) as conn:
            fresh = await conn.fetchval(
                "SELECT 1 FROM session_access_token_signing_keys WHERE created_at_time >= $1"
                " LIMIT 1",
                newer_than,
            )
            if fresh is None:
                key = await make_key()
                await conn.execute(
                    "INSERT INTO session_access_token_signing_keys (created_at_time, value)"
                    " VALUES ($1, $2)",
                    key.created_at_time,
                    key.value,
                )
            return dynamic_keys_from_rows(await conn.fetch(SELECT_DYNAMIC))

    async def delete_dynamic_keys_older_than(self, created_before: int) -> int:
        async with self._write("delete_dynamic_keys_older_than") as conn:
            status = await conn.execute(
                "DELETE FROM session_access_token_signing_keys WHERE created_at_time < $1",
                created_before,
            )
        return rowcount(status)

    async def get_static_keys(self, algorithm: str) -> list[StaticKeyRow]:
        async with self._conn("get_static_keys") as conn:
            return static_keys_from_rows(await conn.fetch(SELECT_STATIC, algorithm))

    async def add_static_key_unless_exists(
        self, make_key: Callable[[], Awaitable[StaticKeyRow]]
    ) -> list[StaticKeyRow]:
        """``make_key`` is always awaited (its algorithm is only known from the key), but
        before taking the lock; the candidate is dropped if a key already exists.
        Call ``get_static_keys`` first to skip generating a key at every start."""
        self._held.refuse_write("add_static_key_unless_exists")
        key = await make_key()
        async with self._tx("add_static_key_unless_exists", LOCK_STATIC_KEYS) as conn:
            exists = await conn.fetchval(
                "SELECT 1 FROM jwt_signing_keys WHERE algorithm = $1 LIMIT 1", key.algorithm
            )
            if exists is None:
                await conn.execute(
                    "INSERT INTO jwt_signing_keys (key_id, key_string, algorithm, created_at)"
                    " VALUES ($1, $2, $3, $4)",
                    key.key_id,
                    key.key_string,
                    key.algorithm,
                    key.created_at,
                )
            return static_keys_from_rows(await conn.fetch(SELECT_STATIC, key.algorithm))

    # -- health -----------------------------------------------------------------------------------
    async def ping(self) -> None:
        async with self._conn("ping") as conn:
            await conn.fetchval("SELECT 1")


__all__ = ["PostgresStorage"]
