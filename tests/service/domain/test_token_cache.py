"""The verified-token cache: same outcomes as no cache, bounded, exp respected per hit,
rejected tokens kept apart, entries dropped on revocation through this service.

Every manager here talks to the real core on a real socket and shares its ManualClock; the
cache's counters (``token_cache_stats``) and the core's request counter are the observations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_core.crypto import SigningKey
from session_service.domain.api import (
    AntiCsrfMode,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    Session,
    SessionRecipe,
    SessionResult,
    Status,
    TokenCacheConfig,
    TokenCacheStats,
)
from session_service.domain.overrides import RecipeFunctions
from tests.service.domain.domain_helpers import (
    MakeManager,
    b64url,
    core_calls,
    domain_config,
    forge,
    v3_header,
)

VERIFY = "/recipe/session/verify"


def as_is(session: Session) -> Session:
    """A fast-path rendering that is the session itself."""
    return session


def answers(manager: SessionRecipe) -> Callable[[bytes], Session | None]:
    """The fast path's answers for token-only GetSession requests (the session kept with
    a token's entry, here)."""
    cache = manager.fast_path_cache(as_is)
    assert cache is not None and cache.answer is not None
    return cache.answer


def kept(manager: SessionRecipe, token: str) -> Session | None:
    """What the fast path answers from the cache for ``token``."""
    return answers(manager)(token.encode())


def stats(manager: SessionRecipe) -> TokenCacheStats:
    current = manager.token_cache_stats()
    assert current is not None
    return current


async def token_for(
    manager: SessionRecipe, user_id: str, payload: dict[str, Any] | None = None
) -> str:
    created = await manager.create_new_session(user_id, payload or {})
    assert created.session is not None
    return created.session.access_token


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


async def test_anti_csrf_is_checked_on_every_hit(
    make_manager: MakeManager, core_node: RunningCore
) -> None:
    cached = await make_manager(core_node.url, anti_csrf=AntiCsrfMode.VIA_TOKEN)
    uncached = await make_manager(
        core_node.url,
        anti_csrf=AntiCsrfMode.VIA_TOKEN,
        token_cache=TokenCacheConfig(enabled=False),
    )
    created = await cached.create_new_session("csrf-user")
    assert created.session is not None and created.session.anti_csrf_token is not None
    token, csrf = created.session.access_token, created.session.anti_csrf_token
    variants: list[dict[str, Any]] = [
        {"anti_csrf_token": csrf},
        {"anti_csrf_token": "wrong"},
        {},
        {"anti_csrf_check": False},
        {"anti_csrf_token": csrf},
    ]
    for request in variants:
        assert await cached.get_session(token, **request) == await uncached.get_session(
            token, **request
        ), request
    # The second use decodes the token again (warm), every later one is a hit.
    assert (stats(cached).warm_hits, stats(cached).hits) == (1, len(variants) - 2)
    no_csrf = await cached.create_new_session("no-csrf", disable_anti_csrf=True)
    assert no_csrf.session is not None
    plain = no_csrf.session.access_token
    await cached.get_session(plain, anti_csrf_check=False)  # cached while not required
    required = await cached.get_session(plain)
    assert (required.status, required.message) == (
        Status.TRY_REFRESH_TOKEN,
        "Access token does not contain the anti-csrf token",
    )


async def test_a_refreshed_token_still_reaches_the_core_every_time(
    make_manager: MakeManager, core_node: RunningCore
) -> None:
    manager = await make_manager(core_node.url)
    created = await manager.create_new_session("refreshing")
    assert created.session is not None and created.session.refresh_token is not None
    refreshed = await manager.refresh_session(created.session.refresh_token.token)
    assert refreshed.session is not None
    child = refreshed.session.access_token  # carries parentRefreshTokenHash1
    before = core_calls(core_node, VERIFY)
    for _ in range(3):
        assert (await manager.get_session(child)).status is Status.OK
    assert core_calls(core_node, VERIFY) - before == 3
    assert (stats(manager).warm_hits, stats(manager).hits) == (1, 1)


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


