"""Readiness: SERVING while the key cache holds keys and a core answers, and why not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from session_service.domain.api import (
    CoreApiKeyRejected,
    CoreIncompatible,
    CoreUnavailable,
    FeedStatus,
    SessionRecipe,
)
from session_service.transport.health import DrainingHealthServicer

# The server's lifecycle messages share one logger name, whichever module writes them.
logger = logging.getLogger("session_service.server")

# Why the service may not be ready: the ``cause`` label of session_service_not_ready.
NOT_READY_CAUSES = (
    "starting",
    "core_unavailable",
    "core_api_key_rejected",
    "core_incompatible",
    "no_signing_keys",
    "probe_failed",
)
# While the service stays not ready for one cause, the WARNING saying why is repeated this
# often (each change of cause is logged at once).
NOT_READY_REPEAT_SECONDS = 30.0


@dataclass
class Readiness:
    """The readiness loop's verdict: ``cause`` is None while the service is ready, else one
    of ``NOT_READY_CAUSES`` (a metric label), with ``detail`` saying what to fix."""

    api_key_configured: bool
    cause: str | None = "starting"
    detail: str = "the first readiness check has not finished"
    # The revocation feed (SessionRecipe.revocation_feed): shown in ``details``, never a
    # cause (docs/revocation.md#readiness).
    feed: Callable[[], FeedStatus] | None = None

    def details(self) -> dict[str, str]:
        """Readiness as text: the cause (empty while ready), what to fix, and the revocation
        feed's state and lag."""
        found = {"cause": self.cause or "", "detail": self.detail}
        if self.feed is not None:
            feed = self.feed()
            found["revocation_feed"] = feed.state.value
            if feed.lag_seconds is not None:
                found["revocation_feed_lag_seconds"] = f"{feed.lag_seconds:.3f}"
        return found


async def track_readiness(
    recipe: SessionRecipe,
    health_servicer: DrainingHealthServicer,
    interval: float,
    readiness: Readiness,
) -> None:
    """SERVING while the key cache holds keys and a core answers; NOT_SERVING otherwise.

    Polling (rather than reacting to RPC failures) also notices a core that comes back
    while no traffic flows. The probe never waits behind callers' calls for a connection
    (core_client/client.py), and it gets the configured core timeout, the bound of every core call:
    a busy service answers a probe late, and a replica must not be pulled for being busy;
    a core that does not answer in that time is as unusable for the probe as for callers.
    Every change of the cause is logged (a WARNING while not ready), and a lasting one again
    every ``NOT_READY_REPEAT_SECONDS``, so a log read at any time says why the service does
    not serve. The health servicer starts with readiness NOT_SERVING.
    """
    loop = asyncio.get_running_loop()
    serving = False
    # Starting is not worth a warning until it has lasted the repeat interval.
    last_warning = loop.time()
    while True:
        cause, detail = await not_ready_cause(recipe, readiness.api_key_configured)
        changed = cause != readiness.cause
        readiness.cause, readiness.detail = cause, detail
        if (cause is None) != serving:
            serving = cause is None
            await health_servicer.set_ready(serving)
        if cause is None:
            if changed:
                logger.info("readiness: SERVING")
        elif changed or loop.time() - last_warning >= NOT_READY_REPEAT_SECONDS:
            logger.warning("readiness: NOT_SERVING (%s): %s", cause, detail)
            last_warning = loop.time()
        await asyncio.sleep(interval)


async def not_ready_cause(
    recipe: SessionRecipe, api_key_configured: bool
) -> tuple[str | None, str]:
    """(None, "") when ready, else (cause, what to fix)."""
    try:
        await recipe.check_core()
    except CoreApiKeyRejected:
        if api_key_configured:
            return "core_api_key_rejected", "the session core refused --core-api-key"
        return "core_api_key_rejected", (
            "the session core requires an API key: set --core-api-key "
            "(or SESSION_SERVICE_CORE_API_KEY)"
        )
    except CoreUnavailable as exc:
        return "core_unavailable", f"cannot use the session core (--core-url): {exc}"
    except CoreIncompatible as exc:
        return "core_incompatible", str(exc)
    except Exception as exc:
        # A bug in a probe must not end readiness tracking for the life of the process.
        logger.error("readiness probe failed with unexpected %s", type(exc).__name__)
        return "probe_failed", f"the readiness probe failed with {type(exc).__name__}"
    if not recipe.key_cache_health().has_keys:
        stats = recipe.key_cache_stats()
        if stats.fetches_ok + stats.fetches_failed == 0:
            return "starting", "the first fetch of the signing keys has not finished"
        return "no_signing_keys", (
            "the session core answers, but its signing keys (/.well-known/jwks.json) "
            "could not be fetched"
        )
    return None, ""
