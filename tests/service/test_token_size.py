"""The longest access token the service accepts is at least the longest it lets a session
have: every write that could make a session's tokens longer than ``max_access_token_bytes``
is refused (INVALID_ARGUMENT naming the limit, the session unchanged), and what another
backend stored past it through the core's API is refused as UNAUTHORISED.

For each writing RPC the largest accepted payload is found by bisection; the session's
longest token (after a refresh, which adds the parent's hash, with anti-CSRF on) must
verify, and one more byte must be refused.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest
from session_client import SessionClient, SessionStatus

from session_core.app import RunningCore
from tests.reliability import STATS
from tests.service.conftest import MakeService
from tests.service.test_stored_data import signed_like

OK = SessionStatus.OK
Accepts = Callable[[int], Awaitable[bool]]


async def largest_accepted(accepts: Accepts, refused: int) -> int:
    """The largest n in [0, refused) that ``accepts``, given that 0 is and ``refused`` is not."""
    low, high = 0, refused
    while high - low > 1:
        middle = (low + high) // 2
        if await accepts(middle):
            low = middle
        else:
            high = middle
    return low


async def _written(call: Awaitable[Any], limit: int) -> bool:
    """True when the write went through; False when it was refused for the token size."""
    STATS["RPCs made"] += 1
    try:
        result = await call
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        assert f"more than the service's limit of {limit}" in (exc.details() or "")
        return False
    assert getattr(result, "status", OK) is OK
    return True


class Session:
    """A session and its current tokens, refreshed the way a client would."""

    def __init__(self, client: SessionClient, created: Any) -> None:
        self.client = client
        self.handle: str = created.session.session_handle
        self.access: str = created.session.access_token
        self.refresh: str = created.refresh_token.token
        self.anti_csrf: str | None = created.anti_csrf_token

    async def longest_token(self) -> str:
        """Refresh (the new token carries the parent's hash and an anti-CSRF token): the
        longest token the session can have with its stored payload. It must verify."""
        refreshed = await self.client.refresh_session(self.refresh, anti_csrf_token=self.anti_csrf)
        assert refreshed.status is OK, refreshed.message
        assert refreshed.access_token is not None and refreshed.refresh_token is not None
        self.access, self.refresh = refreshed.access_token.token, refreshed.refresh_token.token
        self.anti_csrf = refreshed.anti_csrf_token
        verified = await self.client.get_session(self.access, anti_csrf_check=False)
        assert verified.status is OK, verified.message
        STATS["RPCs made"] += 2
        return self.access

    async def stored_payload(self) -> dict[str, Any]:
        info = await self.client.get_session_information(self.handle)
        assert info.info is not None
        return info.info.custom_claims_in_access_token_payload


Writer = Callable[[Session, int], Awaitable[Any]]
WRITERS: dict[str, Writer] = {
    "MergeIntoAccessTokenPayload": lambda s, n: s.client.merge_into_access_token_payload(
        s.handle, {"blob": "x" * n}
    ),
    "SetClaimValue": lambda s, n: s.client.set_claim_value(s.handle, "blob", "x" * n),
    "RegenerateAccessToken": lambda s, n: s.client.regenerate_access_token(
        s.access, {"blob": "x" * n}
    ),
}


@pytest.mark.parametrize(("limit", "anti_csrf"), [(8000, "NONE"), (4000, "VIA_TOKEN")])
async def test_tokens_just_below_and_above_the_limit_through_each_writing_rpc(
    make_service: MakeService, limit: int, anti_csrf: str
) -> None:
    service = await make_service(max_access_token_bytes=limit, anti_csrf=anti_csrf)
    longest: dict[str, int] = {}
    async with SessionClient.insecure(service.address) as client:
        # CreateSession: a refused session is removed again, so the user has exactly the
        # sessions whose creation was answered OK.
        user = f"creator-{limit}"
        created = 0

        async def create(n: int) -> bool:
            nonlocal created
            ok = await _written(client.create_session(user, {"blob": "x" * n}), limit)
            created += ok
            return ok

        n = await largest_accepted(create, limit)
        assert await create(n) and not await create(n + 1)
        listed = await client.get_all_session_handles_for_user(user)
        assert len(listed.session_handles) == created
        session = Session(client, await client.create_session(user, {"blob": "x" * n}))
        longest["CreateSession"] = len(await session.longest_token())

        for name, write in WRITERS.items():
            session = Session(client, await client.create_session(f"{name}-{limit}"))
            n = await largest_accepted(lambda n: _written(write(session, n), limit), limit)  # noqa: B023
            assert await _written(write(session, n), limit)
            before = await session.stored_payload()
            assert not await _written(write(session, n + 1), limit)
            assert await session.stored_payload() == before  # refused: nothing written
            longest[name] = len(await session.longest_token())

    for name, length in longest.items():
        assert length <= limit, (name, length)
        STATS[f"longest token issued through {name} at limit {limit}"] = length


async def test_a_payload_stored_past_the_limit_is_refused_as_unauthorised(
    make_service: MakeService, core: RunningCore
) -> None:
    limit = 4000
    service = await make_service(max_access_token_bytes=limit)
    async with (
        SessionClient.insecure(service.address) as client,
        httpx.AsyncClient(base_url=core.url, headers={"cdi-version": "2.21"}) as http,
    ):
        created = await client.create_session("stored-past")
        body = {
            "sessionHandle": created.session.session_handle,
            "userDataInJWT": {"b": "x" * limit},
        }
        reply = await http.put("/recipe/jwt/data", content=json.dumps(body))
        assert reply.json() == {"status": "OK"}
        refreshed = await client.refresh_session(created.refresh_token.token)
        checked = await client.get_session(created.session.access_token, check_database=True)
        for result in (refreshed, checked):
            assert result.status is SessionStatus.UNAUTHORISED
            assert f"more than the service's limit of {limit}" in result.message
        # Merging the claim away makes the session usable again.
        merged = await client.merge_into_access_token_payload(
            created.session.session_handle, {"b": None}
        )
        assert merged.status is OK
        assert (await client.refresh_session(created.refresh_token.token)).status is OK
        # So does RegenerateAccessToken, which replaces the stored payload ({} when given
        # none, as the SDK sends).
        reply = await http.put("/recipe/jwt/data", content=json.dumps(body))
        assert reply.json() == {"status": "OK"}
        regenerated = await client.regenerate_access_token(created.session.access_token)
        assert (regenerated.status, regenerated.user_data_in_jwt) == (OK, {})
        assert (await client.refresh_session(created.refresh_token.token)).status is OK
    STATS["RPCs made"] += 8


async def test_the_limit_is_what_get_session_accepts(
    make_service: MakeService, core: RunningCore
) -> None:
    limit = 4000
    service = await make_service(max_access_token_bytes=limit)
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("exact")

        def padded(n: int) -> str:
            return signed_like(core, created.session.access_token, pad="x" * n)

        low, high = 0, limit  # padded(0) fits, padded(limit) does not
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if len(padded(middle)) <= limit else (low, middle)
        # Unpadded base64 skips one length in four: the longest token is the limit or one less.
        assert limit - 1 <= len(padded(low)) <= limit < len(padded(high))
        assert (await client.get_session(padded(low))).status is OK
        result = await client.get_session(padded(high))
        assert (result.status, result.message) == (
            SessionStatus.UNAUTHORISED,
            "Token parsing failed",
        )
    STATS["RPCs made"] += 3
