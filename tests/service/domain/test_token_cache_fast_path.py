"""The verified-token cache as the fast path uses it (token_cache.FastPathCache, through
SessionRecipe.fast_path_cache): answers from the decoded tier by the token's bytes, only when
nothing else can matter, and one rendering kept per entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_service.domain.api import (
    AntiCsrfMode,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    Session,
    SessionRecipe,
    SessionResult,
    Status,
    TokenCacheConfig,
)
from session_service.domain.overrides import RecipeFunctions
from tests.service.domain.domain_helpers import (
    MakeManager,
    domain_config,
    stats,
    token_for,
)


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
