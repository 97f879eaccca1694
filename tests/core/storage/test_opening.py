"""Opening a storage: the backend a URL picks, the schema and its migration (once, however
many open at the same time), and errors that name what failed without quoting secrets."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from session_core.storage import Storage, StorageError, UnsupportedDatabaseURL, open_storage
from session_core.storage.postgres import PostgresStorage
from session_core.storage.sqlite import SQLiteStorage
from tests.core.storage.contract import NOW, never_called, raw_execute, raw_fetch, session


async def test_open_picks_backend_and_records_schema_version(
    database_url: str, backend: str, storage: Storage
) -> None:
    expected = SQLiteStorage if backend == "sqlite" else PostgresStorage
    assert type(storage) is expected
    assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,), (2,)]
    assert isinstance(storage, (SQLiteStorage, PostgresStorage))
    assert await storage.schema_version() == 2
    tables = {
        "session_info",
        "session_access_token_signing_keys",
        "jwt_signing_keys",
        "key_value",
        "user_last_active",
        "session_revocations",
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
    assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,), (2,)]


async def test_concurrent_opens_migrate_once(database_url: str) -> None:
    storages = await asyncio.gather(*(open_storage(database_url) for _ in range(6)))
    try:
        assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [(1,), (2,)]
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
