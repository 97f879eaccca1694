"""The verified-token cache: same outcomes as no cache, bounded, exp respected per hit,
rejected tokens kept apart, entries dropped on revocation through this service.

Every manager here talks to the real core on a real socket and shares its ManualClock; the
cache's counters (``token_cache_stats``) and the core's request counter are the observations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_core.crypto import SigningKey
from session_service.domain.api import (
    ClaimValidatorKind,
    ClaimValidatorSpec,
    SessionRecipe,
    Status,
    TokenCacheConfig,
)
from tests.service.domain.domain_helpers import (
    MakeManager,
    b64url,
    core_calls,
    forge,
    stats,
    token_for,
    v3_header,
)

VERIFY = "/recipe/session/verify"


@dataclass
class Forgery:
    """Tokens signed with the core's own keys, with one thing changed."""

    dynamic: SigningKey
    static: SigningKey
    payload: dict[str, Any]
    now_s: int

    def token(
        self, key: SigningKey | None = None, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        key = key or self.dynamic
        return forge(key, {**v3_header(key.kid), **(header or {})}, {**self.payload, **claims})


@pytest.fixture
async def forgery(
    make_manager: MakeManager, core_node: RunningCore, domain_clock: ManualClock
) -> Forgery:
    manager = await make_manager(core_node.url, token_cache=TokenCacheConfig(enabled=False))
    now_ms = domain_clock.now_ms()
    created = await manager.create_new_session("forged", {"st-role": {"v": ["admin"], "t": now_ms}})
    assert created.session is not None
    # Whole seconds make the iat/exp boundaries exact.
    now_s = now_ms // 1000 + 1
    domain_clock.set(now_s * 1000)
    payload = dict(created.session.access_token_payload, iat=now_s, exp=now_s + 3600)
    return Forgery(
        core_node.signing_keys.dynamic_signing_key(),
        core_node.signing_keys.static_signing_key(),
        payload,
        now_s,
    )


def _battery(f: Forgery) -> dict[str, str]:
    header, payload, signature = f.token().split(".")
    return {
        "valid": f.token(),
        "expired": f.token(exp=f.now_s),
        "not yet valid": f.token(iat=f.now_s + 1),
        "nbf not an integer": f.token(nbf="soon"),
        "audience": f.token(aud="someone"),
        "other key, same kid": forge(f.static, v3_header(f.dynamic.kid), f.payload),
        "payload swapped": f"{header}.{b64url(b'{}')}.{signature}",
        "alg none": f.token(header={"alg": "none"}),
        "critical extension": f.token(header={"crit": ["exp"]}),
        "unknown kid": f.token(header={"kid": "d-unknown"}),
        "static key (key mode)": f.token(key=f.static),
        "garbage": "not-a-token",
        "three garbage parts": "a.b.c",
        "not base64url": f"{header}.{payload}!.{signature}",
    }


REQUESTS: dict[str, dict[str, Any]] = {
    "default": {},
    "session not required": {"session_required": False},
    "check_database": {"check_database": True},
    "claims ok": {
        "claim_validators": (
            ClaimValidatorSpec(ClaimValidatorKind.INCLUDES, "st-role", value="admin"),
        )
    },
    "claims fail": {
        "claim_validators": (
            ClaimValidatorSpec(ClaimValidatorKind.INCLUDES, "st-role", value="root"),
        )
    },
}


async def test_cached_outcomes_equal_uncached(
    make_manager: MakeManager, core_node: RunningCore, forgery: Forgery
) -> None:
    uncached = await make_manager(core_node.url, token_cache=TokenCacheConfig(enabled=False))
    cached = await make_manager(core_node.url)
    assert uncached.token_cache_stats() is None
    core_verifications = 0
    for token_name, token in _battery(forgery).items():
        for request_name, request in REQUESTS.items():
            before = core_calls(core_node, VERIFY)
            expected = await uncached.get_session(token, **request)
            sdk_calls = core_calls(core_node, VERIFY) - before
            first = await cached.get_session(token, **request)
            second = await cached.get_session(token, **request)
            where = f"{token_name} / {request_name}"
            assert first == expected, where
            assert second == expected, where
            # The cache never saves a core call the SDK would make.
            assert core_calls(core_node, VERIFY) - before == 3 * sdk_calls, where
            core_verifications += sdk_calls
    assert core_verifications > 0
    final = stats(cached)
    assert final.hits > 0
    assert final.rejected_hits > 0
    # The valid token and the static-key one (authentic; refused per request by key mode).
    assert final.verified == 2


async def test_size_bounds(make_manager: MakeManager, core_node: RunningCore) -> None:
    manager = await make_manager(
        core_node.url, token_cache=TokenCacheConfig(max_entries=3, decoded_entries=2)
    )
    tokens = [await token_for(manager, f"bounded-{i}") for i in range(5)]
    for token in tokens:
        assert (await manager.get_session(token)).status is Status.OK
    # A first use keeps a verdict only: the decoded tier admits a token on its second.
    assert (stats(manager).verified, stats(manager).decoded) == (3, 0)
    for token in tokens[2:]:
        assert (await manager.get_session(token)).status is Status.OK
    assert (stats(manager).verified, stats(manager).decoded) == (3, 2)
    assert stats(manager).warm_hits == 3
    # Newest two decoded; the third newest only as a verdict; the two oldest are gone.
    await manager.get_session(tokens[4])
    assert stats(manager).hits == 1
    await manager.get_session(tokens[2])
    assert stats(manager).warm_hits == 4
    misses = stats(manager).misses
    assert (await manager.get_session(tokens[0])).status is Status.OK
    assert stats(manager).misses == misses + 1
    assert stats(manager).verified == 3


async def test_an_entry_never_outlives_its_token(
    make_manager: MakeManager, core_node: RunningCore, domain_clock: ManualClock
) -> None:
    cached = await make_manager(core_node.url)
    uncached = await make_manager(core_node.url, token_cache=TokenCacheConfig(enabled=False))
    token = await token_for(cached, "expiring")
    first = await cached.get_session(token)
    assert first.session is not None
    expiry_ms = first.session.access_token_expiry_ms
    domain_clock.set(expiry_ms - 1)
    for _ in range(2):
        assert (await cached.get_session(token)).status is Status.OK
    assert (stats(cached).warm_hits, stats(cached).hits) == (1, 1)
    domain_clock.set(expiry_ms)  # zero leeway: expired at exp itself
    expired = await cached.get_session(token)
    assert expired == await uncached.get_session(token)
    assert (expired.status, expired.message) == (Status.TRY_REFRESH_TOKEN, "Signature has expired")
    assert stats(cached).verified == 0


async def test_expired_entries_are_swept_on_insert(
    make_manager: MakeManager, core_node: RunningCore, domain_clock: ManualClock
) -> None:
    manager = await make_manager(core_node.url)
    old = [await token_for(manager, f"old-{i}") for i in range(2)]
    for token in old:
        await manager.get_session(token)
    domain_clock.advance(3_600_000)  # the core's default access-token validity
    fresh = await token_for(manager, "fresh")
    await manager.get_session(fresh)
    assert stats(manager).verified == 1


async def test_garbage_cannot_evict_verified_tokens(
    make_manager: MakeManager, core_node: RunningCore, forgery: Forgery
) -> None:
    manager = await make_manager(
        core_node.url, token_cache=TokenCacheConfig(max_entries=10, max_rejected=5)
    )
    good = [await token_for(manager, f"good-{i}") for i in range(3)]
    for token in good:
        await manager.get_session(token)
    header, payload, _ = forgery.token().split(".")
    for i in range(50):
        assert (await manager.get_session(f"garbage-{i}")).status is Status.UNAUTHORISED
        bad_signature = f"{header}.{payload}.{b64url(i.to_bytes(256, 'big'))}"
        assert (await manager.get_session(bad_signature)).status is Status.TRY_REFRESH_TOKEN
    assert (stats(manager).verified, stats(manager).rejected) == (3, 5)
    misses = stats(manager).misses
    for token in good:
        assert (await manager.get_session(token)).status is Status.OK
    assert stats(manager).misses == misses
    # A remembered rejection answers the same without verifying again.
    last = f"{header}.{payload}.{b64url((49).to_bytes(256, 'big'))}"
    rejected_hits = stats(manager).rejected_hits
    result = await manager.get_session(last)
    assert (result.status, result.message) == (
        Status.TRY_REFRESH_TOKEN,
        "Signature verification failed",
    )
    assert stats(manager).rejected_hits == rejected_hits + 1


Revoke = Callable[[SessionRecipe, list[str]], Awaitable[object]]


async def _revoke_one(manager: SessionRecipe, handles: list[str]) -> object:
    return await manager.revoke_session(handles[0])


async def _revoke_multiple(manager: SessionRecipe, handles: list[str]) -> object:
    return await manager.revoke_multiple_sessions(handles)


async def _revoke_user(manager: SessionRecipe, handles: list[str]) -> object:
    return await manager.revoke_all_sessions_for_user("revoked-user")


@pytest.mark.parametrize(
    ("revoke", "dropped"), [(_revoke_one, 2), (_revoke_multiple, 3), (_revoke_user, 3)]
)
async def test_revocation_drops_the_sessions_entries(
    make_manager: MakeManager, core_node: RunningCore, revoke: Revoke, dropped: int
) -> None:
    manager = await make_manager(core_node.url)
    first = await manager.create_new_session("revoked-user")
    second = await manager.create_new_session("revoked-user")
    bystander = await token_for(manager, "bystander")
    assert first.session is not None and first.session.refresh_token is not None
    assert second.session is not None
    refreshed = await manager.refresh_session(first.session.refresh_token.token)
    assert refreshed.session is not None
    tokens = [
        first.session.access_token,
        refreshed.session.access_token,  # a second token of the same session
        second.session.access_token,
        bystander,
    ]
    for token in tokens * 2:  # twice: verdicts, then decoded entries
        assert (await manager.get_session(token)).status is Status.OK
    assert (stats(manager).verified, stats(manager).decoded) == (4, 4)
    await revoke(manager, [first.session.session_handle, second.session.session_handle])
    assert (stats(manager).verified, stats(manager).decoded) == (4 - dropped, 4 - dropped)
    hits = stats(manager).hits
    assert (await manager.get_session(bystander)).status is Status.OK
    assert stats(manager).hits == hits + 1
    # Like the SDK, a revoked session's access token still verifies locally until it
    # expires; it is verified from scratch, not served from the dropped entry.
    misses = stats(manager).misses
    assert (await manager.get_session(tokens[0])).status is Status.OK
    assert stats(manager).misses == misses + 1


async def test_zero_sizes_cache_nothing(make_manager: MakeManager, core_node: RunningCore) -> None:
    manager = await make_manager(
        core_node.url,
        token_cache=TokenCacheConfig(max_entries=0, max_rejected=0),
    )
    token = await token_for(manager, "uncached")
    for _ in range(2):
        assert (await manager.get_session(token)).status is Status.OK
        assert (await manager.get_session("junk")).status is Status.UNAUTHORISED
    final = stats(manager)
    assert (final.verified, final.decoded, final.rejected, final.hits, final.misses) == (
        0,
        0,
        0,
        0,
        4,
    )
