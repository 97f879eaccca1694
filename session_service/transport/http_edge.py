"""The HTTP edge (``--http-port``): the HTTP decision (``domain/http_sessions.py``) for
proxies and browsers, on aiohttp.

* ``/verify`` (any method): forward authentication (nginx ``auth_request``, Traefik
  ``ForwardAuth``, Caddy ``forward_auth``). The original method and URI come from
  ``X-Original-Method`` / ``X-Original-URI``, else ``X-Forwarded-Method`` /
  ``X-Forwarded-Uri`` (every copy of the method must name the same one: 400 otherwise);
  the route's options from the query parameters of the ``/verify`` URL
  itself (``session_required``, ``check_database``, ``anti_csrf_check``,
  ``claim_validators``). Allowed: 200, the upstream headers and the promotion's headers as
  response headers. Denied: the SDK's answer (status, JSON body, cookie clearing).
* ``POST {api_base_path}/session/refresh`` and ``POST {api_base_path}/signout``: the SDK's
  refresh and sign-out APIs (``recipe/session/api/``), which the frontend SDK calls.
* ``GET {api_base_path}/jwt/jwks.json`` and
  ``GET {api_base_path}/.well-known/openid-configuration``: the SDK's JWT and OpenId APIs.

Nothing here mints a session without a valid refresh token, and sign-out revokes only the
session of the request's own token. This module only converts; the decision is the
domain's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from session_service.domain.api import DomainError, InvalidArgument, SessionRecipe, Status
from session_service.domain.http_sessions import (
    HttpSessions,
    answer,
    error_answer,
    route_options,
)
from session_service.domain.http_types import Allowed, Header, HttpAnswer, HttpRequest
from session_service.gateway_settings import REFRESH_API, SIGN_OUT_API
from session_service.settings import ListenError
from session_service.transport.metrics import RecordRpc

logger = logging.getLogger("session_service.http_edge")

VERIFY_PATH = "/verify"
JWKS_API = "/jwt/jwks.json"
DISCOVERY_API = "/.well-known/openid-configuration"
# Room for a cookie header with an 8000-byte access token and the application's cookies, or
# a /verify URL with claim validators (aiohttp's default is 8190 bytes per line).
MAX_FIELD_BYTES = 32 * 1024
_METHOD_HEADERS = ("x-original-method", "x-forwarded-method")
_URI_HEADERS = ("x-original-uri", "x-forwarded-uri")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A route's answer and the session status it records ('' for none).
Answered = tuple[web.Response, str]


def _headers(request: web.Request) -> list[Header]:
    return [
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in request.raw_headers
    ]


def _first(headers: Iterable[Header], names: tuple[str, ...]) -> str | None:
    found = dict(reversed(list(headers)))
    for name in names:
        value = found.get(name)
        if value:
            return value.strip()
    return None


def _original_method(headers: Iterable[Header], own: str) -> str:
    """The original request's method. Each proxy sets one of the names and passes a
    client's copy of the other on (nginx: X-Original-Method; Traefik, Caddy:
    X-Forwarded-Method), so every copy must name the same method: a client's own copy
    would otherwise turn a POST into an unchecked OPTIONS or a GET without anti-CSRF."""
    methods = {value.strip().upper() for name, value in headers if name in _METHOD_HEADERS}
    methods.discard("")
    if len(methods) > 1:
        raise InvalidArgument(
            "x-original-method", "X-Original-Method and X-Forwarded-Method name other methods"
        )
    return methods.pop() if methods else own


def _original_path(headers: Iterable[Header], own: str) -> str:
    uri = _first(headers, _URI_HEADERS)
    if uri is None:
        return own
    try:
        return urlsplit(uri).path
    except ValueError:
        raise InvalidArgument("x-original-uri", "is not a URI") from None


class _UnparsedRequestFilter(logging.Filter):
    """aiohttp describes a request it cannot parse with the bytes around the fault (a
    cookie, a token) and logs it at ERROR: the edge's server logger writes one DEBUG line
    naming the error's class instead, never its text."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        if not server_logger.isEnabledFor(logging.DEBUG):
            return False
        record.msg, record.args = (
            "refused a request that does not parse: %s (%s)",
            (
                type(exc).__name__,
                exc.code,
            ),
        )
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


server_logger = logging.getLogger("session_service.http_edge.server")
server_logger.addFilter(_UnparsedRequestFilter())


