"""What every RPC and every core request goes through: metrics, tracing, request ids.

``RpcObserver.wrap`` wraps each SessionService method once, when the server is built (no
interceptor: a grpc.aio interceptor costs a coroutine and a handler object per call). Health
and reflection are not wrapped, so probes neither count as traffic nor make traces.
``CoreObserver`` is the core client's ``CoreCallObserver``: it times each core request, gives it
a CLIENT span, and sends the request id and trace context along as headers; a request
that was never sent (no free connection in time) is only counted.

Request ids are lazy when tracing is off: the metadata is read only if the RPC logs
something or calls the core (a cached GetSession does neither).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from session_common.logs import (
    REQUEST_ID,
    REQUEST_ID_HEADER,
    LazyRequestId,
    current_request_id,
)
from session_common.tracing import client_span, inject_context, mark_error, server_span
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.transport.metrics import ServiceMetrics

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

Behaviour = Callable[[Any, Any], Awaitable[Any]]

_STATUS_PREFIX = "SESSION_STATUS_"
# SessionStatus number -> label ("OK", "TRY_REFRESH_TOKEN", ...), as docs/api.md names them.
STATUS_LABELS: dict[int, str] = {
    value.number: value.name.removeprefix(_STATUS_PREFIX)
    for value in pb.SessionStatus.DESCRIPTOR.values
}


def _caller_request_id(context: Any) -> str | None:
    for item in context.invocation_metadata() or ():
        if item[0] == REQUEST_ID_HEADER:
            value = item[1]
            return value if isinstance(value, str) else None
    return None


def _code_name(context: Any, exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code()
    return code.name if code is not None else "UNKNOWN"


CHECK_RESPONSE = "envoy.service.auth.v3.CheckResponse"


def check_http_status(response: Any) -> str:
    """The HTTP status a ``CheckResponse`` gives the client: 200 when allowed."""
    if response.HasField("ok_response"):
        return "200"
    return str(response.denied_response.status.code)


class RpcObserver:
    """Wraps RPC behaviours with metrics, and with server spans when ``tracer`` is set."""

    def __init__(self, metrics: ServiceMetrics, tracer: Tracer | None, service: str) -> None:
        self._metrics = metrics
        self._tracer = tracer
        self._service = service

    def for_service(self, service: str) -> RpcObserver:
        """An observer of another service's RPCs (its span names), sharing the metrics and
        tracer."""
        return RpcObserver(self._metrics, self._tracer, service)

    def wrap(self, method: str, behaviour: Behaviour, output_type: Any) -> Behaviour:
        # A session status enum (SessionService); Envoy's CheckResponse.status is a message.
        status_field = output_type.DESCRIPTOR.fields_by_name.get("status")
        has_status = status_field is not None and status_field.enum_type is not None
        # Check's status label: the HTTP status of its answer (200 when allowed).
        http_status = output_type.DESCRIPTOR.full_name == CHECK_RESPONSE
        record = self._metrics.rpc_recorder(method)
        metrics = self._metrics
        labels = STATUS_LABELS

        async def observed(request: Any, context: Any) -> Any:
            REQUEST_ID.set(LazyRequestId(functools.partial(_caller_request_id, context)))
            started = time.perf_counter()
            metrics.in_flight += 1
            code, status = "OK", ""
            try:
                response = await behaviour(request, context)
                if has_status:
                    status = labels.get(response.status, "")
                elif http_status:
                    status = check_http_status(response)
                return response
            except BaseException as exc:
                code = _code_name(context, exc)
                raise
            finally:
                metrics.in_flight -= 1
                record(code, status, time.perf_counter() - started)

        if self._tracer is None:
            return observed
        return self._traced(method, observed, self._tracer)

    def _traced(self, method: str, observed: Behaviour, tracer: Tracer) -> Behaviour:
        name = f"{self._service}/{method}"
        attributes = {"rpc.system": "grpc", "rpc.service": self._service, "rpc.method": method}

        async def traced(request: Any, context: Any) -> Any:
            metadata = {item[0]: item[1] for item in context.invocation_metadata() or ()}
            with server_span(tracer, name, metadata, attributes) as span:
                try:
                    response = await observed(request, context)
                except BaseException as exc:
                    code = _code_name(context, exc)
                    span.set_attribute("rpc.grpc.status_code", code)
                    mark_error(span, code)
                    raise
                span.set_attribute("rpc.grpc.status_code", "OK")
                status = getattr(response, "status", None)
                if isinstance(status, int):
                    span.set_attribute("session.status", STATUS_LABELS.get(status, ""))
                # The lazy id the inner wrapper set is in this task's context: record it.
                span.set_attribute("request.id", current_request_id() or "")
                return response

        return traced


class _CoreCall:
    __slots__ = ("_endpoint", "_metrics", "_span", "_started", "headers")

    def __init__(
        self, metrics: ServiceMetrics, tracer: Tracer | None, method: str, endpoint: str
    ) -> None:
        self._metrics = metrics
        self._endpoint = endpoint
        headers: dict[str, str] = {}
        request_id = current_request_id()
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        self._span: Span | None = None
        if tracer is not None:
            self._span = client_span(
                tracer,
                f"{method} {endpoint}",
                {"http.request.method": method, "url.path": endpoint},
            )
            inject_context(self._span, headers)
        self.headers: Mapping[str, str] = headers
        self._started = time.perf_counter()

    def finish(self, outcome: str) -> None:
        self._metrics.core_request(self._endpoint, outcome, time.perf_counter() - self._started)
        span = self._span
        if span is not None:
            if outcome.isdigit():
                span.set_attribute("http.response.status_code", int(outcome))
            if outcome != "200":
                mark_error(span, outcome)
            span.end()


class CoreObserver:
    """The core client's ``CoreCallObserver``: metrics, a span and headers per core request."""

    def __init__(self, metrics: ServiceMetrics, tracer: Tracer | None) -> None:
        self._metrics = metrics
        self._tracer = tracer

    def start(self, method: str, endpoint: str) -> _CoreCall:
        return _CoreCall(self._metrics, self._tracer, method, endpoint)

    def not_sent(self, method: str, endpoint: str, outcome: str) -> None:
        """Counted, neither timed nor traced: no request went to the core (the RPC's own
        span and code tell the rest)."""
        self._metrics.core_request_not_sent(endpoint, outcome)
