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

A request is read with as few Python steps as these rules allow (every step counts on a
path that costs a few percent of a no-op RPC): the header names in one join, the token
found in the ``cookie`` header without splitting it (``cookie_token``; a header whose
other cookies it cannot rule out goes to the decision). The message is still parsed whole
by protobuf (the service must answer INVALID_ARGUMENT to bytes that are not a
CheckRequest, a string field that is not UTF-8 anywhere in it included, as when nothing is
cached); that parse is most of what a cached Check costs over GetSession
(docs/performance.md, "Gateways").
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
from session_service.domain.http_types import Allowed, HttpConfig
from session_service.transport.converters import RenderedResponse
from session_service.transport.drain import RpcDrain
from session_service.transport.fast_path import FastPath
from session_service.transport.metrics import RecordRpc

_UNCHECKED_METHODS = frozenset({"OPTIONS", "TRACE"})
_COOKIE = "cookie"
# Header names joined by two NULs (matches of adjacent names never overlap).
_SEPARATOR = "\0\0"
_AUTHORIZATION_NAME = f"\0{AUTHORIZATION_HEADER}\0"
_COOKIE_NAME = f"\0{_COOKIE}\0"
_ACCESS_TOKEN_PREFIX = ACCESS_TOKEN_COOKIE + "="


def cookie_token(cookie: str) -> str | None:
    """The ``sAccessToken`` value ``parse_cookie_header`` reads from ``cookie``, found
    without splitting the header: when it is the first cookie or comes right after "; ",
    and neither ``sAccessToken`` nor ``sIdRefreshToken`` appears in the other cookies (only
    they are searched: the value, up to the next ";", belongs to this cookie); else None
    (the decision answers). An empty value is None: the decision finds no token in it."""
    at = cookie.find(_ACCESS_TOKEN_PREFIX)
    if at < 0 or (at and cookie[at - 2 : at] != "; "):
        return None
    start = at + len(_ACCESS_TOKEN_PREFIX)
    end = cookie.find(";", start)
    if at and (
        cookie.find(ACCESS_TOKEN_COOKIE, 0, at) >= 0
        or cookie.find(LEGACY_ID_REFRESH_TOKEN_COOKIE, 0, at) >= 0
    ):
        return None
    if end < 0:
        value = cookie[start:].strip()
    elif (
        cookie.find(ACCESS_TOKEN_COOKIE, end) >= 0
        or cookie.find(LEGACY_ID_REFRESH_TOKEN_COOKIE, end) >= 0
    ):
        return None
    else:
        value = cookie[start:end].strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value or None


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
        headers = http.headers
        cookie = headers.get(_COOKIE)
        if not cookie:
            return None
        method = http.method.upper()
        if method in _UNCHECKED_METHODS or (self._get_only and method != "GET"):
            return None
        # The decision reads names in any case (Envoy sends them lower-case; other callers
        # may not): a bearer token, or cookies under another spelling, go to the decision.
        # One pass in C over every name: each is enclosed in NULs, so a name that
        # lower-cases to one of these shows as the NUL-enclosed word (str.lower() maps
        # characters alone, never across a NUL); "cookie" itself is the one allowed.
        names = _SEPARATOR.join(("", *headers, "")).lower()
        if _AUTHORIZATION_NAME in names or names.count(_COOKIE_NAME) != 1:
            return None
        value = cookie_token(cookie)
        if value is None:
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
