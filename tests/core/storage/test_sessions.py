"""Session rows: JSON round trips, updates that respect expiry, deletions that return exactly
what they deleted, and a user's sessions at the expiry boundary."""

from __future__ import annotations

import json
from typing import Any

import pytest

from session_core.storage import Storage, StorageError
from tests.core.storage.contract import NOW, raw_fetch, session, user_last_active

REVOKED: dict[str, Any] = {"revoked_at": NOW, "valid_until": NOW + 1}


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
    assert await storage.delete_sessions([], **REVOKED) == []
    assert await storage.delete_sessions(["c", "missing", "a", "c"], **REVOKED) == ["c", "a"]
    assert await storage.get_session("a") is None
    assert await storage.get_session("c") is None
    assert await storage.get_session("b") is not None
    assert await storage.delete_sessions(["a", "c"], **REVOKED) == []  # already gone
    assert await storage.delete_sessions(["b"], **REVOKED) == ["b"]


async def test_delete_many_sessions(storage: Storage) -> None:
    handles = [f"h{i:04d}" for i in range(1200)]  # more than one SQLite IN-chunk
    for h in handles:
        await storage.insert_session(session(h))
    ask = [*handles[::2], "absent-1", "absent-2"]
    assert await storage.delete_sessions(ask, **REVOKED) == handles[::2]
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

    assert sorted(await storage.delete_sessions_of_user("u", NOW, valid_until=NOW + 1)) == [
        "edge",
        "live",
    ]
    assert await storage.get_session("dead") is not None  # expired rows are left to the cron
    assert await storage.get_session("other") is not None
    assert await storage.delete_sessions_of_user("u", NOW, valid_until=NOW + 1) == []


async def test_delete_expired_sessions(storage: Storage) -> None:
    await storage.insert_session(session("past", expires_at=NOW - 1))
    await storage.insert_session(session("edge", expires_at=NOW))
    await storage.insert_session(session("future", expires_at=NOW + 1))
    assert await storage.delete_expired_sessions(NOW) == 2
    assert await storage.get_session("past") is None
    assert await storage.get_session("edge") is None
    assert await storage.get_session("future") is not None
    assert await storage.delete_expired_sessions(NOW) == 0


async def test_user_last_active(storage: Storage, database_url: str) -> None:
    assert await user_last_active(database_url, "u") is None
    await storage.update_user_last_active("u", NOW)
    await storage.update_user_last_active("v", NOW + 5)
    assert await user_last_active(database_url, "u") == NOW
    await storage.update_user_last_active("u", NOW + 7)
    assert await user_last_active(database_url, "u") == NOW + 7
    assert await user_last_active(database_url, "v") == NOW + 5
