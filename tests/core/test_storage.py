"""Storage contract tests, run against real SQLite files and real PostgreSQL databases.

Every test that takes ``database_url`` runs on both backends (see tests/conftest.py).
Concurrency tests rely on the implementation's locks only: no sleeps, and each one
would observe lost updates, duplicate keys or a wrong event order if a lock were missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from session_core.storage import (
    DynamicKeyRow,
    SessionRow,
    StaticKeyRow,
    Storage,
    StorageError,
    UnsupportedDatabaseURL,
    open_storage,
)
from session_core.storage.postgres import PostgresStorage
from session_core.storage.sqlite import SQLiteStorage

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = 1_700_000_000_000


# -- helpers ------------------------------------------------------------------------------------
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


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    s = await open_storage(database_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def second(database_url: str, storage: Storage) -> AsyncIterator[Storage]:
    """A second, independent Storage on the same database: another core process."""
    s = await open_storage(database_url)
    try:
        yield s
    finally:
        await s.close()


# -- opening, schema, migrations ----------------------------------------------------------------
async def test_open_picks_backend_and_records_schema_version(
    database_url: str, backend: str, storage: Storage
) -> None:
    expected = SQLiteStorage if backend == "sqlite" else PostgresStorage
    assert type(storage) is expected
    assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,)]
    assert isinstance(storage, (SQLiteStorage, PostgresStorage))
    assert await storage.schema_version() == 1
    tables = {
        "session_info",
        "session_access_token_signing_keys",
        "jwt_signing_keys",
        "key_value",
        "user_last_active",
    }
    for table in tables:  # each table exists and is empty
        assert await raw_fetch(database_url, f"SELECT COUNT(*) FROM {table}") == [(0,)]


async def test_reopen_is_idempotent_and_keeps_data(database_url: str) -> None:
    first = await open_storage(database_url)
    row = session("keep-me")
    await first.insert_session(row)
    await first.get_or_create_value("refresh_token_key", lambda: "master", NOW)
    await first.close()
    for _ in range(2):
        again = await open_storage(database_url)
        try:
            assert await again.get_session("keep-me") == row
            assert await again.get_or_create_value("refresh_token_key", never_called, NOW) == (
                "master"
            )
        finally:
            await again.close()
    assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,)]


async def test_concurrent_opens_migrate_once(database_url: str) -> None:
    storages = await asyncio.gather(*(open_storage(database_url) for _ in range(6)))
    try:
        assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,)]
        await storages[0].insert_session(session("shared"))
        for s in storages:
            assert (await s.get_session("shared")) is not None
    finally:
        await asyncio.gather(*(s.close() for s in storages))


async def test_simultaneous_first_opens_of_a_fresh_sqlite_file(tmp_path: Path) -> None:
    """Converting a fresh file to WAL races without the setup lock ("database is locked" in
    about one round of twenty); every round here must open all four storages."""
    for round_number in range(20):
        url = f"sqlite:///{tmp_path / f'fresh-{round_number}.db'}"
        storages = await asyncio.gather(*(open_storage(url) for _ in range(4)))
        await asyncio.gather(*(s.close() for s in storages))


async def test_newer_schema_is_refused(database_url: str) -> None:
    s = await open_storage(database_url)
    await s.close()
    await raw_execute(
        database_url, "INSERT INTO schema_version (version, applied_at) VALUES (99, 0)"
    )
    with pytest.raises(StorageError, match="newer"):
        await open_storage(database_url)


async def test_ping_and_closed_storage(database_url: str) -> None:
    s = await open_storage(database_url)
    await s.ping()
    await s.close()
    await s.close()  # idempotent
    with pytest.raises(StorageError):
        await s.ping()
    with pytest.raises(StorageError):
        await s.get_session("x")


async def test_unsupported_urls() -> None:
    with pytest.raises(UnsupportedDatabaseURL):
        await open_storage("mysql://root@localhost/db")
    with pytest.raises(UnsupportedDatabaseURL):
        await open_storage("sqlite:///:memory:")
    with pytest.raises(UnsupportedDatabaseURL):
        await open_storage("sqlite://")


async def test_unreachable_postgres_is_storage_error_without_password() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/nothing"
    with pytest.raises(StorageError) as info:
        await open_storage(url)
    assert "127.0.0.1:1" in str(info.value)
    assert "s3cret-pw" not in str(info.value)
    assert "s3cret-pw" not in repr(info.value.__cause__)


async def test_postgres_data_error_does_not_quote_the_value(postgres_url: str) -> None:
    """Data errors quote the value they refused (here asyncpg's own, for an argument it
    cannot encode); the value could be a key or a token, so the message is withheld."""
    storage = await open_storage(postgres_url)
    try:
        with pytest.raises(StorageError) as info:
            await storage.get_or_create_value("name", lambda: "value", "not-a-time-secret")  # type: ignore[arg-type]
    finally:
        await storage.close()
    assert "DataError" in str(info.value)
    assert "not-a-time-secret" not in str(info.value)


async def test_unopenable_sqlite_is_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError):
        await open_storage(f"sqlite:///{blocker}/core.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database file" * 200)
    with pytest.raises(StorageError):
        await open_storage(f"sqlite:///{garbage}")


async def test_sqlite_file_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = await open_storage("sqlite:///nested/dir/core.db")  # relative to the cwd
    try:
        path = tmp_path / "nested" / "dir" / "core.db"
        assert path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds private keys
        await s.insert_session(session("rel"))
        assert await raw_fetch(f"sqlite:///{path}", "PRAGMA journal_mode") == [("wal",)]
        assert isinstance(s, SQLiteStorage)
        # synchronous is per connection: ask the writer itself (2 = FULL).
        assert list(await s._writer.execute_fetchall("PRAGMA synchronous")) == [(2,)]
        assert await raw_fetch(f"sqlite:///{path}", "SELECT session_handle FROM session_info") == [
            ("rel",)
        ]
    finally:
        await s.close()


async def test_postgres_pool_size_keyword(postgres_url: str) -> None:
    s = await PostgresStorage.open(postgres_url, max_pool_size=2)
    try:
        await s.insert_session(session("p"))
        assert (await s.get_session("p")) is not None
    finally:
        await s.close()
    with pytest.raises(ValueError):
        await PostgresStorage.open(postgres_url, max_pool_size=0)


# -- sessions -----------------------------------------------------------------------------------
async def test_insert_get_round_trips_json(storage: Storage) -> None:
    tricky: dict[str, Any] = {
        "nested": {"list": [1, 2.5, None, True, {"deep": [[], {}]}], "null": None},
        "unicode": "héllo wörld ✓ 日本語 🎉",
        "escapes": 'quote " backslash \\ newline \n nul \x00 tab \t',
        "lone_surrogate": "\ud800",
        "big": 2**62,
        "neg": -1,
        "empty": "",
        "ключ": "значение",
    }
    a = session("a", session_data=tricky, jwt_user_payload={"sub_claim": None, "x": [tricky]})
    b = session("b", session_data={}, jwt_user_payload={}, use_static_key=True)
    await storage.insert_session(a)
    await storage.insert_session(b)
    got_a = await storage.get_session("a")
    got_b = await storage.get_session("b")
    assert got_a == a
    assert got_b == b
    assert got_a is not None and got_a.use_static_key is False
    assert got_b is not None and got_b.use_static_key is True
    assert await storage.get_session("missing") is None


async def test_json_stored_as_json_text(database_url: str, storage: Storage) -> None:
    await storage.insert_session(session("j", session_data={"a": [1, None]}))
    [(data, payload)] = await raw_fetch(
        database_url, "SELECT session_data, jwt_user_payload FROM session_info"
    )
    assert json.loads(data) == {"a": [1, None]}
    assert json.loads(payload) == {"role": "admin"}


async def test_duplicate_insert_is_storage_error(storage: Storage) -> None:
    original = session("dup", user_id="first")
    await storage.insert_session(original)
    with pytest.raises(StorageError):
        await storage.insert_session(session("dup", user_id="second"))
    assert await storage.get_session("dup") == original
    await storage.insert_session(session("after"))  # the writer is usable again


async def test_update_session(storage: Storage) -> None:
    row = session("u", expires_at=NOW + 10)
    await storage.insert_session(row)

    assert await storage.update_session("u", now_ms=NOW, session_data={"new": 1}) is True
    got = await storage.get_session("u")
    assert got is not None
    assert got.session_data == {"new": 1}
    assert got.jwt_user_payload == row.jwt_user_payload  # untouched

    assert await storage.update_session("u", now_ms=NOW, jwt_user_payload={"p": [None]}) is True
    got = await storage.get_session("u")
    assert got is not None
    assert (got.session_data, got.jwt_user_payload) == ({"new": 1}, {"p": [None]})

    both = await storage.update_session(
        "u", now_ms=NOW + 9, session_data={"s": 2}, jwt_user_payload={"j": 3}
    )
    assert both is True
    got = await storage.get_session("u")
    assert got is not None
    assert (got.session_data, got.jwt_user_payload) == ({"s": 2}, {"j": 3})
    assert (got.refresh_token_hash_2, got.expires_at) == (row.refresh_token_hash_2, row.expires_at)

    # expires_at == now is no longer live: nothing changes.
    assert await storage.update_session("u", now_ms=NOW + 10, session_data={"late": 1}) is False
    got = await storage.get_session("u")
    assert got is not None and got.session_data == {"s": 2}

    assert await storage.update_session("nope", now_ms=NOW, session_data={"x": 1}) is False
    # Nothing to change: the answer is whether a live row exists.
    assert await storage.update_session("u", now_ms=NOW) is True
    assert await storage.update_session("u", now_ms=NOW + 10) is False
    assert await storage.update_session("nope", now_ms=NOW) is False


async def test_delete_sessions_returns_exactly_the_deleted(storage: Storage) -> None:
    for h in ("a", "b", "c"):
        await storage.insert_session(session(h))
    assert await storage.delete_sessions([]) == []
    assert await storage.delete_sessions(["c", "missing", "a", "c"]) == ["c", "a"]
    assert await storage.get_session("a") is None
    assert await storage.get_session("c") is None
    assert await storage.get_session("b") is not None
    assert await storage.delete_sessions(["a", "c"]) == []  # already gone
    assert await storage.delete_sessions(["b"]) == ["b"]


async def test_delete_many_sessions(storage: Storage) -> None:
    handles = [f"h{i:04d}" for i in range(1200)]  # more than one SQLite IN-chunk
    for h in handles:
        await storage.insert_session(session(h))
    ask = [*handles[::2], "absent-1", "absent-2"]
    assert await storage.delete_sessions(ask) == handles[::2]
    assert await storage.get_session_handles_of_user("user-1", NOW) == handles[1::2]


async def test_user_sessions_boundaries(storage: Storage) -> None:
    await storage.insert_session(
        session("live", user_id="u", expires_at=NOW + 1, created_at_time=1)
    )
    await storage.insert_session(session("edge", user_id="u", expires_at=NOW, created_at_time=2))
    await storage.insert_session(
        session("dead", user_id="u", expires_at=NOW - 1, created_at_time=3)
    )
    await storage.insert_session(session("other", user_id="v", expires_at=NOW + 1))

    assert await storage.get_session_handles_of_user("u", NOW) == ["live", "edge"]
    assert await storage.get_session_handles_of_user("nobody", NOW) == []

    assert sorted(await storage.delete_sessions_of_user("u", NOW)) == ["edge", "live"]
    assert await storage.get_session("dead") is not None  # expired rows are left to the cron
    assert await storage.get_session("other") is not None
    assert await storage.delete_sessions_of_user("u", NOW) == []


async def test_delete_expired_sessions(storage: Storage) -> None:
    await storage.insert_session(session("past", expires_at=NOW - 1))
    await storage.insert_session(session("edge", expires_at=NOW))
    await storage.insert_session(session("future", expires_at=NOW + 1))
    assert await storage.delete_expired_sessions(NOW) == 2
    assert await storage.get_session("past") is None
    assert await storage.get_session("edge") is None
    assert await storage.get_session("future") is not None
    assert await storage.delete_expired_sessions(NOW) == 0


async def test_user_last_active(storage: Storage) -> None:
    assert await storage.get_user_last_active("u") is None
    await storage.update_user_last_active("u", NOW)
    await storage.update_user_last_active("v", NOW + 5)
    assert await storage.get_user_last_active("u") == NOW
    await storage.update_user_last_active("u", NOW + 7)
    assert await storage.get_user_last_active("u") == NOW + 7
    assert await storage.get_user_last_active("v") == NOW + 5


# -- lock_session -------------------------------------------------------------------------------
async def test_lock_session_promotes_and_commits(storage: Storage, second: Storage) -> None:
    row = session("l", refresh_token_hash_2="old", expires_at=NOW)
    await storage.insert_session(row)
    async with storage.lock_session("l") as locked:
        assert locked.row == row
        await locked.set_refresh_token_hash_2("new", NOW + 99)
        assert locked.row is not None
        assert (locked.row.refresh_token_hash_2, locked.row.expires_at) == ("new", NOW + 99)
        # Inside the block, reads of this storage see the block's own update.
        inside = await storage.get_session("l")
        assert inside is not None and inside.refresh_token_hash_2 == "new"
    got = await second.get_session("l")  # committed: another process sees it
    assert got is not None
    assert (got.refresh_token_hash_2, got.expires_at) == ("new", NOW + 99)
    assert (got.session_data, got.user_id) == (row.session_data, row.user_id)
    with pytest.raises(RuntimeError):
        await locked.set_refresh_token_hash_2("after-exit", 0)


async def test_lock_session_missing_row(storage: Storage) -> None:
    async with storage.lock_session("ghost") as locked:
        assert locked.row is None
        with pytest.raises(LookupError):
            await locked.set_refresh_token_hash_2("x", NOW)
    assert await storage.get_session("ghost") is None


async def test_lock_session_rolls_back_on_exception(storage: Storage, second: Storage) -> None:
    row = session("r", refresh_token_hash_2="before", expires_at=NOW)
    await storage.insert_session(row)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with storage.lock_session("r") as locked:
            await locked.set_refresh_token_hash_2("during", NOW + 1)
            raise Boom
    assert await storage.get_session("r") == row
    assert await second.get_session("r") == row
    # The lock was released: the next block can write.
    async with storage.lock_session("r") as locked:
        await locked.set_refresh_token_hash_2("later", NOW + 2)
    got = await second.get_session("r")
    assert got is not None and got.refresh_token_hash_2 == "later"


async def test_cancelled_lock_block_rolls_back(storage: Storage, second: Storage) -> None:
    row = session("z", refresh_token_hash_2="before")
    await storage.insert_session(row)
    entered = asyncio.Event()
    never = asyncio.Event()

    async def holder() -> None:
        async with storage.lock_session("z") as locked:
            await locked.set_refresh_token_hash_2("during", NOW + 1)
            entered.set()
            await never.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await storage.get_session("z") == row
    assert await second.get_session("z") == row
    async with storage.lock_session("z") as locked:  # lock and connection were released
        await locked.set_refresh_token_hash_2("after", NOW + 2)
    got = await second.get_session("z")
    assert got is not None and got.refresh_token_hash_2 == "after"


async def test_writes_inside_own_lock_block_are_refused(storage: Storage) -> None:
    await storage.insert_session(session("w"))
    async with storage.lock_session("w") as locked:
        with pytest.raises(RuntimeError, match="deadlock"):
            await storage.update_user_last_active("u", NOW)
        with pytest.raises(RuntimeError, match="deadlock"):
            await storage.delete_sessions(["w"])
        with pytest.raises(RuntimeError, match="deadlock"):
            async with storage.lock_session("w"):
                pass
        await locked.set_refresh_token_hash_2("still-fine", NOW)
    got = await storage.get_session("w")
    assert got is not None and got.refresh_token_hash_2 == "still-fine"
    await storage.update_user_last_active("u", NOW)  # fine after the block


async def test_lock_session_excludes_other_writers_to_the_row(storage: Storage) -> None:
    """A task started inside the block that writes the row must wait for the block."""
    await storage.insert_session(session("x", refresh_token_hash_2="0", session_data={"v": 0}))
    events: list[str] = []

    async def writer() -> None:
        assert await storage.update_session("x", now_ms=NOW, session_data={"v": 1})
        events.append("writer-done")

    async with storage.lock_session("x") as locked:
        events.append("block-start")
        task = asyncio.create_task(writer())
        for _ in range(5):  # each read goes to the database and lets the writer run
            assert (await storage.get_session("x")) is not None
        await locked.set_refresh_token_hash_2("1", NOW + 1)
        events.append("block-end")
    await task
    assert events == ["block-start", "block-end", "writer-done"]
    got = await storage.get_session("x")
    assert got is not None
    assert (got.refresh_token_hash_2, got.session_data) == ("1", {"v": 1})


async def _increment(storage: Storage, handle: str) -> None:
    async with storage.lock_session(handle) as locked:
        assert locked.row is not None
        value = int(locked.row.refresh_token_hash_2)
        await storage.get_session(handle)  # a round trip inside the block invites interleaving
        await locked.set_refresh_token_hash_2(str(value + 1), locked.row.expires_at + 1)


async def test_concurrent_lock_session_serialises(storage: Storage, second: Storage) -> None:
    await storage.insert_session(session("c", refresh_token_hash_2="0", expires_at=0))
    await asyncio.gather(
        *(_increment(storage, "c") for _ in range(20)),
        *(_increment(second, "c") for _ in range(10)),  # another "process"
    )
    got = await storage.get_session("c")
    assert got is not None
    assert (got.refresh_token_hash_2, got.expires_at) == ("30", 30)


async def test_lock_session_with_tiny_pool_does_not_deadlock(postgres_url: str) -> None:
    """All pool connections waiting for the row lock must not starve the holder's reads."""
    s = await PostgresStorage.open(postgres_url, max_pool_size=2)
    try:
        await s.insert_session(session("t", refresh_token_hash_2="0", expires_at=0))
        async with asyncio.timeout(60):
            await asyncio.gather(*(_increment(s, "t") for _ in range(12)))
        got = await s.get_session("t")
        assert got is not None and got.refresh_token_hash_2 == "12"
    finally:
        await s.close()


