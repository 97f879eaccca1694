"""Concurrency invariants over gRPC against the real core: parallel refreshes of one refresh
token, parallel create/revoke for one user, verification while the signing key rotates."""

from __future__ import annotations

import asyncio
from pathlib import Path

from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from tests.reliability import STATS
from tests.service.conftest import MakeService

HOUR_MS = 3_600_000


async def test_100_parallel_refreshes_of_one_refresh_token(
    make_service: MakeService, core: RunningCore
) -> None:
    # The core's rotation rule under races: the service must not revoke on theft here.
    service = await make_service(revoke_session_on_token_theft=False)
    async with SessionClient.insecure(service.address) as client:
        await _race_refreshes(client, core)


async def _race_refreshes(client: SessionClient, core: RunningCore) -> None:
    created = await client.create_session("racer")
    handle = created.session.session_handle
    results = await asyncio.gather(
        *(client.refresh_session(created.refresh_token.token) for _ in range(100))
    )
    # The current token may be used any number of times until a child is promoted
    # (the reference's rule): all succeed, each with its own child, one session row.
    assert {r.status for r in results} == {SessionStatus.OK}
    children = [r.refresh_token.token for r in results if r.refresh_token is not None]
    assert len(set(children)) == 100
    listed = await client.get_all_session_handles_for_user("racer")
    assert listed.session_handles == (handle,)
    assert await core.storage.get_session_handles_of_user("racer", 0) == [handle]

    # Using one child promotes it; every sibling and the parent are then theft, exactly once
    # each, and the promoted line goes on.
    promoted = await client.refresh_session(children[0])
    assert promoted.status is SessionStatus.OK
    thefts = await asyncio.gather(
        *(client.refresh_session(t) for t in [*children[1:], created.refresh_token.token])
    )
    assert {t.status for t in thefts} == {SessionStatus.TOKEN_THEFT_DETECTED}
    assert {t.token_theft.session_handle for t in thefts if t.token_theft} == {handle}
    assert promoted.refresh_token is not None
    again = await asyncio.gather(
        *(client.refresh_session(promoted.refresh_token.token) for _ in range(100))
    )
    assert {r.status for r in again} == {SessionStatus.OK}
    assert await core.storage.get_session_handles_of_user("racer", 0) == [handle]
    STATS["concurrent RPCs checked"] += 301


async def test_parallel_create_and_revoke_for_one_user(client: SessionClient) -> None:
    user = "busy-user"

    async def create() -> str:
        return (await client.create_session(user)).session.session_handle

    async def revoke_all() -> tuple[str, ...]:
        return (await client.revoke_all_sessions_for_user(user)).session_handles

    tasks = [create() for _ in range(60)] + [revoke_all() for _ in range(10)]
    results = await asyncio.gather(*tasks)
    created = set(results[:60])
    revoked_lists = results[60:]
    revoked = [h for handles in revoked_lists for h in handles]
    remaining = set((await client.get_all_session_handles_for_user(user)).session_handles)

    assert len(created) == 60  # no duplicated session
    assert len(revoked) == len(set(revoked))  # each revoked exactly once
    assert set(revoked).isdisjoint(remaining)
    assert set(revoked) | remaining == created  # none lost
    for handle in remaining:
        info = await client.get_session_information(handle)
        assert info.status is SessionStatus.OK
    for handle in set(revoked):
        info = await client.get_session_information(handle)
        assert info.status is SessionStatus.SESSION_DOES_NOT_EXIST
    STATS["concurrent RPCs checked"] += 70


async def test_verification_during_key_rotation(
    make_service: MakeService, tmp_path: Path, clock: ManualClock
) -> None:
    core = await start_core(
        CoreConfig(
            host="127.0.0.1",
            port=0,
            database=f"sqlite:///{tmp_path / 'rotating.db'}",
            access_token_dynamic_signing_key_update_interval=1.0,
            access_token_validity=6 * 3600,
        ),
        clock=clock,
    )
    try:
        service = await make_service(core_url=core.url)
        async with SessionClient.insecure(service.address) as client:
            tokens = [(await client.create_session(f"u{i}")).session.access_token for i in range(5)]
            kids = {core.signing_keys.dynamic_signing_key().kid}
            verified = 0
            for step in range(6):  # 3 rotations, each seen mid-traffic
                clock.advance(HOUR_MS // 2)
                new = asyncio.create_task(client.create_session(f"step{step}"))
                results = await asyncio.gather(*(client.get_session(t) for t in tokens))
                created = await new
                assert {(r.status, r.message) for r in results} == {(SessionStatus.OK, "")}
                verified += len(results)
                tokens.append(created.session.access_token)
                kids.add(core.signing_keys.dynamic_signing_key().kid)
                # Tokens signed by the newest key verify at once, during the overlap too.
                assert (await client.get_session(tokens[-1])).status is SessionStatus.OK
            assert len(kids) >= 3
        STATS["concurrent RPCs checked"] += verified
    finally:
        await core.stop()
