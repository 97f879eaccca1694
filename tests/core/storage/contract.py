"""What the storage contract tests share: rows to store, key makers, and the database read
and written behind the storage's back with the plain drivers."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from session_core.storage import DynamicKeyRow, SessionRow, StaticKeyRow

NOW = 1_700_000_000_000


async def raw_fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Query the database behind the storage's back, with the plain driver."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :])
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    pg = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await pg.fetch(sql)]
    finally:
        await pg.close()


async def raw_execute(url: str, sql: str) -> None:
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        try:
            conn.execute(sql)
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(url)
    try:
        await pg.execute(sql)
    finally:
        await pg.close()


async def user_last_active(url: str, user_id: str) -> int | None:
    """The ``user_last_active`` time the core wrote for ``user_id`` (on create and refresh,
    as the SuperTokens core does), or None."""
    assert "'" not in user_id
    rows = await raw_fetch(
        url, f"SELECT last_active_time FROM user_last_active WHERE user_id = '{user_id}'"
    )
    return int(rows[0][0]) if rows else None


def session(
    handle: str | None = None,
    *,
    user_id: str = "user-1",
    expires_at: int = NOW + 3_600_000,
    created_at_time: int = NOW,
    refresh_token_hash_2: str = "0" * 64,
    session_data: dict[str, Any] | None = None,
    jwt_user_payload: dict[str, Any] | None = None,
    use_static_key: bool = False,
) -> SessionRow:
    return SessionRow(
        session_handle=handle or str(uuid.uuid4()),
        user_id=user_id,
        refresh_token_hash_2=refresh_token_hash_2,
        session_data={"k": "v"} if session_data is None else session_data,
        expires_at=expires_at,
        created_at_time=created_at_time,
        jwt_user_payload={"role": "admin"} if jwt_user_payload is None else jwt_user_payload,
        use_static_key=use_static_key,
    )


def dyn_maker(created_at: int, calls: list[int]) -> Callable[[], Awaitable[DynamicKeyRow]]:
    async def make() -> DynamicKeyRow:
        calls.append(created_at)
        return DynamicKeyRow(
            created_at_time=created_at, value=f"pub-{created_at}|priv-{created_at}"
        )

    return make


def static_maker(
    algorithm: str = "RS256", created_at: int = NOW, calls: list[str] | None = None
) -> Callable[[], Awaitable[StaticKeyRow]]:
    async def make() -> StaticKeyRow:
        key_id = f"s-{uuid.uuid4()}"
        if calls is not None:
            calls.append(key_id)
        return StaticKeyRow(
            key_id=key_id, key_string=f"pub|{key_id}", algorithm=algorithm, created_at=created_at
        )

    return make


def never_called() -> str:
    raise AssertionError("make_value must not be called when the value exists")