# -- key/value ----------------------------------------------------------------------------------
async def test_get_or_create_value(storage: Storage, second: Storage) -> None:
    calls: list[str] = []

    def make() -> str:
        calls.append("x")
        return "secret-1"

    assert await storage.get_or_create_value("refresh_token_key", make, NOW) == "secret-1"
    assert await storage.get_or_create_value("refresh_token_key", never_called, NOW) == "secret-1"
    assert await second.get_or_create_value("refresh_token_key", never_called, NOW) == "secret-1"
    assert await storage.get_or_create_value("other", lambda: "secret-2", NOW) == "secret-2"
    assert calls == ["x"]


async def test_concurrent_get_or_create_value_agrees(
    database_url: str, storage: Storage, second: Storage
) -> None:
    counter = iter(range(1000))

    def make() -> str:
        return f"candidate-{next(counter)}"

    results = await asyncio.gather(
        *(s.get_or_create_value("k", make, NOW) for s in [storage, second] * 15)
    )
    assert len(set(results)) == 1
    assert await raw_fetch(database_url, "SELECT value FROM key_value WHERE name = 'k'") == [
        (results[0],)
    ]


# -- dynamic keys -------------------------------------------------------------------------------
async def test_dynamic_keys(storage: Storage, second: Storage) -> None:
    calls: list[int] = []
    assert await storage.get_dynamic_keys() == []

    keys = await storage.add_dynamic_key_unless_newer_exists(dyn_maker(1000, calls), 500)
    assert [k.created_at_time for k in keys] == [1000]
    assert keys[0].value == "pub-1000|priv-1000"

    # A key with created_at_time >= newer_than exists (boundary: equal): nothing is made.
    keys = await second.add_dynamic_key_unless_newer_exists(dyn_maker(2000, calls), 1000)
    assert [k.created_at_time for k in keys] == [1000]
    assert calls == [1000]

    keys = await second.add_dynamic_key_unless_newer_exists(dyn_maker(2000, calls), 1001)
    assert [k.created_at_time for k in keys] == [2000, 1000]  # newest first
    keys = await storage.add_dynamic_key_unless_newer_exists(dyn_maker(3000, calls), 2500)
    assert [k.created_at_time for k in keys] == [3000, 2000, 1000]
    assert calls == [1000, 2000, 3000]
    assert await second.get_dynamic_keys() == keys

    assert await storage.delete_dynamic_keys_older_than(2000) == 1  # strictly older
    assert [k.created_at_time for k in await second.get_dynamic_keys()] == [3000, 2000]
    assert await storage.delete_dynamic_keys_older_than(2000) == 0
    assert await storage.delete_dynamic_keys_older_than(10_000) == 2
    assert await storage.get_dynamic_keys() == []


