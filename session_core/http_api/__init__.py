"""The core's HTTP API (CDI 2.21, as the SuperTokens core 5.0.0 serves it): the routes of
each recipe (``session_routes``, ``jwt_routes``, ``revocation_routes`` (an extension), and
the core's own here), the way of every
request to them (``middleware``), bodies read with the SuperTokens core's 400 messages
(``json_body``) and its reply shapes (``replies``). Decisions about sessions are
``CoreSessions``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from session_common.clock import Clock
from session_core.config import CoreConfig
from session_core.http_api.json_body import MAX_BODY_BYTES, MAX_BODY_DEPTH, TOO_DEEP_MESSAGE
from session_core.http_api.jwt_routes import JwtRoutes
from session_core.http_api.middleware import (
    SUPPORTED_CDI_VERSIONS,
    RequestPipeline,
    Route,
    RouteTable,
)
from session_core.http_api.replies import json_reply, text_reply
from session_core.http_api.revocation_routes import RevocationRoutes
from session_core.http_api.session_routes import SessionRoutes
from session_core.metrics import CoreMetrics
from session_core.revocation_feed import RevocationFeed
from session_core.sessions import CoreSessions
from session_core.signing_keys import SigningKeyManager
from session_core.storage.base import Storage

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

__all__ = ["MAX_BODY_DEPTH", "TOO_DEEP_MESSAGE", "CoreHttpApi"]


class CoreHttpApi:
    def __init__(
        self,
        config: CoreConfig,
        storage: Storage,
        clock: Clock,
        keys: SigningKeyManager,
        sessions: CoreSessions,
        *,
        feed: RevocationFeed,
        tracer: Tracer | None = None,
    ) -> None:
        self._storage = storage
        routes: RouteTable = {}
        for table in (
            self._core_routes(),
            JwtRoutes(keys, clock).routes(),
            SessionRoutes(sessions).routes(),
            RevocationRoutes(feed).routes(),
        ):
            assert routes.keys().isdisjoint(table), "a path belongs to one recipe"
            routes.update(table)
        self.metrics = CoreMetrics(routes, lambda: keys.reloads, feed)
        self._pipeline = RequestPipeline(
            routes,
            base_path=config.base_path,
            api_keys=config.api_keys,
            metrics=self.metrics,
            tracer=tracer,
        )

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._pipeline.serve)
        return app

    def _core_routes(self) -> RouteTable:
        hello = Route(self._hello, check_api_key=False, check_version=False)
        any_method = {m: hello for m in ("GET", "POST", "PUT", "DELETE")}
        return {
            "/": any_method,
            "/hello": any_method,
            "/apiversion": {"GET": Route(self._api_version, check_version=False)},
            # Not a CDI path; open like /hello: counts only, no secrets (docs/operations.md).
            "/metrics": {"GET": Route(self._metrics, check_api_key=False, check_version=False)},
        }

    async def _hello(self, request: web.Request) -> web.Response:
        await self._storage.ping()  # a failing database is a 500, as in the SuperTokens core
        return text_reply(200, "Hello")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def _api_version(self, request: web.Request) -> web.Response:
        return json_reply({"versions": list(SUPPORTED_CDI_VERSIONS)})