class HttpEdge:
    """The edge's aiohttp application over one ``HttpSessions``."""

    def __init__(
        self,
        sessions: HttpSessions,
        recipe: SessionRecipe,
        api_base_path: str,
        recorder: Callable[[str], RecordRpc] | None = None,
    ) -> None:
        """``recorder(route)`` gives each route's ``record(http_status, session_status,
        seconds)`` (``ServiceMetrics.http_recorder``)."""
        self._sessions = sessions
        self._recipe = recipe
        self._runner: web.AppRunner | None = None
        self.port = 0
        base = api_base_path.rstrip("/")
        observe = _observer(recorder)
        app = web.Application(
            handler_args={
                "max_field_size": MAX_FIELD_BYTES,
                "max_line_size": MAX_FIELD_BYTES,
                "logger": server_logger,
            }
        )
        app.router.add_route("*", VERIFY_PATH, observe("verify", self._verify))
        app.router.add_post(base + REFRESH_API, observe("refresh", self._refresh))
        app.router.add_post(base + SIGN_OUT_API, observe("signout", self._sign_out))
        app.router.add_get(base + JWKS_API, observe("jwks", self._jwks))
        app.router.add_get(base + DISCOVERY_API, observe("openid", self._discovery))
        self._app = app

    async def start(self, host: str, port: int, *, reuse_port: bool, grace: float) -> None:
        """Listen on ``host:port`` (``reuse_port``: the port the workers share); ``grace``
        is how long in-flight requests may take at ``stop``. Raises ``ListenError``."""
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=grace
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = exc.strerror or str(exc)
            raise ListenError(f"cannot serve HTTP on {host}:{port}: {reason}") from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        logger.info("HTTP edge on http://%s:%d", host, self.port)

    async def stop(self) -> None:
        """Stop listening, let in-flight requests finish within the grace period, close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ---------------------------------------------------------------------------

    async def _verify(self, request: web.Request) -> Answered:
        headers = _headers(request)
        try:
            method = _original_method(headers, request.method)
            path = _original_path(headers, request.path)
            options = route_options(request.query)
        except DomainError as exc:
            return _respond(error_answer(exc))
        result = await self._sessions.verify(HttpRequest(method, path, headers), options)
        if isinstance(result, HttpAnswer):
            return _respond(result)
        return _allowed(result)

    async def _refresh(self, request: web.Request) -> Answered:
        described = HttpRequest(request.method, request.path, _headers(request))
        return _respond(await self._sessions.refresh(described))

    async def _sign_out(self, request: web.Request) -> Answered:
        described = HttpRequest(request.method, request.path, _headers(request))
        return _respond(await self._sessions.sign_out(described))

    async def _jwks(self, request: web.Request) -> Answered:
        try:
            found = await self._recipe.get_jwks()
        except DomainError as exc:
            return _respond(error_answer(exc))
        keys = [
            {"kty": k.kty, "kid": k.kid, "n": k.n, "e": k.e, "alg": k.alg, "use": k.use}
            for k in found.keys
        ]
        return _public(answer(found.status, 200, {"keys": keys}))

    async def _discovery(self, request: web.Request) -> Answered:
        try:
            found = await self._recipe.get_open_id_discovery_configuration()
        except DomainError as exc:
            return _respond(error_answer(exc))
        body = {"status": "OK", "issuer": found.issuer, "jwks_uri": found.jwks_uri}
        return _public(answer(found.status, 200, body))


def _observer(
    recorder: Callable[[str], RecordRpc] | None,
) -> Callable[[str, Callable[[web.Request], Awaitable[Answered]]], Handler]:
    """Each route's aiohttp handler: the answer, recorded by HTTP status and session
    status when there is a ``recorder``."""

    def observe(route: str, inner: Callable[[web.Request], Awaitable[Answered]]) -> Handler:
        record = recorder(route) if recorder is not None else None
        clock = time.perf_counter

        async def handle(request: web.Request) -> web.StreamResponse:
            started = clock()
            response, status = await inner(request)
            if record is not None:
                record(str(response.status), status, clock() - started)
            return response

        return handle

    return observe


def _respond(result: HttpAnswer) -> Answered:
    response = web.Response(
        status=result.http_status, body=result.body, headers=CIMultiDict(result.headers)
    )
    return response, "" if result.status is None else result.status.value


def _allowed(result: Allowed) -> Answered:
    """200 with the upstream headers and the response headers of a promotion."""
    response = web.Response(
        status=200, headers=CIMultiDict([*result.upstream_headers, *result.response_headers])
    )
    return response, (Status.OK if result.session is not None else Status.NO_SESSION).value


def _public(result: HttpAnswer) -> Answered:
    """The SDK's JWT and OpenId APIs answer any origin."""
    response, status = _respond(result)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response, status
