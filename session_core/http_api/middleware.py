"""Every request's way to its handler, and the answer's way back.

Routing is done here rather than by aiohttp's router so that unknown paths and wrong
methods get the SuperTokens core's text answers (404 ``Not found``, 405 ``Method not
supported``) instead of aiohttp's HTML pages. Then, as the SuperTokens core's
``WebserverAPI`` does: the ``api-key`` header (when keys are configured: 401 ``Invalid API
key``), checked before the ``cdi-version`` header (absent means the latest; one not served
is 400 ``cdi-version <v> not supported``). A handler's outcome exceptions become the 200
replies with a ``status`` field, a ``BadRequest`` the 400 with its message, anything else a
500 that never shows the request (its body holds tokens). Every request gets the caller's
request id on its log lines, a metric, and a span when tracing is on.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from session_common.logs import REQUEST_ID, REQUEST_ID_HEADER, accepted_request_id
from session_common.tracing import mark_error, server_span
from session_core.errors import (
    BadRequest,
    TokenTheftError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from session_core.http_api.replies import json_reply, text_reply
from session_core.jwt_signing import UnsupportedAlgorithm
from session_core.metrics import CoreMetrics

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

# The HTTP layer's one logger, whichever of its modules writes.
log = logging.getLogger("session_core.http_api")

LATEST_CDI_VERSION = "2.21"
# Only 2.21 is served: the older CDIs' behaviour (v2 tokens, handshake, legacy reply
# fields) is not implemented, so claiming them in /apiversion would mislead a client.
SUPPORTED_CDI_VERSIONS = ("2.21",)

Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    check_api_key: bool = True
    check_version: bool = True


# Path (below the base path) -> method -> route.
RouteTable = dict[str, dict[str, Route]]


class RequestPipeline:
    """Answers every request of an aiohttp app from ``routes``."""

    def __init__(
        self,
        routes: RouteTable,
        *,
        base_path: str,
        api_keys: tuple[str, ...],
        metrics: CoreMetrics,
        tracer: Tracer | None,
    ) -> None:
        self._routes = routes
        self._base_path = base_path
        self._api_keys = tuple(k.encode("ascii") for k in api_keys)
        self._metrics = metrics
        self._tracer = tracer

    async def serve(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        # The caller's request id (the service sends its own), on every log line of this
        # request; reset afterwards because aiohttp may reuse the task for the connection.
        token = REQUEST_ID.set(accepted_request_id(request.headers.get(REQUEST_ID_HEADER)))
        try:
            if self._tracer is None:
                response = await self._answer(request)
            else:
                response = await self._answer_traced(request, self._tracer)
            elapsed = time.perf_counter() - started
            self._metrics.observe(
                self._route_path(request.path), request.method, response.status, elapsed
            )
            # One line per request; the path never contains secrets (tokens travel in bodies).
            log.debug(
                "%s %s -> %d (%.1f ms)",
                request.method,
                request.path,
                response.status,
                elapsed * 1000,
            )
            return response
        finally:
            REQUEST_ID.reset(token)

    async def _answer(self, request: web.Request) -> web.Response:
        try:
            return await self._dispatch(request)
        except web.HTTPRequestEntityTooLarge:
            return text_reply(413, "Request Entity Too Large")
        except Exception:
            # Never include the request: its body holds tokens.
            log.exception("internal error on %s %s", request.method, request.path)
            return text_reply(500, "Internal Error")

    async def _answer_traced(self, request: web.Request, tracer: Tracer) -> web.Response:
        path = self._route_path(request.path)
        route = path if path in self._routes else "other"
        with server_span(
            tracer,
            f"{request.method} {route}",
            request.headers,
            {"http.request.method": request.method, "http.route": route},
        ) as span:
            response = await self._answer(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                mark_error(span, f"HTTP {response.status}")
            return response

    def _route_path(self, path: str) -> str | None:
        base = self._base_path
        if not base:
            return path
        if path == base:
            return "/"
        if path.startswith(base + "/"):
            return path[len(base) :]
        return None

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = self._route_path(request.path)
        methods = self._routes.get(path) if path is not None else None
        if methods is None:
            return text_reply(404, "Not found")
        route = methods.get(request.method)
        if route is None:
            return text_reply(405, "Method not supported")
        if route.check_api_key and not self._api_key_ok(request.headers.get("api-key")):
            return text_reply(401, "Invalid API key")
        try:
            if route.check_version:
                _check_version(request.headers.get("cdi-version"))
            return await route.handler(request)
        except BadRequest as exc:
            return text_reply(400, exc.message)
        except UnauthorisedError as exc:
            return json_reply({"status": "UNAUTHORISED", "message": exc.message})
        except TryRefreshTokenError as exc:
            return json_reply({"status": "TRY_REFRESH_TOKEN", "message": exc.message})
        except TokenTheftError as exc:
            return json_reply(
                {
                    "status": "TOKEN_THEFT_DETECTED",
                    "session": {"handle": exc.session_handle, "userId": exc.user_id},
                }
            )
        except UnsupportedAlgorithm:
            return json_reply({"status": "UNSUPPORTED_ALGORITHM_ERROR"})

    def _api_key_ok(self, header: str | None) -> bool:
        """The trimmed header against every configured key, in constant time."""
        if not self._api_keys:
            return True
        if header is None:
            return False
        given = header.strip().encode("utf-8", "surrogateescape")
        ok = False
        for key in self._api_keys:  # no early exit: compare against every key
            ok |= hmac.compare_digest(given, key)
        return ok


def _check_version(header: str | None) -> None:
    version = LATEST_CDI_VERSION if header is None else header.strip()
    # The SuperTokens core answers a malformed version (not X.Y...) with a 500; here any
    # version that is not served, malformed or not, is the same 400.
    if version not in SUPPORTED_CDI_VERSIONS:
        raise BadRequest(f"cdi-version {version} not supported")
