"""RefreshSession end to end over gRPC against the real core: both tokens rotate, reusing a
refresh token after its successor was used is theft (the session is revoked unless the
service leaves it to the caller), and a revoked session or garbage is unauthorised. Ported
from supertokens-python 0.14.0's refresh tests (tests/Fastapi/test_fastapi.py::
test_login_refresh and tests/test_session.py).
"""

from __future__ import annotations

import grpc
from session_client import SessionClient, SessionStatus

from tests.service.conftest import MakeService


async def test_refresh_rotates_both_tokens(client: SessionClient) -> None:
    created = await client.create_session("user-id", {"role": "admin"})
    refreshed = await client.refresh_session(created.refresh_token.token)

    assert refreshed.status is SessionStatus.OK
    assert refreshed.session is not None
    assert refreshed.access_token is not None
    assert refreshed.refresh_token is not None
    assert refreshed.session.session_handle == created.session.session_handle
    assert refreshed.access_token.token != created.access_token.token
    assert refreshed.refresh_token.token != created.refresh_token.token
    assert refreshed.session.access_token_payload["role"] == "admin"
    assert refreshed.token_theft is None


async def test_reusing_a_refresh_token_after_its_successor_was_used_is_theft(
    client: SessionClient,
) -> None:
    created = await client.create_session("user-id")
    first = await client.refresh_session(created.refresh_token.token)
    assert first.refresh_token is not None
    # Using the child promotes it; the parent is now an old token.
    second = await client.refresh_session(first.refresh_token.token)
    assert second.status is SessionStatus.OK

    theft = await client.refresh_session(created.refresh_token.token)
    assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
    assert theft.token_theft is not None
    assert theft.token_theft.session_handle == created.session.session_handle
    assert theft.token_theft.user_id == "user-id"
    assert theft.session is None
    assert theft.refresh_token is None


async def _steal_and_get_caught(client: SessionClient) -> tuple[str, str, str]:
    """A thief copies the refresh token R1 and uses it first (getting R2 and an access
    token); the victim then uses R1 too, after R2's promotion: theft. Returns the session
    handle and the thief's newest refresh and access tokens."""
    created = await client.create_session("victim")
    victim = await client.refresh_session(created.refresh_token.token)
    assert victim.refresh_token is not None
    stolen = victim.refresh_token.token
    thief = await client.refresh_session(stolen)
    assert thief.refresh_token is not None and thief.access_token is not None
    promoted = await client.get_session(thief.access_token.token)  # the thief's first use
    assert promoted.status is SessionStatus.OK and promoted.new_access_token is not None
    theft = await client.refresh_session(stolen)
    assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
    assert theft.token_theft is not None
    assert theft.token_theft.session_handle == created.session.session_handle
    return (
        created.session.session_handle,
        thief.refresh_token.token,
        promoted.new_access_token.token,
    )


async def test_token_theft_revokes_the_session_by_default(client: SessionClient) -> None:
    handle, thief_refresh, thief_access = await _steal_and_get_caught(client)
    # As after the SDK's default theft handler: the session is gone for the thief too.
    refreshed = await client.refresh_session(thief_refresh)
    assert refreshed.status is SessionStatus.UNAUTHORISED
    checked = await client.get_session(thief_access, check_database=True)
    assert checked.status is SessionStatus.UNAUTHORISED
    assert (await client.get_all_session_handles_for_user("victim")).session_handles == ()
    assert (await client.revoke_session(handle)).status is SessionStatus.SESSION_DOES_NOT_EXIST


async def test_token_theft_leaves_the_session_to_the_caller_when_configured(
    make_service: MakeService,
) -> None:
    service = await make_service(revoke_session_on_token_theft=False)
    async with SessionClient.insecure(service.address) as client:
        handle, thief_refresh, thief_access = await _steal_and_get_caught(client)
        assert (await client.refresh_session(thief_refresh)).status is SessionStatus.OK
        checked = await client.get_session(thief_access, check_database=True)
        assert checked.status is SessionStatus.OK
        assert (await client.revoke_session(handle)).status is SessionStatus.OK


async def test_refresh_after_revoke_and_with_garbage_is_unauthorised(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    assert (await client.revoke_session(created.session.session_handle)).status is SessionStatus.OK

    after_revoke = await client.refresh_session(created.refresh_token.token)
    assert after_revoke.status is SessionStatus.UNAUTHORISED
    for garbage in ("not-a-refresh-token", ""):
        result = await client.refresh_session(garbage)
        assert result.status is SessionStatus.UNAUTHORISED, garbage
        assert not garbage or garbage not in result.message


async def test_revoked_session_is_caught_only_with_check_database(
    make_service: MakeService,
) -> None:
    """The SDK's behaviour, without the revocation feed (with it, this process refuses the
    session at once: tests/service/test_revocation_read_your_writes.py)."""
    service = await make_service(revocation_feed=False)
    async with grpc.aio.insecure_channel(service.address) as channel:
        await _caught_only_with_check_database(SessionClient(channel))


async def _caught_only_with_check_database(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    await client.revoke_session(created.session.session_handle)

    local = await client.get_session(created.session.access_token)
    assert local.status is SessionStatus.OK  # stateless until the token expires
    checked = await client.get_session(created.session.access_token, check_database=True)
    assert checked.status is SessionStatus.UNAUTHORISED
    assert checked.session is None