async def test_concurrent_dynamic_key_creation_adds_one(storage: Storage, second: Storage) -> None:
    calls: list[int] = []

    async def make() -> DynamicKeyRow:
        calls.append(1)
        await asyncio.sleep(0)  # yield inside make_key, as real key generation would
        return DynamicKeyRow(created_at_time=NOW + len(calls), value=f"key-{len(calls)}")

    results = await asyncio.gather(
        *(s.add_dynamic_key_unless_newer_exists(make, NOW) for s in [storage, second] * 25)
    )
    assert calls == [1]
    assert all(r == results[0] for r in results)
    assert [k.created_at_time for k in results[0]] == [NOW + 1]
    assert await storage.get_dynamic_keys() == results[0]


async def test_make_key_failure_adds_nothing(storage: Storage) -> None:
    async def broken() -> DynamicKeyRow:
        raise ValueError("rng broke")

    with pytest.raises(ValueError, match="rng broke"):
        await storage.add_dynamic_key_unless_newer_exists(broken, NOW)
    assert await storage.get_dynamic_keys() == []
    keys = await storage.add_dynamic_key_unless_newer_exists(dyn_maker(NOW, []), NOW)
    assert len(keys) == 1


# -- static keys --------------------------------------------------------------------------------
async def test_static_keys(database_url: str, storage: Storage, second: Storage) -> None:
    assert await storage.get_static_keys("RS256") == []
    first = await storage.add_static_key_unless_exists(static_maker("RS256", NOW))
    assert len(first) == 1 and first[0].algorithm == "RS256"
    # A second candidate of the same algorithm is dropped.
    again = await second.add_static_key_unless_exists(static_maker("RS256", NOW + 1))
    assert again == first
    other = await second.add_static_key_unless_exists(static_maker("ES256", NOW + 2))
    assert [k.algorithm for k in other] == ["ES256"]
    assert await storage.get_static_keys("RS256") == first
    assert await storage.get_static_keys("PS512") == []

    # Several rows of one algorithm (a legacy migration can leave two): newest first.
    await raw_execute(
        database_url,
        "INSERT INTO jwt_signing_keys (key_id, key_string, algorithm, created_at)"
        f" VALUES ('s-newer', 'pub|newer', 'RS256', {NOW + 50})",
    )
    keys = await second.get_static_keys("RS256")
    assert [k.key_id for k in keys] == ["s-newer", first[0].key_id]
    assert keys[0] == StaticKeyRow("s-newer", "pub|newer", "RS256", NOW + 50)


