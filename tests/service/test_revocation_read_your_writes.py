"""A process refuses the sessions it revoked itself at once (docs/revocation.md): the
revoked handles enter its revoked set when the core confirms the removal, not when the feed
brings the removal back. Each way a revoke goes through the service (RevokeSession,
RevokeAllSessionsForUser, RevokeMultipleSessions, theft detected by RefreshSession, the
HTTP edge's sign-out) is made while the follower's long poll is held at a real proxy in
front of the core, so the feed cannot have told it; GetSession then answers UNAUTHORISED
with no core request at all, and the feed's entries, once released, add nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import httpx
import pytest
from session_client import SessionClient, SessionStatus

from session_core.app import RunningCore
from session_service.server import RunningService
from tests.service.conftest import MakeService
from tests.service.harness import GatedProxy
from tests.service.test_revocation_follower import (
    FEED,
    REVOKED_MESSAGE,
    WAIT_SECONDS,
    entries,
    feed_metrics,
    state,
    until,
)

RECEIVED = "session_service_revocation_feed_received_total"


def core_calls(core: RunningCore) -> Counter[str]:
    """The core's requests to its recipe paths, the feed's left out (readiness probes
    and key fetches run on their own)."""
    return Counter(
        {p: n for p, n in core.requests.items() if p.startswith("/recipe/") and p != FEED}
    )


@pytest.fixture
async def gate(core: RunningCore) -> AsyncIterator[GatedProxy]:
    proxy = GatedProxy(core.url, FEED)
    proxy.release.set()
    await proxy.start()
    yield proxy
    await proxy.stop()


async def hold_the_feed(gate: GatedProxy, service: RunningService) -> None:
    """Once the service follows, hold its next feed request at the proxy (the one in
    flight ends within the poll wait), so that the feed tells it nothing meanwhile."""
    await until("following", lambda: state(service) == "following")
    gate.release.clear()
    gate.arrived.clear()
    async with asyncio.timeout(WAIT_SECONDS):
        await gate.arrived.wait()


async def sign_out(service: RunningService, access_token: str) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{service.http_port}", timeout=10, trust_env=False
    ) as http:
        answer = await http.post(
            "/auth/signout", headers={"authorization": f"Bearer {access_token}"}
        )
    assert answer.status_code == 200 and answer.json() == {"status": "OK"}


Revoke = Callable[[SessionClient, RunningService, list[tuple[str, str]]], Awaitable[None]]


async def by_revoke_session(
    client: SessionClient, service: RunningService, sessions: list[tuple[str, str]]
) -> None:
    for handle, _ in sessions:
        assert (await client.revoke_session(handle)).status is SessionStatus.OK


async def by_revoke_all_for_user(
    client: SessionClient, service: RunningService, sessions: list[tuple[str, str]]
) -> None:
    revoked = await client.revoke_all_sessions_for_user("alice")
    assert sorted(revoked.session_handles) == sorted(h for h, _ in sessions)


async def by_revoke_multiple(
    client: SessionClient, service: RunningService, sessions: list[tuple[str, str]]
) -> None:
    revoked = await client.revoke_multiple_sessions([h for h, _ in sessions])
    assert sorted(revoked.session_handles) == sorted(h for h, _ in sessions)


async def by_sign_out(
    client: SessionClient, service: RunningService, sessions: list[tuple[str, str]]
) -> None:
    for _, token in sessions:
        await sign_out(service, token)


KINDS: dict[str, Revoke] = {
    "revoke_session": by_revoke_session,
    "revoke_all_sessions_for_user": by_revoke_all_for_user,
    "revoke_multiple_sessions": by_revoke_multiple,
    "sign_out": by_sign_out,
}


@pytest.mark.parametrize("kind", [*KINDS, "theft"])
async def test_a_session_revoked_through_this_process_is_refused_before_the_feed_tells_it(
    kind: str, make_service: MakeService, core: RunningCore, gate: GatedProxy
) -> None:
    service = await make_service(
        core_url=gate.url, http_port=0, revocation_feed_max_lag_seconds=1.0
    )
    async with grpc.aio.insecure_channel(service.address) as channel:
        client = SessionClient(channel)
        sessions: list[tuple[str, str]] = []
        thefts: list[str] = []
        for _ in range(2):
            created = await client.create_session("alice")
            token = created.session.access_token
            if kind == "theft":
                # The thief refreshes with the refresh token first and uses the new access
                # token (promoting it: a token without a parent, verified locally); the
                # victim's later use of the old refresh token is theft, and the service
                # revokes the session (the SDK's handler).
                child = await client.refresh_session(created.refresh_token.token)
                assert child.access_token is not None
                promoted = await client.get_session(child.access_token.token)
                assert promoted.new_access_token is not None
                token = promoted.new_access_token.token
                thefts.append(created.refresh_token.token)
            sessions.append((created.session.session_handle, token))
        kept = await client.create_session("bob")
        for _ in range(2):  # verified, then kept decoded: the fast path answers
            for _, token in [*sessions, ("", kept.session.access_token)]:
                assert (await client.get_session(token)).status is SessionStatus.OK

        await hold_the_feed(gate, service)
        received = feed_metrics(service)[RECEIVED]
        if kind == "theft":
            for stolen in thefts:
                theft = await client.refresh_session(stolen)
                assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
        else:
            await KINDS[kind](client, service, sessions)

        before = core_calls(core)
        for _ in range(2):
            for _, token in sessions:
                refused = await client.get_session(token)
                assert (refused.status, refused.message) == (
                    SessionStatus.UNAUTHORISED,
                    REVOKED_MESSAGE,
                )
            assert (await client.get_session(kept.session.access_token)).status is (
                SessionStatus.OK
            )
        assert core_calls(core) == before  # no core call
        assert feed_metrics(service)[RECEIVED] == received  # the feed told it nothing
        assert entries(service) == len(sessions)

        # The feed's entries for them come: repeats of what is kept.
        gate.release.set()
        await until(
            "the feed's entries arrive",
            lambda: feed_metrics(service)[RECEIVED] >= received + len(sessions),
        )
        assert entries(service) == len(sessions)
        for _, token in sessions:
            assert (await client.get_session(token)).status is SessionStatus.UNAUTHORISED
        assert core_calls(core) == before
