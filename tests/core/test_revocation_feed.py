"""The core's revocation feed (``GET /recipe/session/revocations``, an extension beyond CDI
2.21) on both backends: every removal path as the SDKs call it records an entry, the
cursor, the long-poll, the purge, the API key and the 400s."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from testkit.processes import ROOT
from testkit.sdk_venv import sdk_python
from tests.core.conftest import CDI, CoreClient, CoreFactory

FEED = "/recipe/session/revocations"
VALIDITY_S = 3600
# What supertokens-python 0.14.0 sends to the core on every call (its Querier).
SDK_HEADERS = {"cdi-version": "2.21", "rid": "session"}


async def feed(core: CoreClient, **params: Any) -> dict[str, Any]:
    return await core.ok("GET", FEED, {k: str(v) for k, v in params.items()})


async def sdk_remove(core: CoreClient, body: dict[str, Any]) -> list[str]:
    """``POST /recipe/session/remove`` as the SDK's revoke_session,
    revoke_multiple_sessions and revoke_all_sessions_for_user send it."""
    r = await core.http.post("/recipe/session/remove", json=body, headers=SDK_HEADERS)
    assert r.status_code == 200, r.text
    revoked: list[str] = r.json()["sessionHandlesRevoked"]
    return revoked


def handles(answer: dict[str, Any]) -> list[str]:
    return [e["sessionHandle"] for e in answer["revocations"]]


async def test_every_removal_path_records_an_entry(core: CoreClient) -> None:
    now = core.clock.now_ms()
    one, many_a, many_b, user_a, user_b, untouched = [
        (await core.create(user))["session"]["handle"]
        for user in ("one", "many", "many", "user", "user", "other")
    ]
    assert (await feed(core))["revocations"] == []

    assert await sdk_remove(core, {"sessionHandles": [one]}) == [one]  # revoke_session
    assert await sdk_remove(core, {"sessionHandles": [many_a, "missing", many_b]}) == [
        many_a,
        many_b,
    ]  # revoke_multiple_sessions
    assert sorted(await sdk_remove(core, {"userId": "user"})) == sorted([user_a, user_b])

    # Token theft: the core reports it and keeps the row; the SDK's handler revokes it.
    created = await core.ok("POST", "/recipe/session", _create_body("victim"))
    refreshed = await core.refresh(created["refreshToken"]["token"])
    await core.verify(refreshed["accessToken"]["token"])  # promotes the child
    theft = await core.refresh(created["refreshToken"]["token"])
    assert theft["status"] == "TOKEN_THEFT_DETECTED"
    victim = theft["session"]["handle"]
    assert (await feed(core))["revocations"][-1]["sessionHandle"] != victim
    assert await sdk_remove(core, {"sessionHandles": [victim]}) == [victim]

    # Removing what is already gone records nothing more.
    assert await sdk_remove(core, {"sessionHandles": [one, "missing"]}) == []
    assert await sdk_remove(core, {"userId": "user"}) == []

    answer = await feed(core)
    assert handles(answer)[:3] == [one, many_a, many_b]
    assert sorted(handles(answer)[3:5]) == sorted([user_a, user_b])
    assert handles(answer)[5:] == [victim]
    assert untouched not in handles(answer)
    for entry in answer["revocations"]:
        assert entry["revokedAt"] == now
        assert entry["validUntil"] == now + VALIDITY_S * 1000
    assert answer["more"] is False


def _create_body(user_id: str) -> dict[str, Any]:
    return {
        "userId": user_id,
        "userDataInJWT": {},
        "userDataInDatabase": {},
        "enableAntiCsrf": False,
    }


async def test_window_is_the_access_token_validity(make_core: CoreFactory) -> None:
    core = await make_core(access_token_validity=120)
    handle = (await core.create())["session"]["handle"]
    core.clock.advance(5)
    await sdk_remove(core, {"sessionHandles": [handle]})
    [entry] = (await feed(core))["revocations"]
    assert entry["validUntil"] - entry["revokedAt"] == 120_000

    core.clock.advance(119_999)  # the last millisecond a token of it could verify
    assert handles(await feed(core)) == [handle]
    core.clock.advance(1)
    assert (await feed(core))["revocations"] == []


async def test_cursor_limit_and_more(core: CoreClient) -> None:
    revoked = []
    for _ in range(5):
        handle = (await core.create())["session"]["handle"]
        await sdk_remove(core, {"sessionHandles": [handle]})
        revoked.append(handle)

    first = await feed(core, limit=2)
    assert handles(first) == revoked[:2] and first["more"] is True
    second = await feed(core, since=first["cursor"], limit=2)
    assert handles(second) == revoked[2:4] and second["more"] is True
    third = await feed(core, since=second["cursor"], limit=2)
    assert handles(third) == revoked[4:] and third["more"] is False
    # Nothing newer: the same cursor back, at once with timeout_ms 0 (the default).
    empty = await feed(core, since=third["cursor"])
    assert empty == {"status": "OK", "revocations": [], "cursor": third["cursor"], "more": False}

    later = (await core.create())["session"]["handle"]
    await sdk_remove(core, {"sessionHandles": [later]})
    assert handles(await feed(core, since=empty["cursor"])) == [later]
    # Every cursor stays readable: an older one answers from where it was.
    assert handles(await feed(core, since=first["cursor"])) == [*revoked[2:], later]


async def test_long_poll_answers_on_news(core: CoreClient) -> None:
    cursor = (await feed(core))["cursor"]
    handle = (await core.create())["session"]["handle"]
    waiting = asyncio.create_task(feed(core, since=cursor, timeout_ms=30_000))
    await core.core.revocation_feed.wait_for_waiting(1)
    await sdk_remove(core, {"sessionHandles": [handle]})
    # At its timeout a read answers without reading again: the entry shows it was woken.
    async with asyncio.timeout(20):
        answer = await waiting
    assert handles(answer) == [handle]
    assert core.core.revocation_feed.waiting == 0


async def test_long_poll_answers_empty_at_its_timeout(core: CoreClient) -> None:
    cursor = (await feed(core))["cursor"]
    # A removal of nothing wakes no one and records nothing.
    waiting = asyncio.create_task(feed(core, since=cursor, timeout_ms=300))
    await core.core.revocation_feed.wait_for_waiting(1)
    assert await sdk_remove(core, {"sessionHandles": ["missing"]}) == []
    answer = await waiting
    assert answer == {"status": "OK", "revocations": [], "cursor": cursor, "more": False}


async def test_stopping_the_core_answers_waiting_reads(make_core: CoreFactory) -> None:
    core = await make_core()
    waiting = asyncio.create_task(feed(core, timeout_ms=30_000))
    await core.core.revocation_feed.wait_for_waiting(1)
    await core.core.stop()  # would wait for the handler (up to its timeout) otherwise
    assert (await waiting)["revocations"] == []


async def test_purge_deletes_entries_past_their_window(make_core: CoreFactory) -> None:
    core = await make_core(expired_session_cleanup_interval_s=0.01)
    revoked = [(await core.create())["session"]["handle"] for _ in range(3)]
    await sdk_remove(core, {"sessionHandles": revoked[:2]})
    core.clock.advance(60_000)
    await sdk_remove(core, {"sessionHandles": revoked[2:]})
    purge = core.core.revocation_purge
    core.clock.advance(VALIDITY_S * 1000 - 60_000 + 1)  # the first two are past their window
    runs = purge.runs
    await purge.wait_for_run(runs + 1)  # a run that read the clock after it moved
    await purge.wait_for_run(purge.runs)
    assert core.core.revocation_feed.purged == 2
    assert handles(await feed(core)) == revoked[2:]
    assert await core.core.revocation_feed.purge() == 0
    metrics = (await core.http.get("/metrics")).text
    assert "session_core_revocation_feed_purged_total 2.0" in metrics
    assert "session_core_revocation_feed_entries_served_total 1.0" in metrics
    assert "session_core_revocation_feed_waiting 0.0" in metrics


async def test_feed_needs_the_api_key(make_core: CoreFactory) -> None:
    key = "k" * 24
    core = await make_core(api_keys=(key,))
    for headers in ({}, {"api-key": "x" * 24}):
        r = await core.http.get(FEED, headers={**CDI, **headers})
        assert (r.status_code, r.text) == (401, "Invalid API key\n")
    r = await core.http.get(FEED, headers={**CDI, "api-key": key})
    assert r.status_code == 200 and r.json()["revocations"] == []


@pytest.mark.parametrize(
    "query",
    [
        "since=",
        "since=abc",
        "since=" + "0" * 32,
        "since=" + "0" * 32 + ".1",  # another database's feed
        "since=" + "f" * 32 + ".-1",
        "timeout_ms=-1",
        "timeout_ms=30001",
        "timeout_ms=1.5",
        "timeout_ms=",
        "limit=0",
        "limit=10001",
        "limit=" + "9" * 30,
        "limit=%00",
        "limit=1&limit=2",
        "since=%ff%fe",
    ],
)
async def test_bad_parameters_are_400(core: CoreClient, query: str) -> None:
    r = await core.http.get(f"{FEED}?{query}", headers=CDI)
    assert r.status_code == 400, (query, r.status_code, r.text)
    assert r.text.strip()


async def test_own_cursor_with_a_bad_sequence_is_400(core: CoreClient) -> None:
    feed_id = core.core.revocation_feed.feed_id
    for since in (f"{feed_id}.", f"{feed_id}.01", f"{feed_id}.{'9' * 20}", f"{feed_id}.1.2"):
        r = await core.http.get(FEED, params={"since": since}, headers=CDI)
        assert r.status_code == 400, since
    r = await core.http.get(FEED, params={"since": f"{feed_id}.0"}, headers=CDI)
    assert r.status_code == 200


async def test_only_get(core: CoreClient) -> None:
    r = await core.http.post(FEED, json={}, headers=CDI)
    assert r.status_code == 405


async def test_concurrent_readers_and_writers_lose_nothing(core: CoreClient) -> None:
    """Many removals at once while a follower reads pages as they commit (the PostgreSQL
    case across cores is in test_revocation_feed_cores.py)."""
    created = [(await core.create(f"u{i % 7}"))["session"]["handle"] for i in range(60)]
    seen: list[str] = []
    done = asyncio.Event()

    async def follow() -> None:
        cursor = (await feed(core))["cursor"]
        while True:
            finished = done.is_set()
            answer = await feed(core, since=cursor, limit=3, timeout_ms=200)
            seen.extend(handles(answer))
            cursor = answer["cursor"]
            if finished and not answer["revocations"]:
                return

    follower = asyncio.create_task(follow())
    await asyncio.gather(
        *(sdk_remove(core, {"sessionHandles": created[i : i + 4]}) for i in range(0, 40, 4)),
        *(sdk_remove(core, {"userId": f"u{u}"}) for u in range(7)),
    )
    done.set()
    async with asyncio.timeout(60):
        await follower
    assert sorted(seen) == sorted(set(seen)) == sorted(created)


async def test_http_client_sees_plain_json(core: CoreClient) -> None:
    async with httpx.AsyncClient(base_url=core.url) as http:
        r = await http.get(FEED)  # no cdi-version: the latest, as every path
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert set(r.json()) == {"status", "revocations", "cursor", "more"}


async def test_removals_by_the_unmodified_sdk_are_recorded(core: CoreClient) -> None:
    python = await asyncio.to_thread(sdk_python)
    process = await asyncio.create_subprocess_exec(
        str(python),
        "-m",
        "tests.core.sdk_revocations",
        core.url,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    observed = json.loads(out)
    expected = observed["expected"]
    assert observed["revoke_session"] == [expected["one"]]
    assert observed["revoke_multiple_sessions"] == expected["multi"]
    assert sorted(observed["revoke_all_sessions_for_user"]) == expected["user"]
    assert observed["theft"] == [expected["victim"]]

    recorded = handles(await feed(core))
    assert recorded[:3] == [expected["one"], *expected["multi"]]
    assert sorted(recorded[3:5]) == expected["user"]
    assert recorded[5:] == [expected["victim"]]
