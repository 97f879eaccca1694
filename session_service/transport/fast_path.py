"""The fast path of GetSession: a repeat of a verified token answered from the
verified-token cache with the bytes of an answer rendered once, ahead of the RPC wrappers.

Its rules, for as long as the cache entry of the token still holds (the token inside its
time window, its kid still mapped to the very key that verified it: ``token_cache.py``):

* A request that carries only the access token (the wire form of a GetSessionRequest with
  every other field at its default, as callers send it on almost every request) gets the
  OK result ``get_session`` kept with the entry, when nothing about such a request can
  change it: anti-CSRF is off, there are no server-wide claim validators, and
  ``get_session`` is not overridden (``SessionRecipe.fast_path_cache``), and the token's
  session is not in the revoked set nor is the service verifying every token with the
  core (the revocation feed's fail-safe: docs/revocation.md). None of the per-request
  steps run then; the caller's deadline cannot matter either.
* That answer is rendered once per entry (the whole serialized GetSessionResponse: the
  Struct building and all protobuf work are most of a cached GetSession's cost) and kept
  with the entry; the rendering depends only on what the token determines, so a session
  the full path served from the same entry (with an anti-CSRF token, options, or tracing
  on) is answered with the same bytes.
* It is tried first, outside the drain guard, metrics and error-mapping wrappers (each a
  few Python frames, most of GetSession's cost over a no-op on a hit, and in a busy server
  with cold CPU caches several times what a loop shows: measured 3-6% of the server's CPU
  per call). A hit is counted by the drain and recorded in the metrics like any other
  call; it does not log, call the core or stay in flight across an await. A lookup that
  raises (a bug) is not answered here: the wrapped path answers with the full algorithm,
  whose failures the error mapping reports. Not used with tracing, whose spans come from
  the wrappers.

Anything else (another field set, a token not kept decoded, bytes that are not UTF-8)
goes through GetSession's whole path, which gives the exact outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import (
    FastPathCache,
    Session,
    SessionRecipe,
    SessionResult,
    Status,
)
from session_service.transport.converters import RenderedResponse, session_to_pb
from session_service.transport.drain import RpcDrain
from session_service.transport.metrics import RecordRpc
from session_service.transport.observability import STATUS_LABELS

_ACCESS_TOKEN_TAG = 0x0A  # GetSessionRequest.access_token: field 1, length-delimited


def lone_access_token(data: bytes) -> bytes | None:
    """The access token's bytes when the wire form of a GetSessionRequest is that one field
    and nothing else, else None. Read straight off the wire, so that a token served from
    the cache needs no message parsed and no text decoded; the bytes are not checked as
    UTF-8 here (a token that is not cannot be in the cache, whose keys are the bytes of
    verified tokens)."""
    if len(data) < 2 or data[0] != _ACCESS_TOKEN_TAG:
        return None
    length, start = data[1], 2
    if length & 0x80:  # a two-byte varint: 128 bytes to 16 KiB (longer ones take the slow path)
        if len(data) < 3 or data[2] & 0x80:
            return None
        length, start = (length & 0x7F) | data[2] << 7, 3
    if start + length != len(data):
        return None
    return data[start:]


def render_ok(session: Session) -> RenderedResponse:
    """The whole OK answer to GetSession for ``session``, serialized (it leaves out the
    session's ``anti_csrf_token``, as every GetSessionResponse does)."""
    status = pb.SESSION_STATUS_OK
    response = pb.GetSessionResponse(status=status, session=session_to_pb(session))
    return RenderedResponse(status, response.SerializeToString())


def _nothing(token: bytes) -> None:
    return None


class FastPath:
    """The fast path over one recipe's verified-token cache."""

    def __init__(self, recipe: SessionRecipe) -> None:
        self._cache: FastPathCache[RenderedResponse] | None = recipe.fast_path_cache(render_ok)
        answer = None if self._cache is None else self._cache.answer
        # The rendered answer kept for a token (its UTF-8 bytes) while its cache entry still
        # holds and a token-only GetSession could be answered from it; else None. The
        # cache's own lookup (no frame of this class in between: Check's fast path calls it).
        self.cached: Callable[[bytes], RenderedResponse | None] = answer or _nothing

    def answer(self, request: bytes) -> RenderedResponse | None:
        """The rendered answer to a GetSession request (its wire form) that carries only a
        token whose OK result the cache holds; None when it needs GetSession's whole path."""
        token = lone_access_token(request)
        return None if token is None else self.cached(token)

    @property
    def answers_tokens(self) -> bool:
        """Whether ``cached`` can answer at all (see the module docstring)."""
        return self.cached is not _nothing

    def rendered(self, result: SessionResult) -> RenderedResponse | None:
        """The rendered answer for an OK result of the whole path whose session the cache
        kept with a token's entry; None for any other result."""
        return self.kept(result.session) if result.status is Status.OK else None

    def kept(self, session: Session | None) -> RenderedResponse | None:
        """The rendered answer kept with the cache entry whose session ``session`` is (the
        very object, with no new access token); None for any other session."""
        if self._cache is None or session is None or session.new_access_token is not None:
            return None
        return self._cache.rendered(session)

    def first(self, record: RecordRpc, rpcs: RpcDrain, wrapped: Any) -> Any:
        """GetSession whose first step is ``answer``, counted by the drain and recorded in
        the metrics; everything else goes through ``wrapped`` (only ``wrapped`` when no
        request can be answered from the cache). ``answer``'s steps are written out here:
        each call on this path costs (module docstring)."""
        lookup = self.cached
        if lookup is _nothing:
            return wrapped
        lone = lone_access_token
        clock = time.perf_counter
        ok = STATUS_LABELS[pb.SESSION_STATUS_OK]

        async def get_session(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if not rpcs.draining:
                started = clock()
                try:
                    token = lone(request)
                    rendered = None if token is None else lookup(token)
                except Exception:
                    rendered = None
                if rendered is not None:
                    rpcs.served += 1
                    record("OK", ok, clock() - started)
                    return rendered
            return await wrapped(request, context)

        return get_session
