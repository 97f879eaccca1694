"""Reaching a PostgreSQL database: its connection pool, the schema's migrations, and how
driver errors become ``StorageError`` without quoting passwords or data."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final
from urllib.parse import urlsplit

import asyncpg

from session_core.storage.base import StorageError
from session_core.storage.schema import LATEST_VERSION, POSTGRES_MIGRATIONS, SCHEMA_VERSION_TABLE

# What the driver raises when the server is unreachable, gone, or refuses a statement.
# TimeoutError covers connect timeouts and ``command_timeout``; InternalClientError is what
# asyncpg raises on a connection the server ended mid-protocol (pg_terminate_backend of a
# pooled connection), which is the same outage to a caller.
DRIVER_ERRORS: Final = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
_CLOSE_GRACE_S: Final = 10.0


def where_of(url: str) -> str:
    """``host:port/database`` of ``url``: never the user's password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "<unparseable URL>"
    return f"{host}:{port}{parts.path}"


def storage_error(action: str, exc: BaseException) -> StorageError:
    # asyncpg/OS messages name hosts, users, tables and constraints, not passwords or data,
    # so they are safe to surface; except data errors (SQLSTATE class 22, and asyncpg's own
    # for a query argument it cannot encode), whose messages quote the value: a key or token.
    detail = "message withheld" if isinstance(exc, asyncpg.DataError) else str(exc)
    return StorageError(f"PostgreSQL {action} failed: {type(exc).__name__}: {detail}")


async def close_pool(pool: Any) -> None:
    """Close ``pool``: wait a grace period for connections in use to be released, then
    terminate them so that shutdown cannot hang."""
    try:
        async with asyncio.timeout(_CLOSE_GRACE_S):
            await pool.close()
    except TimeoutError:
        pool.terminate()


def rowcount(status: str) -> int:
    """asyncpg returns the command tag, e.g. ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


async def create_pool(
    url: str,
    where: str,
    *,
    max_pool_size: int,
    min_pool_size: int,
    connect_timeout: float,
    command_timeout: float | None,
) -> Any:
    """A connection pool to ``url`` (``where`` names it in errors, without the password)."""
    if max_pool_size < 1 or not 0 <= min_pool_size <= max_pool_size:
        raise ValueError("need 0 <= min_pool_size <= max_pool_size and max_pool_size >= 1")
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=min_pool_size,
            max_size=max_pool_size,
            timeout=connect_timeout,
            command_timeout=command_timeout,
        )
    except DRIVER_ERRORS as exc:
        raise StorageError(
            f"cannot connect to PostgreSQL at {where}: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        # e.g. a malformed URL: the message could quote the URL, password included.
        raise StorageError(
            f"cannot connect to PostgreSQL at {where}: {type(exc).__name__}"
        ) from None
    return pool


async def migrate(conn: Any) -> None:
    """Bring the schema to ``LATEST_VERSION`` (``conn`` is in a transaction holding the
    migration lock; DDL is transactional)."""
    await conn.execute(SCHEMA_VERSION_TABLE)
    current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
    if current > LATEST_VERSION:
        raise StorageError(
            f"database schema version {current} is newer than this core supports ({LATEST_VERSION})"
        )
    for version, statements in POSTGRES_MIGRATIONS:
        if version <= current:
            continue
        for statement in statements:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
            version,
            int(time.time() * 1000),
        )
