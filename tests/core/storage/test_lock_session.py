"""``lock_session``: a row locked for a read-modify-write commits or rolls back as a whole
and excludes every other writer of the row, on one storage or two."""

from __future__ import annotations

import asyncio

import pytest

from session_core.storage import Storage
from session_core.storage.postgres import PostgresStorage
from tests.core.storage.contract import NOW, session


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
            await storage.delete_sessions(["w"], revoked_at=NOW, valid_until=NOW + 1)
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
