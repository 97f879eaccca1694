"""The revocation feed's storage on both backends: entries written with the removal in one
transaction, read in order after a cursor, purged in batches, sequence numbers never reused,
an existing version-1 database migrated, and (PostgreSQL) no entry lost under concurrent
writers on several storages, and other storages woken by NOTIFY, also after their listening
connection was cut."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest

from session_core.storage import RevocationRow, Storage, StorageError, open_storage
from session_core.storage.postgres import PostgresStorage
from session_core.storage.postgres.listener import APPLICATION_NAME
from session_core.storage.postgres.rows import record_revocations
from session_core.storage.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from tests.core.storage.contract import NOW, raw_execute, raw_fetch, session

WINDOW = 3_600_000


async def _insert(storage: Storage, *handles: str, user_id: str = "u") -> None:
    for h in handles:
        await storage.insert_session(session(h, user_id=user_id))


def _handles(rows: list[RevocationRow]) -> list[str]:
    return [r.session_handle for r in rows]


async def test_removals_record_entries_in_order(storage: Storage) -> None:
    await _insert(storage, "a", "b", "c")
    await _insert(storage, "x", "y", user_id="other")
    assert await storage.delete_sessions(
        ["c", "missing", "a"], revoked_at=NOW, valid_until=NOW + WINDOW
    ) == ["c", "a"]
    assert sorted(
        await storage.delete_sessions_of_user("other", NOW + 1, valid_until=NOW + 1 + WINDOW)
    ) == ["x", "y"]
    assert await storage.delete_sessions(["a"], revoked_at=NOW + 2, valid_until=NOW + 9) == []

    rows = await storage.read_revocations(0, NOW, 100)
    assert _handles(rows)[:2] == ["c", "a"] and sorted(_handles(rows)[2:]) == ["x", "y"]
    assert [(r.revoked_at, r.valid_until) for r in rows] == [(NOW, NOW + WINDOW)] * 2 + [
        (NOW + 1, NOW + 1 + WINDOW)
    ] * 2
    seqs = [r.seq for r in rows]
    assert seqs == sorted(set(seqs))
    # After a cursor, a limit, and only entries still inside their window.
    assert await storage.read_revocations(seqs[1], NOW, 100) == rows[2:]
    assert await storage.read_revocations(seqs[0], NOW, 2) == rows[1:3]
    assert _handles(await storage.read_revocations(0, NOW + WINDOW, 100)) == _handles(rows[2:])
    assert await storage.read_revocations(seqs[-1], NOW, 100) == []
    assert (await storage.get_session("b")) is not None


async def test_listeners_hear_of_commits_that_recorded_entries(storage: Storage) -> None:
    heard: list[int] = []
    await storage.watch_revocations(lambda: heard.append(len(heard)))
    await _insert(storage, "a")
    await storage.delete_sessions(["missing"], revoked_at=NOW, valid_until=NOW + 1)
    await storage.delete_sessions_of_user("nobody", NOW, valid_until=NOW + 1)
    assert heard == []
    await storage.delete_sessions(["a"], revoked_at=NOW, valid_until=NOW + 1)
    assert heard  # this storage's listeners are called as soon as it commits


_REFUSE = {
    "sqlite": (
        "CREATE TRIGGER refuse BEFORE INSERT ON session_revocations"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END",
    ),
    "postgresql": (
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON session_revocations"
        " FOR EACH ROW EXECUTE FUNCTION refuse()",
    ),
}
_ALLOW = {
    "sqlite": ("DROP TRIGGER refuse",),
    "postgresql": ("DROP TRIGGER refuse ON session_revocations", "DROP FUNCTION refuse()"),
}


async def test_a_failed_removal_removes_nothing_and_records_nothing(
    database_url: str, backend: str, storage: Storage
) -> None:
    await _insert(storage, "a", "b")
    heard: list[None] = []
    await storage.watch_revocations(lambda: heard.append(None))
    for statement in _REFUSE[backend]:
        await raw_execute(database_url, statement)
    try:
        with pytest.raises(StorageError):
            await storage.delete_sessions(["a"], revoked_at=NOW, valid_until=NOW + 1)
        with pytest.raises(StorageError):
            await storage.delete_sessions_of_user("u", NOW, valid_until=NOW + 1)
    finally:
        for statement in _ALLOW[backend]:
            await raw_execute(database_url, statement)
    assert await storage.get_session("a") is not None
    assert await storage.get_session("b") is not None
    assert await raw_fetch(database_url, "SELECT COUNT(*) FROM session_revocations") == [(0,)]
    assert heard == []
    # The same removal once the database takes it.
    assert await storage.delete_sessions(["a"], revoked_at=NOW, valid_until=NOW + 1) == ["a"]
    assert _handles(await storage.read_revocations(0, NOW, 10)) == ["a"]


async def test_purge_in_batches_and_sequence_numbers_are_never_reused(storage: Storage) -> None:
    handles = [f"h{i}" for i in range(7)]
    await _insert(storage, *handles)
    await storage.delete_sessions(handles[:5], revoked_at=NOW, valid_until=NOW + 10)
    await storage.delete_sessions(handles[5:6], revoked_at=NOW, valid_until=NOW + 20)
    last = (await storage.read_revocations(0, NOW, 10))[-1]
    assert last.session_handle == "h5"

    assert await storage.delete_expired_revocations(NOW + 10, 10) == 0  # not yet past
    assert await storage.delete_expired_revocations(NOW + 11, 2) == 2
    assert await storage.delete_expired_revocations(NOW + 11, 10) == 3
    assert await storage.delete_expired_revocations(NOW + 21, 10) == 1
    assert await storage.read_revocations(0, 0, 10) == []

    # The highest entry was purged; the next one still gets a higher number, so a cursor
    # taken before the purge cannot skip it.
    await storage.delete_sessions(handles[6:], revoked_at=NOW, valid_until=NOW + 30)
    [entry] = await storage.read_revocations(last.seq, 0, 10)
    assert entry.session_handle == "h6" and entry.seq > last.seq


async def test_a_version_1_database_is_migrated_and_keeps_its_rows(
    database_url: str, backend: str
) -> None:
    migrations = SQLITE_MIGRATIONS if backend == "sqlite" else POSTGRES_MIGRATIONS
    version, statements = migrations[0]
    assert version == 1
    await raw_execute(
        database_url,
        "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY,"
        " applied_at BIGINT NOT NULL)",
    )
    for statement in statements:
        await raw_execute(database_url, statement)
    await raw_execute(database_url, "INSERT INTO schema_version VALUES (1, 0)")
    await raw_execute(
        database_url,
        "INSERT INTO session_info VALUES ('old', 'u', 'h', '{}', 9999999999999, 1, '{}', FALSE)",
    )

    storage = await open_storage(database_url)
    try:
        assert await raw_fetch(database_url, "SELECT version FROM schema_version") == [
            (1,),
            (2,),
        ]
        assert (await storage.get_session("old")) is not None
        assert await storage.delete_sessions(["old"], revoked_at=NOW, valid_until=NOW + 1) == [
            "old"
        ]
        assert _handles(await storage.read_revocations(0, NOW, 10)) == ["old"]
    finally:
        await storage.close()


async def test_concurrent_writers_on_several_storages_lose_nothing(
    database_url: str, storage: Storage, second: Storage
) -> None:
    """Removals from several storages (cores) at once, each many transactions in flight,
    while a follower reads small pages after its cursor: every entry is read."""
    third = await open_storage(database_url)
    writers = [storage, second, third]
    numbers = itertools.count()
    planned: list[list[str]] = [[f"s{next(numbers)}" for _ in range(3)] for _ in range(60)]
    await _insert(storage, *(h for group in planned for h in group))
    seen: list[RevocationRow] = []
    done = asyncio.Event()

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            rows = await second.read_revocations(cursor, NOW, 4)
            seen.extend(rows)
            if rows:
                cursor = rows[-1].seq
            elif finished:
                return

    follower = asyncio.create_task(follow())
    try:
        await asyncio.gather(
            *(
                writers[i % 3].delete_sessions(group, revoked_at=NOW, valid_until=NOW + WINDOW)
                for i, group in enumerate(planned)
            )
        )
    finally:
        done.set()
        await follower
        await third.close()
    assert sorted(_handles(seen)) == sorted(h for group in planned for h in group)
    seqs = [r.seq for r in seen]
    assert seqs == sorted(set(seqs))


async def test_notify_wakes_other_storages(postgres_url: str) -> None:
    a = await open_storage(postgres_url)
    b = await open_storage(postgres_url)
    try:
        assert isinstance(b, PostgresStorage)
        woken = asyncio.Event()
        await b.watch_revocations(woken.set)
        await _insert(a, "one", "two")
        await a.delete_sessions(["one"], revoked_at=NOW, valid_until=NOW + WINDOW)
        async with asyncio.timeout(10):
            await woken.wait()
        assert _handles(await b.read_revocations(0, NOW, 10)) == ["one"]

        # Its listening connection cut: b reconnects and wakes its listeners (news may
        # have been missed), then hears of a's next removal again.
        woken.clear()
        assert b.listener is not None and b.listener.connects == 1
        admin = await asyncpg.connect(postgres_url)
        try:
            cut = await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME,
            )
        finally:
            await admin.close()
        assert len(cut) == 1
        async with asyncio.timeout(30):
            await woken.wait()
        assert b.listener.connects == 2
        woken.clear()
        await a.delete_sessions(["two"], revoked_at=NOW, valid_until=NOW + WINDOW)
        async with asyncio.timeout(10):
            await woken.wait()
        assert _handles(await b.read_revocations(0, NOW, 10)) == ["one", "two"]
    finally:
        await a.close()
        await b.close()


async def test_an_entry_still_in_flight_is_not_skipped(postgres_url: str) -> None:
    """Another core's removal has its sequence number but has not committed; this core's
    removal, with a higher number, must not become visible before it, or a follower reading
    now would move its cursor past the entry still to come."""
    storage = await open_storage(postgres_url)
    other = await asyncpg.connect(postgres_url)  # the other core, mid-removal
    watcher = await asyncpg.connect(postgres_url)
    try:
        await _insert(storage, "late")
        in_flight = other.transaction()
        await in_flight.start()
        await record_revocations(other, ["early"], NOW, NOW + WINDOW)
        removal = asyncio.create_task(
            storage.delete_sessions(["late"], revoked_at=NOW, valid_until=NOW + WINDOW)
        )
        async with asyncio.timeout(30):  # until the removal waits for the other's commit
            while not removal.done() and not await _waits_for_an_advisory_lock(watcher):
                pass
        read_now = await storage.read_revocations(0, NOW, 10)
        cursor = read_now[-1].seq if read_now else 0
        await in_flight.commit()
        await removal
        read_later = await storage.read_revocations(cursor, NOW, 10)
        assert _handles(read_now + read_later) == ["early", "late"]
    finally:
        await watcher.close()
        await other.close()
        await storage.close()


async def _waits_for_an_advisory_lock(watcher: asyncpg.Connection) -> bool:
    waiting = await watcher.fetchval(
        "SELECT COUNT(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
    )
    return bool(waiting)
