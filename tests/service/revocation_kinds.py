"""The ways a session is revoked in the instant-revocation proof (issue 18), each made ready
as an ``Event``: sessions created and verified, and a call that revokes them and answers the
handles it revoked.

- through a replica's RPCs: RevokeSession, RevokeMultipleSessions, RevokeAllSessionsForUser;
- through a core's CDI endpoint directly, as an SDK backend does (``POST
  /recipe/session/remove`` with ``sessionHandles`` or ``userId``, the API key and the
  cdi-version header);
- by theft detection: a refresh token reused after its child was used (RefreshSession
  answers TOKEN_THEFT_DETECTED and the service revokes the session, as the SDK's
  refresh_session does on ``TokenTheftError``).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from session_client import SessionClient, SessionStatus

from tests.service.revocation_cluster import Core

_users = itertools.count()


@dataclass(frozen=True)
class Event:
    """One revoking call: its kind, the call (answers the handles revoked) and, for each
    session it revokes, an access token that verifies OK until then."""

    kind: str
    revoke: Callable[[], Awaitable[Sequence[str]]]
    tokens: dict[str, str]


async def _sessions(client: SessionClient, user_id: str, count: int) -> dict[str, str]:
    tokens = {}
    for _ in range(count):
        created = await client.create_session(user_id, {"proof": "instant-revocation"})
        tokens[created.session.session_handle] = created.session.access_token
    return tokens


def _user() -> str:
    return f"revoked-user-{next(_users)}"


async def revoke_session(replica: SessionClient, creator: SessionClient) -> Event:
    tokens = await _sessions(creator, _user(), 1)
    (handle,) = tokens

    async def revoke() -> list[str]:
        answer = await replica.revoke_session(handle)
        assert answer.status is SessionStatus.OK, answer
        return [handle]

    return Event("RevokeSession (replica A)", revoke, tokens)


async def revoke_multiple(replica: SessionClient, creator: SessionClient, count: int) -> Event:
    tokens: dict[str, str] = {}
    for _ in range(count):
        tokens |= await _sessions(creator, _user(), 1)

    async def revoke() -> Sequence[str]:
        return (await replica.revoke_multiple_sessions(list(tokens))).session_handles

    return Event("RevokeMultipleSessions (replica A)", revoke, tokens)


async def revoke_all_for_user(
    replica: SessionClient, creator: SessionClient, count: int, label: str
) -> Event:
    user_id = _user()
    tokens = await _sessions(creator, user_id, count)

    async def revoke() -> Sequence[str]:
        return (await replica.revoke_all_sessions_for_user(user_id)).session_handles

    return Event(f"RevokeAllSessionsForUser ({label})", revoke, tokens)


async def core_remove_handles(core: Core, creator: SessionClient, count: int) -> Event:
    tokens: dict[str, str] = {}
    for _ in range(count):
        tokens |= await _sessions(creator, _user(), 1)

    async def revoke() -> Sequence[str]:
        body = {"sessionHandles": list(tokens)}
        answer = await core.post("/recipe/session/remove", body)
        assert answer["status"] == "OK", answer
        handles: list[str] = answer["sessionHandlesRevoked"]
        return handles

    return Event("CDI remove by handles (core B)", revoke, tokens)


async def core_remove_user(core: Core, creator: SessionClient, count: int) -> Event:
    user_id = _user()
    tokens = await _sessions(creator, user_id, count)

    async def revoke() -> Sequence[str]:
        answer = await core.post("/recipe/session/remove", {"userId": user_id})
        assert answer["status"] == "OK", answer
        handles: list[str] = answer["sessionHandlesRevoked"]
        return handles

    return Event("CDI remove by user (core B)", revoke, tokens)


async def theft(replica: SessionClient, label: str) -> Event:
    """A session whose first refresh token is reused after its second was used: the
    reuse is theft. The token kept is the newest access token."""
    created = await replica.create_session(_user(), {"proof": "theft"})
    first = created.refresh_token.token
    child = await replica.refresh_session(first)
    assert child.status is SessionStatus.OK and child.refresh_token is not None, child
    grandchild = await replica.refresh_session(child.refresh_token.token)
    assert grandchild.status is SessionStatus.OK and grandchild.access_token is not None
    # Its first verification is the core's (it carries the parent's hash) and answers a
    # token without it, which verifies locally from then on.
    promoted = await replica.get_session(grandchild.access_token.token)
    assert promoted.status is SessionStatus.OK and promoted.new_access_token is not None
    handle = created.session.session_handle
    tokens = {handle: promoted.new_access_token.token}

    async def revoke() -> list[str]:
        answer = await replica.refresh_session(first)
        assert answer.status is SessionStatus.TOKEN_THEFT_DETECTED, answer
        assert answer.token_theft is not None
        return [answer.token_theft.session_handle]

    return Event(f"theft detected (replica {label})", revoke, tokens)
