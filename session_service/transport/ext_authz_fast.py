"""The fast path of Envoy's Check: a request carrying a cookie token whose GetSession answer
the fast path of GetSession holds (``fast_path.py``) is answered with the allowing
CheckResponse rendered the first time the whole decision allowed that token, kept with the
token's cache entry (``RenderedResponse.check``) and so dropped with it.

The rendered answer is the decision's own (``ext_authz.py`` renders it from the ``Allowed``
of ``HttpSessions.verify``); it is kept only when it holds for every request this path
answers, which carry the same token and differ in nothing the decision reads:

* the token is the ``sAccessToken`` cookie (read as ``HttpRequest.cookie`` reads it) of the
  ``cookie`` header, with no ``authorization`` header (a bearer token would be chosen
  first) and no legacy ``sIdRefreshToken`` cookie, and the configured token transfer
  method accepts cookies (header keys are read as the decision reads them: lower-case, as
  Envoy's API states them, ``ext_authz.py``);
* the route sets no ``context_extensions`` (every option at its default);
* the method is neither OPTIONS nor TRACE (which pass unchecked), and is GET unless
  anti-CSRF is NONE (VIA_CUSTOM_HEADER checks ``rid`` on the others; with VIA_TOKEN the
  GetSession fast path answers nothing);
* the decision allowed with the session of the token's cache entry and nothing for the
  client's response (no promotion).

Everything the GetSession fast path requires holds too (its cache entry still holds; no
server-wide claim validators; ``get_session`` not overridden). Envoy's raw ``header_map``
form goes through the whole decision.

A request is read with as few Python steps as these rules allow (every step counts on a
path that costs a few percent of a no-op RPC): no header is read but ``cookie`` and
``authorization``, each one lookup in the message's map; the token of a ``cookie`` header
answered before is found by the header's text (``CheckFastPath``), a new one without
splitting the header (``cookie_token``; a header whose other cookies it cannot rule out
goes to the decision). The message is still parsed whole by protobuf (the service must
answer INVALID_ARGUMENT to bytes that are not a CheckRequest, a string field that is not
UTF-8 anywhere in it included, as when nothing is cached); that parse is most of what a
cached Check costs over GetSession (docs/performance.md, "Gateways").

An answer is kept (``keep``) when the whole decision allowed with the very session the
token's cache entry holds and nothing for the client's response: it then depends only on
that token and the configuration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
_ACCESS_TOKEN_PREFIX = ACCESS_TOKEN_COOKIE + "="
# Cookie headers whose token is remembered: as many as the verified-token cache keeps
# decoded by default (TokenCacheConfig.decoded_entries).
REMEMBERED_COOKIES = 2048
# The longest cookie header remembered (nginx's default buffer for one header line). Only
# ASCII headers are (a byte per character, in the header and in its token's bytes), so the
# remembered headers and tokens hold at most about 32 MiB.
REMEMBERED_COOKIE_LENGTH = 8192
# The length of the end of a cookie header that finds it among the remembered ones.
_KEY_LENGTH = 48


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


def _token(cookie: str) -> bytes | None:
    """The UTF-8 bytes of the ``sAccessToken`` value ``cookie_token`` finds in ``cookie``,
    URL-decoded as ``HttpRequest.cookie`` decodes it; else None."""
    value = cookie_token(cookie)
    return None if value is None else unquote(value).encode("utf-8", "surrogatepass")


class CheckFastPath:
    """The fast path of Check over GetSession's (``fast_path``) and one ``HttpConfig``.

    ``answer(request)``: the kept answer to a CheckRequest, or None when the whole decision
    must answer. The tokens of the cookie headers it answered are remembered, at most
    ``remember`` ASCII headers of up to ``REMEMBERED_COOKIE_LENGTH`` characters (oldest out
    first): a browser sends the same header with every request, so a repeat costs a
    dictionary lookup instead of finding, unquoting, encoding and hashing its token again.
    They are found by the header's last ``_KEY_LENGTH`` characters (hashing those costs
    less than hashing the whole header) and compared whole. ``answer`` is a closure, as
    GetSession's lookup (``FastPathCache``) is: every Python call on this path counts."""

    def __init__(
        self, fast_path: FastPath, config: HttpConfig, remember: int = REMEMBERED_COOKIES
    ) -> None:
        self._fast_path = fast_path
        self.enabled = fast_path.answers_tokens and config.token_transfer_method in (
            "any",
            "cookie",
        )
        self._tokens: dict[str, tuple[str, bytes]] = {}
        get_only = config.anti_csrf is not AntiCsrfMode.NONE
        self.answer: Callable[[authz.CheckRequest], RenderedResponse | None] = self._answers(
            get_only, remember
        )

    @property
    def remembered(self) -> int:
        """How many cookie headers' tokens are remembered."""
        return len(self._tokens)

    def _answers(
        self, get_only: bool, remember: int
    ) -> Callable[[authz.CheckRequest], RenderedResponse | None]:
        lookup = self._fast_path.cached
        tokens = self._tokens
        remembered = tokens.get

        def answer(request: authz.CheckRequest) -> RenderedResponse | None:
            attributes = request.attributes
            if attributes.context_extensions:
                return None
            http = attributes.request.http
            headers = http.headers
            cookie = headers.get(_COOKIE)
            if not cookie:
                return None
            method = http.method
            if method != "GET":
                method = method.upper()
                if method in _UNCHECKED_METHODS or (get_only and method != "GET"):
                    return None
            if AUTHORIZATION_HEADER in headers:
                return None
            key = cookie[-_KEY_LENGTH:]
            known = remembered(key)
            if known is not None and known[0] == cookie:
                cached = lookup(known[1])
                return None if cached is None else cached.check
            token = _token(cookie)
            if token is None:
                return None
            cached = lookup(token)
            if cached is None or cached.check is None:
                return None
            if len(cookie) <= REMEMBERED_COOKIE_LENGTH and cookie.isascii():
                if len(tokens) >= remember:
                    del tokens[next(iter(tokens))]
                tokens[key] = (cookie, token)
            return cached.check

        return answer

    def keep(self, allowed: Allowed, response: authz.CheckResponse) -> None:
        """Keep ``response``, the whole decision's answer for ``allowed``, with the cache
        entry of its session's token, when it depends on nothing else (module docstring)."""
        if not self.enabled or allowed.response_headers:
            return
        kept = self._fast_path.kept(allowed.session)
        if kept is not None and kept.check is None:
            kept.check = RenderedResponse(0, response.SerializeToString())

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
