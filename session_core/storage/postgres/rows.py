"""What ``PostgresStorage`` does on a connection: its statements and advisory-lock keys,
the locked session of ``lock_session`` and the revocation feed's statements.

Why a feed read never skips an entry: PostgreSQL hands out sequence values when asked, but
transactions commit in any order, so a reader could see entry 7 committed while entry 6 is
still in flight, move its cursor past 6, and never see it. Here every transaction that
records entries first takes one transaction-scoped advisory lock (``LOCK_REVOCATIONS``) and
only then asks for its sequence values, holding the lock until it commits; PostgreSQL makes a
commit visible before it releases the transaction's locks. So entries commit in ``seq``
order, across every core on the database, and any snapshot sees a prefix of them (with gaps
only where a transaction rolled back): a cursor at the last ``seq`` read is never ahead of
an entry still to come. The price is that revocations commit one transaction at a time;
each holds the lock for its insert, its ``NOTIFY`` and its commit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from session_core.storage.base import RevocationRow, SessionRow
from session_core.storage.postgres.connections import DRIVER_ERRORS, rowcount, storage_error
from session_core.storage.schema import revocations_from_rows

# Advisory-lock keys ("SESS" + a small number); any constants would do, they only have to
# be distinct from each other and from locks other software takes in the same database.
LOCK_MIGRATE: Final = 0x5345_5353_0000_0001
LOCK_DYNAMIC_KEYS: Final = 0x5345_5353_0000_0002
LOCK_STATIC_KEYS: Final = 0x5345_5353_0000_0003
LOCK_REVOCATIONS: Final = 0x5345_5353_0000_0004

_SESSION_COLUMNS: Final = (
    "session_handle, user_id, refresh_token_hash_2, session_data, expires_at,"
    " created_at_time, jwt_user_payload, use_static_key"
)
SELECT_SESSION: Final = f"SELECT {_SESSION_COLUMNS} FROM session_info WHERE session_handle = $1"  # noqa: S608
INSERT_SESSION: Final = (
    f"INSERT INTO session_info ({_SESSION_COLUMNS})"  # noqa: S608
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
SELECT_DYNAMIC: Final = (
    "SELECT created_at_time, value FROM session_access_token_signing_keys"
    " ORDER BY created_at_time DESC"
)
SELECT_STATIC: Final = (
    "SELECT key_id, key_string, algorithm, created_at FROM jwt_signing_keys"
    " WHERE algorithm = $1 ORDER BY created_at DESC, key_id DESC"
)
# The LISTEN/NOTIFY channel of the feed; the payload is empty: listeners re-read the table.
CHANNEL: Final = "session_core_revocations"


async def record_revocations(
    conn: Any, handles: list[str], revoked_at: int, valid_until: int
) -> None:
    """Add a feed entry per handle and notify listeners, in the caller's transaction (the
    notification is delivered when it commits)."""
    if not handles:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_REVOCATIONS)
    await conn.execute(
        "INSERT INTO session_revocations (session_handle, revoked_at, valid_until)"
        " SELECT h, $2::bigint, $3::bigint"
        " FROM unnest($1::varchar[]) WITH ORDINALITY AS t(h, n) ORDER BY n",
        handles,
        revoked_at,
        valid_until,
    )
    await conn.execute(f"NOTIFY {CHANNEL}")


async def read_feed(conn: Any, after_seq: int, now_ms: int, limit: int) -> list[RevocationRow]:
    return revocations_from_rows(
        await conn.fetch(
            "SELECT seq, session_handle, revoked_at, valid_until FROM session_revocations"
            " WHERE seq > $1 AND valid_until > $2 ORDER BY seq LIMIT $3",
            after_seq,
            now_ms,
            limit,
        )
    )


async def purge_feed(conn: Any, now_ms: int, batch: int) -> int:
    """One bounded batch; cores purging at once skip each other's locked rows."""
    status = await conn.execute(
        "DELETE FROM session_revocations WHERE seq IN (SELECT seq FROM session_revocations"
        " WHERE valid_until < $1 ORDER BY valid_until LIMIT $2 FOR UPDATE SKIP LOCKED)",
        now_ms,
        batch,
    )
    return rowcount(status)


class LockedRow:
    """The ``LockedSession`` handed out by ``PostgresStorage.lock_session``."""

    def __init__(self, conn: Any, row: SessionRow | None) -> None:
        self._conn = conn
        self._row = row
        self._open = True

    @property
    def row(self) -> SessionRow | None:
        return self._row

    async def set_refresh_token_hash_2(self, refresh_token_hash_2: str, expires_at: int) -> None:
        if not self._open:
            raise RuntimeError("the lock_session block has already exited")
        if self._row is None:
            raise LookupError("no session row is locked, nothing to update")
        try:
            await self._conn.execute(
                "UPDATE session_info SET refresh_token_hash_2 = $1, expires_at = $2"
                " WHERE session_handle = $3",
                refresh_token_hash_2,
                expires_at,
                self._row.session_handle,
            )
        except DRIVER_ERRORS as exc:
            raise storage_error("set_refresh_token_hash_2", exc) from exc
        self._row = replace(
            self._row, refresh_token_hash_2=refresh_token_hash_2, expires_at=expires_at
        )

    def close(self) -> None:
        self._open = False
