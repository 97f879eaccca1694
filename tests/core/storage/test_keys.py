"""Values created once (the refresh-token master key) and signing keys: however many
storages race to create one, exactly one is stored and all of them return it."""

from __future__ import annotations

import asyncio

import pytest

from session_core.storage import DynamicKeyRow, StaticKeyRow, Storage
from tests.core.storage.contract import (
    NOW,
    dyn_maker,
    never_called,
    raw_execute,
    raw_fetch,
    static_maker,
)

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
