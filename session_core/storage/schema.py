"""Schema, migrations and the small helpers both storage backends share.

Tables follow the SuperTokens core's (``session_info``, ``session_access_token_signing_keys``,
``jwt_signing_keys``, ``key_value``, ``user_last_active``), plus ``schema_version`` and
``session_revocations`` (the revocation feed, version 2; not a SuperTokens table).
JSON columns are ``TEXT`` holding JSON (not ``jsonb``): the text round-trips exactly and
both dialects treat it the same way.

Migrations are append-only: ``(version, statements)`` pairs, applied in order inside one
transaction each and recorded in ``schema_version``. Never edit a released entry; add one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from contextvars import ContextVar, Token
from typing import Any, Final, Generic, TypeVar

from session_common.json_values import JSONObject
from session_core.storage.base import DynamicKeyRow, RevocationRow, SessionRow, StaticKeyRow

SCHEMA_VERSION_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER NOT NULL PRIMARY KEY,"
    " applied_at BIGINT NOT NULL)"
)

# The two dialects only differ in spelling details, so version 1 is one text per dialect
# rather than a generator; that keeps each readable as plain SQL.
_V1_SQLITE: Final = (
    """CREATE TABLE session_info (
        session_handle VARCHAR(255) NOT NULL PRIMARY KEY,
        user_id VARCHAR(128) NOT NULL,
        refresh_token_hash_2 VARCHAR(128) NOT NULL,
        session_data TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        created_at_time BIGINT NOT NULL,
        jwt_user_payload TEXT NOT NULL,
        use_static_key BOOLEAN NOT NULL
    )""",
    "CREATE INDEX session_info_user_id_idx ON session_info (user_id, expires_at)",
    "CREATE INDEX session_info_expires_at_idx ON session_info (expires_at)",
    """CREATE TABLE session_access_token_signing_keys (
        created_at_time BIGINT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE jwt_signing_keys (
        key_id VARCHAR(255) NOT NULL PRIMARY KEY,
        key_string TEXT NOT NULL,
        algorithm VARCHAR(10) NOT NULL,
        created_at BIGINT NOT NULL
    )""",
    "CREATE INDEX jwt_signing_keys_algorithm_idx ON jwt_signing_keys (algorithm, created_at)",
    """CREATE TABLE key_value (
        name VARCHAR(128) NOT NULL PRIMARY KEY,
        value TEXT NOT NULL,
        created_at_time BIGINT NOT NULL
    )""",
    """CREATE TABLE user_last_active (
        user_id VARCHAR(128) NOT NULL PRIMARY KEY,
        last_active_time BIGINT NOT NULL
    )""",
)

# PostgreSQL accepts the same DDL; it is spelled out separately so a later
# dialect-specific change (e.g. a partial index) has an obvious place to go.
_V1_POSTGRES: Final = _V1_SQLITE

# Version 2: the revocation feed. ``seq`` orders the entries and is never reused: SQLite's
# AUTOINCREMENT never hands out a number again, even after the highest row is purged, and a
# PostgreSQL sequence (CACHE 1, the default: numbers in the order they are asked for, which
# the writers' advisory lock makes the commit order) never goes back.
_V2_SQLITE: Final = (
    """CREATE TABLE session_revocations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        session_handle VARCHAR(255) NOT NULL,
        revoked_at BIGINT NOT NULL,
        valid_until BIGINT NOT NULL
    )""",
    "CREATE INDEX session_revocations_valid_until_idx ON session_revocations (valid_until)",
)
_V2_POSTGRES: Final = (
    """CREATE TABLE session_revocations (
        seq BIGSERIAL NOT NULL PRIMARY KEY,
        session_handle VARCHAR(255) NOT NULL,
        revoked_at BIGINT NOT NULL,
        valid_until BIGINT NOT NULL
    )""",
    "CREATE INDEX session_revocations_valid_until_idx ON session_revocations (valid_until)",
)

SQLITE_MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (1, _V1_SQLITE),
    (2, _V2_SQLITE),
)
POSTGRES_MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (1, _V1_POSTGRES),
    (2, _V2_POSTGRES),
)
LATEST_VERSION: Final = 2


def encode_json(value: JSONObject) -> str:
    """JSON text for a JSON column.

    ``ensure_ascii`` stays on: lone surrogates (valid in Python strings decoded from JSON
    escapes) would otherwise be unencodable as UTF-8 and PostgreSQL would reject the row.
    """
    return json.dumps(value, separators=(",", ":"))


def decode_json(text: str) -> JSONObject:
    value: Any = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("JSON column does not hold an object")
    return value


T = TypeVar("T")


class HeldConnection(Generic[T]):
    """Which connection the current task holds inside a ``lock_session`` block.

    Reads issued inside the block run on that connection: otherwise, on PostgreSQL, a
    block waiting for a pool connection while its siblings wait for its row lock would
    deadlock, and on SQLite reads would miss the block's own uncommitted update. Writes
    inside the block are refused: on SQLite they would wait for the (non-reentrant) write
    lock the block holds, on PostgreSQL they could wait for the block's own row lock.

    The holder is the *task*: tasks created inside the block inherit the context
    variable but are outsiders, so they use their own connections and simply wait.
    """

    def __init__(self, name: str) -> None:
        self._var: ContextVar[tuple[asyncio.Task[Any] | None, T] | None] = ContextVar(
            name, default=None
        )

    def get(self) -> T | None:
        held = self._var.get()
        if held is None or held[0] is not asyncio.current_task():
            return None
        return held[1]

    def set(self, conn: T) -> Token[tuple[asyncio.Task[Any] | None, T] | None]:
        return self._var.set((asyncio.current_task(), conn))

    def reset(self, token: Token[tuple[asyncio.Task[Any] | None, T] | None]) -> None:
        self._var.reset(token)

    def refuse_write(self, method: str) -> None:
        if self.get() is not None:
            raise RuntimeError(
                f"{method}() called inside a lock_session block of the same storage; "
                "it would deadlock. Call it after the block exits."
            )


# -- rows -> records (both drivers return positional rows in the column order of the SELECTs) --
def session_from_row(r: Sequence[Any]) -> SessionRow:
    return SessionRow(
        session_handle=str(r[0]),
        user_id=str(r[1]),
        refresh_token_hash_2=str(r[2]),
        session_data=decode_json(r[3]),
        expires_at=int(r[4]),
        created_at_time=int(r[5]),
        jwt_user_payload=decode_json(r[6]),
        use_static_key=bool(r[7]),
    )


def dynamic_keys_from_rows(rows: Iterable[Sequence[Any]]) -> list[DynamicKeyRow]:
    return [DynamicKeyRow(created_at_time=int(r[0]), value=str(r[1])) for r in rows]


def static_keys_from_rows(rows: Iterable[Sequence[Any]]) -> list[StaticKeyRow]:
    return [
        StaticKeyRow(
            key_id=str(r[0]), key_string=str(r[1]), algorithm=str(r[2]), created_at=int(r[3])
        )
        for r in rows
    ]


def revocations_from_rows(rows: Iterable[Sequence[Any]]) -> list[RevocationRow]:
    return [
        RevocationRow(
            seq=int(r[0]), session_handle=str(r[1]), revoked_at=int(r[2]), valid_until=int(r[3])
        )
        for r in rows
    ]
