"""Envoy's external authorization, ``envoy.service.auth.v3.Authorization/Check``, on the gRPC
port: the HTTP request Envoy describes goes to the HTTP session decision
(``domain/http_sessions.py``, the SDK's ``verify_session``) and its outcome back as Envoy's
answer. Only conversion happens here.

* In: ``attributes.request.http``'s method, path and headers (either ``headers`` or, with
  ``encode_raw_headers``, ``header_map``; several ``cookie`` headers come as one). Envoy's
  API states that every header key is lower-cased, and a key is read only so: one in
  another case names no header Envoy can send and is not read (a caller other than Envoy
  lower-cases its names). Then the route's options from
  ``attributes.context_extensions`` (``session_required``, ``check_database``,
  ``anti_csrf_check``, ``claim_validators`` as JSON). A bad option value is denied with 400
  and ``{"message": ...}`` naming it.
* Allowed: ``status`` OK and an ``OkHttpResponse``: the upstream headers set
  (``OVERWRITE_IF_EXISTS_OR_ADD``) after ``headers_to_remove`` drops the client's copies of
  every configured name, and on promotion the new tokens in ``response_headers_to_add``
  (each ``set-cookie`` its own entry; ``set-cookie`` and ``access-control-expose-headers``
  appended to what the upstream answers, the others overwriting).
* Denied: ``status`` UNAUTHENTICATED (401), PERMISSION_DENIED (403 and other codes) or
  INVALID_ARGUMENT (400), and a ``DeniedHttpResponse`` with the SDK's status, JSON body and
  headers (content-type, cookie clearing).

Envoy's own failure handling (``failure_mode_allow``, ``status_on_error``) is for a Check
that fails as an RPC; the decision answers every session outcome, the core being unavailable
included (503), as a denial instead, as the SDK's middleware answers it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc

from session_proto.xds.envoy.config.core.v3 import base_pb2
from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from session_proto.xds.envoy.type.v3 import http_status_pb2
from session_proto.xds.google.rpc import status_pb2
from session_service.domain.errors import InvalidArgument
from session_service.domain.http_sessions import HttpSessions, error_answer, route_options
from session_service.domain.http_types import Allowed, Header, HttpAnswer, HttpRequest
from session_service.transport.converters import serializer
from session_service.transport.ext_authz_fast import CheckFastPath
from session_service.transport.rpc import lenient_parser, remaining

logger = logging.getLogger("session_service.ext_authz")

AUTHORIZATION_SERVICE: str = authz.DESCRIPTOR.services_by_name["Authorization"].full_name
CHECK_METHOD = f"/{AUTHORIZATION_SERVICE}/Check"

_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_APPEND = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
# Response headers the client may get several of, or a list the upstream may extend.
_APPENDED = frozenset({"set-cookie", "access-control-expose-headers"})
# google.rpc.Code numbers (grpc's StatusCode carries them).
_OK: int = grpc.StatusCode.OK.value[0]
_PERMISSION_DENIED: int = grpc.StatusCode.PERMISSION_DENIED.value[0]
_GRPC_CODES: dict[int, int] = {
    401: grpc.StatusCode.UNAUTHENTICATED.value[0],
    400: grpc.StatusCode.INVALID_ARGUMENT.value[0],
}


def http_request(request: authz.CheckRequest) -> HttpRequest:
    """The HTTP request Envoy describes: method, path (with the query string), and the
    headers whose keys are lower-case (module docstring)."""
    http = request.attributes.request.http
    headers: Iterable[Header]
    if http.headers:
        headers = http.headers.items()
    else:
        headers = [
            (h.key, h.value or h.raw_value.decode("utf-8", "replace"))
            for h in http.header_map.headers
        ]
    lower_case = [(name, value) for name, value in headers if name == name.lower()]
    return HttpRequest(http.method or "GET", http.path, lower_case)


def header_options(headers: Sequence[Header], appended: frozenset[str] = frozenset()) -> list[Any]:
    """Envoy's ``HeaderValueOption`` of each pair: appended when its name is in
    ``appended``, else overwriting."""
    return [
        base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=name, value=value),
            append_action=_APPEND if name in appended else _OVERWRITE,
        )
        for name, value in headers
    ]


def allowed_response(allowed: Allowed) -> authz.CheckResponse:
    return authz.CheckResponse(
        status=status_pb2.Status(code=_OK),
        ok_response=authz.OkHttpResponse(
            headers=header_options(allowed.upstream_headers),
            headers_to_remove=allowed.remove_upstream_headers,
            response_headers_to_add=header_options(allowed.response_headers, _APPENDED),
        ),
    )


def denied_response(answer: HttpAnswer) -> authz.CheckResponse:
    code = _GRPC_CODES.get(answer.http_status, _PERMISSION_DENIED)
    return authz.CheckResponse(
        status=status_pb2.Status(code=code, message=answer.reason),
        denied_response=authz.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=answer.http_status),  # type: ignore[arg-type]
            headers=header_options(answer.headers, _APPENDED),
            body=answer.body.decode("utf-8"),
        ),
    )


class ExtAuthz:
    """``envoy.service.auth.v3.Authorization`` over one ``HttpSessions``; ``fast`` (set by
    the server) keeps the allowing answers its fast path may give again."""

    def __init__(self, sessions: HttpSessions) -> None:
        self.sessions = sessions
        self.fast: CheckFastPath | None = None
        self.internal_errors = 0

    async def Check(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> authz.CheckResponse:
        if not isinstance(request, authz.CheckRequest):  # bytes that do not parse
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "request: is not a valid envoy.service.auth.v3.CheckRequest message",
            )
        try:
            return await self._check(request, context)
        except Exception as exc:
            # The decision answers every outcome; this is a bug. Its message stays out of
            # the log (it could hold request data).
            self.internal_errors += 1
            logger.error(
                "Check failed with unexpected %s (message withheld)\n%s",
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            raise AssertionError("context.abort returned") from None  # pragma: no cover

    async def _check(
        self, request: authz.CheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> authz.CheckResponse:
        try:
            options = route_options(request.attributes.context_extensions)
        except InvalidArgument as exc:
            return denied_response(error_answer(exc))
        outcome = await self.sessions.verify(
            http_request(request), options, timeout=remaining(context)
        )
        if isinstance(outcome, Allowed):
            response = allowed_response(outcome)
            if self.fast is not None:
                self.fast.keep(outcome, response)
            return response
        return denied_response(outcome)


def add_ext_authz_to_server(
    ext_authz: ExtAuthz,
    server: Any,
    wrap: Callable[[str, Any, Any], Any] | None = None,
) -> None:
    """Register ``Check`` (requests that do not parse are answered INVALID_ARGUMENT);
    ``wrap(name, behaviour, response_class)`` may wrap it (drain, metrics, tracing)."""
    behaviour: Any = ext_authz.Check
    if wrap is not None:
        behaviour = wrap("Check", behaviour, authz.CheckResponse)
    handlers = {
        "Check": grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=lenient_parser(authz.CheckRequest),
            # Messages, or the bytes of the fast path's RenderedResponse.
            response_serializer=serializer(authz.CheckResponse),
        )
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(AUTHORIZATION_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(AUTHORIZATION_SERVICE, handlers)