async def test_default_lookup_serves_the_decoded_tier_by_the_tokens_bytes(
    make_manager: MakeManager, core_node: RunningCore
) -> None:
    """The fast path's answer (what the server tries first for a token-only GetSession)
    comes from the decoded tier, which is keyed by the token's exact bytes: an eviction,
    a warm hit that decodes the token again, and a revocation keep that tier and the
    verdicts (keyed by digest) in step."""
    manager = await make_manager(
        core_node.url, token_cache=TokenCacheConfig(max_entries=10, decoded_entries=2)
    )
    lookup = answers(manager)
    tokens = [await token_for(manager, f"lookup-{i}") for i in range(3)]
    assert lookup(tokens[0].encode()) is None  # not seen yet
    assert (await manager.get_session(tokens[0])).status is Status.OK
    assert lookup(tokens[0].encode()) is None  # a verdict only, after a first use
    second = await manager.get_session(tokens[0])
    assert lookup(tokens[0].encode()) is second.session
    tampered = tokens[0][:-1] + ("A" if tokens[0][-1] != "A" else "B")
    assert lookup(tampered.encode()) is None
    assert (await manager.get_session(tampered)).status is not Status.OK

    for token in tokens[1:] * 2:  # the first token's decoded entry is pushed out
        assert (await manager.get_session(token)).status is Status.OK
    assert (stats(manager).verified, stats(manager).decoded) == (3, 2)
    assert lookup(tokens[0].encode()) is None
    warm = stats(manager).warm_hits
    again = await manager.get_session(tokens[0])  # decoded again from its verdict
    assert again.status is Status.OK and stats(manager).warm_hits == warm + 1
    assert (stats(manager).verified, stats(manager).decoded) == (3, 2)
    kept = lookup(tokens[0].encode())
    assert kept is not None and kept is again.session

    await manager.revoke_session(kept.session_handle)
    assert lookup(tokens[0].encode()) is None
    assert (stats(manager).verified, stats(manager).decoded) == (2, 1)

    off = await make_manager(core_node.url, token_cache=TokenCacheConfig(enabled=False))
    assert off.fast_path_cache(as_is) is None


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


async def test_results_are_equal_types(make_manager: MakeManager, core_node: RunningCore) -> None:
    """A hit returns the same session as the miss; from the second use on, the very result
    kept with the token's entry."""
    manager = await make_manager(core_node.url)
    token = await token_for(manager, "same", {"role": "admin"})
    miss: SessionResult = await manager.get_session(token)
    warm: SessionResult = await manager.get_session(token)  # decoded again, then kept
    hit: SessionResult = await manager.get_session(token)
    assert miss == warm == hit
    assert miss.session is not None and warm.session is not None and hit.session is not None
    assert miss is not warm  # a first use is not kept decoded
    assert warm is hit
    assert hit.session.access_token_payload["role"] == "admin"