async def test_concurrent_static_key_creation_stores_one(
    database_url: str, storage: Storage, second: Storage
) -> None:
    results = await asyncio.gather(
        *(
            s.add_static_key_unless_exists(static_maker("RS256", NOW + i))
            for i, s in enumerate([storage, second] * 10)
        )
    )
    assert all(r == results[0] for r in results)
    assert len(results[0]) == 1
    assert await raw_fetch(database_url, "SELECT COUNT(*) FROM jwt_signing_keys") == [(1,)]


# -- several processes --------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from session_core.storage import DynamicKeyRow, SessionRow, open_storage

    async def main(url: str, mode: str) -> None:
        storage = await open_storage(url)
        if mode == "race":
            pid = os.getpid()

            async def make() -> DynamicKeyRow:
                return DynamicKeyRow(created_at_time=pid, value=f"from-{pid}")

            keys = await storage.add_dynamic_key_unless_newer_exists(make, 0)
            value = await storage.get_or_create_value("k", lambda: f"v-{pid}", 0)
            await storage.close()
            print(json.dumps({"keys": [k.created_at_time for k in keys], "value": value}))
        else:  # "kill": acknowledge a write, then die without closing anything
            row = SessionRow("durable", "u", "h2", {"a": 1}, 10**15, 1, {}, False)
            await storage.insert_session(row)
            print("written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def run_child(url: str, mode: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        url,
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=REPO_ROOT,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    if mode == "race":
        assert proc.returncode == 0, err.decode()
    return proc.returncode, out.decode()


async def test_processes_race_on_a_fresh_database(database_url: str) -> None:
    """Separate OS processes open (and migrate) a fresh database at the same time and race
    to create the dynamic key and the master key: all end up with the same ones."""
    outputs = await asyncio.gather(*(run_child(database_url, "race") for _ in range(4)))
    results = [json.loads(out) for _, out in outputs]
    assert all(len(r["keys"]) == 1 for r in results)
    assert len({r["keys"][0] for r in results}) == 1
    assert len({r["value"] for r in results}) == 1
    assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,)]
    assert await raw_fetch(
        database_url, "SELECT COUNT(*) FROM session_access_token_signing_keys"
    ) == [(1,)]


async def test_acknowledged_write_survives_kill_9(database_url: str) -> None:
    returncode, out = await run_child(database_url, "kill")
    assert out.strip() == "written"
    assert returncode == -9
    s = await open_storage(database_url)
    try:
        got = await s.get_session("durable")
        assert got is not None and got.session_data == {"a": 1}
    finally:
        await s.close()
