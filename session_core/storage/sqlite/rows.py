"""What ``SQLiteStorage`` does on a connection inside one of its transactions: the locked
session of ``lock_session`` and the revocation feed's statements."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Final

import aiosqlite

from session_core.storage.base import RevocationRow, SessionRow
from session_core.storage.schema import revocations_from_rows
from session_core.storage.sqlite.connections import count, fetch, storage_error

SELECT_REVOCATIONS: Final = (
    "SELECT seq, session_handle, revoked_at, valid_until FROM session_revocations"
    " WHERE seq > ? AND valid_until > ? ORDER BY seq LIMIT ?"
)


async def record_revocations(
    conn: aiosqlite.Connection, handles: list[str], revoked_at: int, valid_until: int
) -> None:
    """Add a feed entry per handle, in the caller's (open) write transaction: SQLite has one
    writer at a time, so entries commit in ``seq`` order."""
    await conn.executemany(
        "INSERT INTO session_revocations (session_handle, revoked_at, valid_until)"
        " VALUES (?, ?, ?)",
        [(h, revoked_at, valid_until) for h in handles],
    )


async def read_feed(
    conn: aiosqlite.Connection, after_seq: int, now_ms: int, limit: int
) -> list[RevocationRow]:
    return revocations_from_rows(await fetch(conn, SELECT_REVOCATIONS, (after_seq, now_ms, limit)))


async def purge_feed(conn: aiosqlite.Connection, now_ms: int, batch: int) -> int:
    return await count(
        conn,
        "DELETE FROM session_revocations WHERE seq IN (SELECT seq FROM session_revocations"
        " WHERE valid_until < ? ORDER BY valid_until LIMIT ?)",
        (now_ms, batch),
    )


class LockedRow:
    """The ``LockedSession`` handed out by ``SQLiteStorage.lock_session``."""

    def __init__(self, conn: aiosqlite.Connection, row: SessionRow | None) -> None:
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
            await fetch(
                self._conn,
                "UPDATE session_info SET refresh_token_hash_2 = ?, expires_at = ?"
                " WHERE session_handle = ?",
                (refresh_token_hash_2, expires_at, self._row.session_handle),
            )
        except sqlite3.Error as exc:
            raise storage_error("set_refresh_token_hash_2", exc) from exc
        self._row = replace(
            self._row, refresh_token_hash_2=refresh_token_hash_2, expires_at=expires_at
        )

    def close(self) -> None:
        self._open = False
