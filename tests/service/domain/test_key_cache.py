"""The signing-key cache against the real core: single flight, rotation, the unknown-kid
flood bound, outages (stale keys, max_stale), a restarted core, Cache-Control and the
background refresher."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_service.domain.api import CoreUnavailable, Session, SessionRecipe, Status
from tests.service.domain.domain_helpers import (
    MakeCore,
    MakeManager,
    core_calls,
    decode_header,
    forge,
    v3_header,
)

JWKS = "/.well-known/jwks.json"
VERIFY = "/recipe/session/verify"
NO_KEY = (Status.TRY_REFRESH_TOKEN, "No key found for the given kid")


async def _session(manager: SessionRecipe, user_id: str = "u") -> Session:
    created = await manager.create_new_session(user_id)
    assert created.session is not None
    return created.session


async def _outcome(manager: SessionRecipe, token: str) -> tuple[Status, str]:
    result = await manager.get_session(token)
    return result.status, result.message


async def test_concurrent_first_use_fetches_once(
    manager: SessionRecipe, core_node: RunningCore
) -> None:
    health = manager.key_cache_health()
    assert (health.has_keys, health.is_stale, health.last_success_ms) == (False, True, None)
    session = await _session(manager)
    results = await asyncio.gather(*(manager.get_session(session.access_token) for _ in range(50)))
    assert {r.status for r in results} == {Status.OK}
    assert core_calls(core_node, JWKS) == 1
    assert manager.key_cache_stats().fetches_ok == 1
    health = manager.key_cache_health()
    assert health.has_keys and not health.is_stale and health.last_success_ms is not None


async def test_key_rotation_is_picked_up(
    make_core: MakeCore, make_manager: MakeManager, domain_clock: ManualClock
) -> None:
    core = await make_core(access_token_dynamic_signing_key_update_interval=1.0)
    manager = await make_manager(core.url)
    before = await _session(manager)
    assert (await _outcome(manager, before.access_token)) == (Status.OK, "")
    domain_clock.advance(3_600_000)
    after = await _session(manager)
    old_kid, new_kid = (
        decode_header(before.access_token)["kid"],
        decode_header(after.access_token)["kid"],
    )
    assert old_kid.startswith("d-") and new_kid.startswith("d-") and new_kid != old_kid
    assert (await _outcome(manager, after.access_token)) == (Status.OK, "")
    assert core_calls(core, JWKS) == 2
    assert core_calls(core, VERIFY) == 0
    jwks = await manager.get_jwks()
    assert [k.kid for k in jwks.keys] == [k.kid for k in core.signing_keys.verification_keys()]
    assert len([k for k in jwks.keys if k.kid.startswith("d-")]) == 2


async def test_unknown_kid_flood_causes_bounded_fetches(
    make_manager: MakeManager, core_node: RunningCore, domain_clock: ManualClock
) -> None:
    manager = await make_manager(core_node.url, key_cache={"unknown_kid_ttl_seconds": 60})
    session = await _session(manager)
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    assert core_calls(core_node, JWKS) == 1
    key = core_node.signing_keys.dynamic_signing_key()

    def random_kid_tokens(n: int) -> list[str]:
        return [
            forge(key, v3_header(f"d-{uuid.uuid4()}"), session.access_token_payload)
            for _ in range(n)
        ]

    async def flood(tokens: list[str]) -> None:
        outcomes = await asyncio.gather(*(_outcome(manager, t) for t in tokens))
        assert set(outcomes) == {NO_KEY}

    # Inside the cooldown after the first fetch: no fetch at all.
    await flood(random_kid_tokens(100))
    assert core_calls(core_node, JWKS) == 1
    # After the cooldown: 300 concurrent random kids share ONE refetch.
    domain_clock.advance(600)
    tokens = random_kid_tokens(300)
    await flood(tokens)
    assert core_calls(core_node, JWKS) == 2
    # The same kids again after the cooldown: answered by the negative cache.
    domain_clock.advance(600)
    await flood(tokens)
    assert core_calls(core_node, JWKS) == 2
    assert manager.key_cache_stats().negative_cache_hits >= 300
    # A new kid after the cooldown: one more fetch; a valid token still verifies.
    await flood(random_kid_tokens(1))
    assert core_calls(core_node, JWKS) == 3
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    stats = manager.key_cache_stats()
    assert stats.unknown_kid_refetches == 2
    assert stats.unknown_kid_misses == 100 + 300 + 300 + 1


async def test_core_down_then_restarted(
    make_core: MakeCore, make_manager: MakeManager, domain_clock: ManualClock
) -> None:
    core = await make_core()
    manager = await make_manager(core.url)
    session = await _session(manager)
    assert session.refresh_token is not None
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    port = core.port
    await core.stop()

    # Already-issued tokens keep verifying from the cached keys...
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    # ...even once the keys are stale (within max_stale), while stateful calls fail.
    domain_clock.advance(120_000)
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    assert manager.key_cache_health().is_stale
    with pytest.raises(CoreUnavailable):
        await manager.create_new_session("u2")
    with pytest.raises(CoreUnavailable):
        await manager.get_session(session.access_token, check_database=True)
    with pytest.raises(CoreUnavailable):
        await manager.check_core()  # readiness probes really ask the core

    # A new core on the same port and database: the same manager recovers.
    restarted = await make_core(port=port)
    assert restarted.url == core.url
    await manager.check_core()
    again = await _session(manager, "u3")
    assert (await _outcome(manager, again.access_token)) == (Status.OK, "")
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    refreshed = await manager.refresh_session(session.refresh_token.token)
    assert refreshed.status is Status.OK
    # Once the fetch cooldown has passed, a verification refreshes the stale keys.
    generation = fetches(manager)
    domain_clock.advance(1_000)
    assert (await _outcome(manager, again.access_token)) == (Status.OK, "")
    await asyncio.wait_for(manager.key_cache.wait_for_fetch(generation), 10)
    assert not manager.key_cache_health().is_stale
    assert core_calls(restarted, JWKS) == 1


async def test_max_stale_bounds_serving_from_cache(
    make_core: MakeCore, make_manager: MakeManager, domain_clock: ManualClock
) -> None:
    core = await make_core()
    manager = await make_manager(core.url, key_cache={"max_stale_seconds": 120})
    session = await _session(manager)
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    await core.stop()
    domain_clock.advance(60_000 + 119_000)  # stale, but within max_stale
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    assert manager.key_cache_health().has_keys
    domain_clock.advance(1_000)
    with pytest.raises(CoreUnavailable) as raised:
        await manager.get_session(session.access_token)
    assert "signing keys" in str(raised.value)
    health = manager.key_cache_health()
    assert (health.has_keys, health.is_stale) == (False, True)
    assert manager.key_cache_stats().fetches_failed >= 1


@pytest.mark.parametrize("honour", [True, False])
async def test_cache_control_max_age_is_honoured(
    make_core: MakeCore, make_manager: MakeManager, domain_clock: ManualClock, honour: bool
) -> None:
    # The core sends max-age = seconds until its next dynamic key, capped at 60. With a
    # 1 h interval and 60 s overlap, 3530 s after its start that is 10 s.
    core = await make_core(access_token_dynamic_signing_key_update_interval=1.0)
    manager = await make_manager(core.url, key_cache={"honour_cache_control": honour})
    domain_clock.advance(3_530_000)
    session = await _session(manager)
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    assert core_calls(core, JWKS) == 1
    domain_clock.advance(9_999)
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    assert core_calls(core, JWKS) == 1
    generation = fetches(manager)
    domain_clock.advance(1)
    # Stale keys still answer at once; the refetch runs in the background.
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    if honour:
        await asyncio.wait_for(manager.key_cache.wait_for_fetch(generation), 10)
        assert core_calls(core, JWKS) == 2
        assert not manager.key_cache_health().is_stale
    else:
        assert fetches(manager) == generation
        assert core_calls(core, JWKS) == 1
        assert not manager.key_cache_health().is_stale


async def test_background_refresh_before_expiry(
    make_core: MakeCore, make_manager: MakeManager, domain_clock: ManualClock
) -> None:
    core = await make_core(access_token_dynamic_signing_key_update_interval=1.0)
    domain_clock.advance(3_539_000)  # the core now answers max-age=1
    manager = await make_manager(core.url)
    await manager.start()
    # The refresher fetches at once, then again shortly before the 1 s freshness ends,
    # without any verification asking for keys.
    await asyncio.wait_for(manager.key_cache.wait_for_fetch(0), 10)
    await asyncio.wait_for(manager.key_cache.wait_for_fetch(1), 10)
    assert core_calls(core, JWKS) >= 2
    assert manager.key_cache_stats().fetches_ok >= 2
    assert core_calls(core, VERIFY) == 0


async def test_a_refetch_of_unchanged_keys_keeps_cached_tokens_verified(
    make_core: MakeCore, make_manager: MakeManager, domain_clock: ManualClock
) -> None:
    """The periodic refetch must not make the verified-token cache check every token's
    signature again: an unchanged key stays the same key."""
    core = await make_core(access_token_dynamic_signing_key_update_interval=1.0)
    manager = await make_manager(core.url)
    session = await _session(manager)
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    kid = decode_header(session.access_token)["kid"]
    key_before = manager.key_cache.current_key(kid, domain_clock.now_ms())
    stats = manager.token_cache_stats()
    assert stats is not None
    misses_before = stats.misses

    generation = fetches(manager)
    domain_clock.advance(61_000)  # past the default 60 s freshness: the next use refetches
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    await asyncio.wait_for(manager.key_cache.wait_for_fetch(generation), 10)
    assert core_calls(core, JWKS) == 2
    assert manager.key_cache.current_key(kid, domain_clock.now_ms()) is key_before
    assert (await _outcome(manager, session.access_token)) == (Status.OK, "")
    stats = manager.token_cache_stats()
    assert stats is not None
    assert stats.misses == misses_before


def fetches(manager: SessionRecipe) -> int:
    """How many signing-key fetches have completed, successful or not."""
    stats = manager.key_cache_stats()
    return stats.fetches_ok + stats.fetches_failed
