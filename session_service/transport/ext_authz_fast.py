"""The fast path of Envoy's Check: a request carrying a cookie token whose GetSession answer
the fast path of GetSession holds (``fast_path.py``) is answered with the allowing
CheckResponse rendered the first time the whole decision allowed that token, kept with the
token's cache entry (``RenderedResponse.check``) and so dropped with it.

The rendered answer is the decision's own (``ext_authz.py`` renders it from the ``Allowed``
of ``HttpSessions.verify``); it is kept only when it holds for every request this path
answers, which carry the same token and differ in nothing the decision reads:

* the token is the ``sAccessToken`` cookie (read as ``HttpRequest.cookie`` reads it) of the
  one ``cookie`` header, spelt so, with no ``authorization`` header in any spelling (a bearer
  token would be chosen first) and no legacy ``sIdRefreshToken`` cookie, and the configured
  token transfer method accepts cookies;
* the route sets no ``context_extensions`` (every option at its default);
* the method is neither OPTIONS nor TRACE (which pass unchecked), and is GET unless
  anti-CSRF is NONE (VIA_CUSTOM_HEADER checks ``rid`` on the others; with VIA_TOKEN the
  GetSession fast path answers nothing);
* the decision allowed with a session and nothing for the client's response (no promotion).

Everything the GetSession fast path requires holds too (its cache entry still holds; no
server-wide claim validators; ``get_session`` not overridden). Envoy's raw ``header_map``
form goes through the whole decision.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

import grpc

from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from session_service.domain.config import AntiCsrfMode
from session_service.domain.http_transfer import (
    ACCESS_TOKEN_COOKIE,
    AUTHORIZATION_HEADER,
    LEGACY_ID_REFRESH_TOKEN_COOKIE,
)
from session_service.domain.http_types import Allowed, HttpConfig, parse_cookie_header
from session_service.transport.converters import RenderedResponse
from session_service.transport.drain import RpcDrain
from session_service.transport.fast_path import FastPath
from session_service.transport.metrics import RecordRpc

_UNCHECKED_METHODS = frozenset({"OPTIONS", "TRACE"})
_COOKIE = "cookie"
_READ_HEADERS = frozenset({AUTHORIZATION_HEADER, _COOKIE})


class CheckFastPath:
    """The fast path of Check over GetSession's (``fast_path``) and one ``HttpConfig``."""

    def __init__(self, fast_path: FastPath, config: HttpConfig) -> None:
        self._fast_path = fast_path
        self.enabled = fast_path.answers_tokens and config.token_transfer_method in (
            "any",
            "cookie",
        )
        self._get_only = config.anti_csrf is not AntiCsrfMode.NONE

    def _token(self, request: authz.CheckRequest) -> bytes | None:
        """The cookie token of a request this path may answer (module docstring), else
        None."""
        attributes = request.attributes
        if attributes.context_extensions:
            return None
        http = attributes.request.http
        method = http.method.upper()
        if method in _UNCHECKED_METHODS or (self._get_only and method != "GET"):
            return None
        headers = http.headers
        # The decision reads names in any case (Envoy sends them lower-case; other callers
        # may not): a bearer token, or cookies under another spelling, go to the decision.
        for name in headers:
            if name.lower() in _READ_HEADERS and name != _COOKIE:
                return None
        cookie = headers.get(_COOKIE)
        if not cookie:
            return None
        cookies = parse_cookie_header(cookie)
        value = cookies.get(ACCESS_TOKEN_COOKIE)
        if not value or LEGACY_ID_REFRESH_TOKEN_COOKIE in cookies:
            return None
        return unquote(value).encode("utf-8", "surrogatepass")

    def answer(self, request: authz.CheckRequest) -> RenderedResponse | None:
        """The kept answer to ``request``, or None when the whole decision must answer."""
        token = self._token(request)
        if token is None:
            return None
        cached = self._fast_path.cached(token)
        return None if cached is None else cached.check

    def keep(
        self, request: authz.CheckRequest, allowed: Allowed, response: authz.CheckResponse
    ) -> None:
        """Keep ``response`` (the whole decision's answer to ``request``) for the next
        requests with its token, when it holds for all of them (module docstring)."""
        if not self.enabled or allowed.session is None or allowed.response_headers:
            return
        token = self._token(request)
        if token is None:
            return
        cached = self._fast_path.cached(token)
        if cached is not None and cached.check is None:
            cached.check = RenderedResponse(0, response.SerializeToString())

    def first(self, record: RecordRpc, rpcs: RpcDrain, wrapped: Any) -> Any:
        """Check whose first step is ``answer``, counted by the drain and recorded in the
        metrics; everything else goes through ``wrapped``."""
        if not self.enabled:
            return wrapped
        answer = self.answer
        clock = time.perf_counter

        async def check(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if not rpcs.draining and request.__class__ is authz.CheckRequest:
                started = clock()
                try:
                    rendered = answer(request)
                except Exception:
                    rendered = None
                if rendered is not None:
                    rpcs.served += 1
                    record("OK", "200", clock() - started)  # an allowing answer
                    return rendered
            return await wrapped(request, context)

        return check