async def test_default_request_answer_from_the_cache_only_when_nothing_else_can_matter(
    make_manager: MakeManager, core_node: RunningCore, domain_clock: ManualClock
) -> None:
    """The fast path's answer for a request with only a token is the session of
    get_session's own OK result for a token seen before, and stays out of the
    way (None) whenever anything could make get_session answer differently."""
    manager = await make_manager(core_node.url)
    token = await token_for(manager, "u")
    assert kept(manager, token) is None  # not seen yet
    assert (await manager.get_session(token)).status is Status.OK
    assert kept(manager, token) is None  # a verdict only, so far
    first = await manager.get_session(token)
    assert first.status is Status.OK
    hits_before = stats(manager).hits
    assert kept(manager, token) is first.session
    assert stats(manager).hits == hits_before + 1
    assert kept(manager, token + "x") is None
    assert kept(manager, "a" * 20_000) is None

    domain_clock.advance(3600 * 1000)  # the token's exp (the core's default validity)
    assert kept(manager, token) is None
    expired = await manager.get_session(token)
    assert expired.status is Status.TRY_REFRESH_TOKEN

    fresh = await token_for(manager, "v")
    assert (await manager.get_session(fresh)).status is Status.OK
    handle = (await manager.get_session(fresh)).session
    assert handle is not None and kept(manager, fresh) is not None
    await manager.revoke_session(handle.session_handle)
    assert kept(manager, fresh) is None

    for overrides in (
        {"anti_csrf": AntiCsrfMode.VIA_TOKEN},
        {
            "required_claim_validators": (
                ClaimValidatorSpec(ClaimValidatorKind.INCLUDES, "st-role", value="admin"),
            )
        },
    ):
        other = await make_manager(core_node.url, **overrides)
        created = await other.create_new_session("w")
        assert created.session is not None
        for _ in range(2):  # kept decoded from the second use on
            await other.get_session(
                created.session.access_token, anti_csrf_token=created.session.anti_csrf_token
            )
        other_cache = other.fast_path_cache(as_is)
        assert other_cache is not None and other_cache.answer is None

    originals: list[Callable[..., Awaitable[SessionResult]]] = []

    def ban_everyone(functions: RecipeFunctions) -> RecipeFunctions:
        originals.append(functions.get_session)

        async def get_session(access_token: str | None, **options: Any) -> SessionResult:
            return SessionResult(Status.UNAUTHORISED, "banned")

        return dataclasses.replace(functions, get_session=get_session)

    hooked = SessionRecipe(domain_config(core_node.url), clock=domain_clock, override=ban_everyone)
    try:
        hooked_token = await token_for(hooked, "x")
        for _ in range(2):
            assert (await originals[0](hooked_token)).status is Status.OK  # now kept decoded
        hooked_cache = hooked.fast_path_cache(as_is)
        assert hooked_cache is not None and hooked_cache.answer is None
        assert (await hooked.get_session(hooked_token)).status is Status.UNAUTHORISED
    finally:
        await hooked.close()


async def test_the_answer_kept_with_an_entry_serves_every_session_of_that_entry(
    make_manager: MakeManager, core_node: RunningCore
) -> None:
    """The full path (here with anti-CSRF tokens, which keep token-only answers off) reuses
    the answer rendered once for a token's entry, for every session get_session serves from
    that entry whatever its anti-CSRF token; a session with another payload object, or of a
    token not kept decoded, has none."""
    manager = await make_manager(core_node.url, anti_csrf=AntiCsrfMode.VIA_TOKEN)
    created = await manager.create_new_session("render")
    assert created.session is not None
    token, anti_csrf = created.session.access_token, created.session.anti_csrf_token
    rendered: list[Session] = []

    def render(session: Session) -> tuple[str, str]:
        rendered.append(session)
        return ("answer", session.session_handle)

    cache = manager.fast_path_cache(render)
    assert cache is not None and cache.answer is None
    first = await manager.get_session(token, anti_csrf_token=anti_csrf)
    assert first.session is not None
    assert cache.rendered(first.session) is None  # a first use is not kept decoded
    results = [await manager.get_session(token, anti_csrf_token=anti_csrf) for _ in range(2)]
    sessions = [result.session for result in results]
    assert sessions[0] is not None and sessions[1] is not None
    assert sessions[0] is not sessions[1]  # each carries its request's anti-CSRF token
    answer = cache.rendered(sessions[0])
    assert answer == ("answer", created.session.session_handle)
    assert cache.rendered(sessions[1]) is answer
    assert len(rendered) == 1 and rendered[0].anti_csrf_token is None
    rebuilt = dataclasses.replace(
        sessions[1], access_token_payload=dict(sessions[1].access_token_payload)
    )
    assert cache.rendered(rebuilt) is None
