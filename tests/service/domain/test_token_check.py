"""The verify-and-cache pipeline (token_check.py) as get_session uses it: anti-CSRF checked on
every hit, a refreshed token sent to the core every time, a hit equal to a miss."""

from __future__ import annotations

from typing import Any

from session_core.app import RunningCore
from session_service.domain.api import (
    AntiCsrfMode,
    SessionResult,
    Status,
    TokenCacheConfig,
)
from tests.service.domain.domain_helpers import (
    MakeManager,
    core_calls,
    stats,
    token_for,
)

VERIFY = "/recipe/session/verify"


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
