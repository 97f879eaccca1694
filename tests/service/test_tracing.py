"""OpenTelemetry: one trace from the caller's gRPC call through the core's HTTP handling.

The service and a real core share a tracer provider with an in-memory exporter (a
SimpleSpanProcessor exports each span as it ends, so everything is there once the RPC has
returned). The caller sends a W3C ``traceparent`` as gRPC metadata, as an instrumented
client would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from session_common.clock import ManualClock
from session_core.app import start_core
from session_core.config import CoreConfig
from session_proto.session.v1 import session_service_pb2 as pb
from session_proto.session.v1 import session_service_pb2_grpc as pb_grpc
from session_service.server import RunningService, start_service
from testkit.ext_authz import check_call, check_request
from tests.service.conftest import service_settings

CALLER_TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CALLER_SPAN_ID = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{CALLER_TRACE_ID:032x}-{CALLER_SPAN_ID:016x}-01"


@dataclass
class Traced:
    service: RunningService
    exporter: InMemorySpanExporter
    stub: pb_grpc.SessionServiceStub
    channel: grpc.aio.Channel

    def trace(self) -> list[ReadableSpan]:
        """Every finished span of the caller's trace."""
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.context is not None and s.context.trace_id == CALLER_TRACE_ID
        ]


@pytest.fixture
async def traced(sqlite_url: str, clock: ManualClock) -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    core = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url),
        clock=clock,
        tracer_provider=provider,
    )
    service = await start_service(service_settings(core.url), clock=clock, tracer_provider=provider)
    try:
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = pb_grpc.SessionServiceStub(channel)  # type: ignore[no-untyped-call]
            yield Traced(service, exporter, stub, channel)
    finally:
        await service.stop(grace=1.0)
        await core.stop()
        provider.shutdown()
    assert service.servicer.internal_errors == 0


def only(spans: list[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    matching = [s for s in spans if s.name == name and s.kind is kind]
    assert len(matching) == 1, [(s.name, s.kind) for s in spans]
    return matching[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    value: int = span.context.span_id
    return value


async def test_create_session_is_one_trace_through_service_and_core(traced: Traced) -> None:
    await traced.stub.CreateSession(
        pb.CreateSessionRequest(user_id="alice"),
        metadata=(("traceparent", TRACEPARENT), ("x-request-id", "req-trace-1")),
    )

    spans = traced.trace()
    rpc = only(spans, "session.v1.SessionService/CreateSession", SpanKind.SERVER)
    client = only(spans, "POST /recipe/session", SpanKind.CLIENT)
    core = only(spans, "POST /recipe/session", SpanKind.SERVER)
    assert parent_id(rpc) == CALLER_SPAN_ID
    assert parent_id(client) == span_id(rpc)
    assert parent_id(core) == span_id(client)
    assert rpc.attributes is not None and client.attributes is not None
    assert rpc.attributes["rpc.method"] == "CreateSession"
    assert rpc.attributes["rpc.grpc.status_code"] == "OK"
    assert rpc.attributes["request.id"] == "req-trace-1"
    assert client.attributes["http.response.status_code"] == 200
    assert core.attributes is not None and core.attributes["http.route"] == "/recipe/session"
    assert rpc.status.status_code is not StatusCode.ERROR


async def test_a_locally_verified_get_session_has_no_core_span(traced: Traced) -> None:
    created = await traced.stub.CreateSession(pb.CreateSessionRequest(user_id="alice"))
    traced.exporter.clear()

    response = await traced.stub.GetSession(
        pb.GetSessionRequest(access_token=created.session.access_token),
        metadata=(("traceparent", TRACEPARENT),),
    )

    assert response.status == pb.SESSION_STATUS_OK
    spans = traced.trace()
    assert [(s.name, s.kind) for s in spans] == [
        ("session.v1.SessionService/GetSession", SpanKind.SERVER)
    ]
    assert spans[0].attributes is not None
    assert spans[0].attributes["session.status"] == "OK"


async def test_a_failed_rpc_is_an_error_span_with_its_code(traced: Traced) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await traced.stub.CreateSession(
            pb.CreateSessionRequest(user_id=""), metadata=(("traceparent", TRACEPARENT),)
        )
    rpc = only(traced.trace(), "session.v1.SessionService/CreateSession", SpanKind.SERVER)
    assert rpc.status.status_code is StatusCode.ERROR
    assert rpc.attributes is not None
    assert rpc.attributes["rpc.grpc.status_code"] == "INVALID_ARGUMENT"


async def test_health_checks_make_no_spans(traced: Traced) -> None:
    traced.exporter.clear()
    health = health_pb2_grpc.HealthStub(traced.channel)
    await health.Check(health_pb2.HealthCheckRequest(), metadata=(("traceparent", TRACEPARENT),))
    assert traced.trace() == []


async def test_envoys_check_is_a_server_span_of_its_own_service(traced: Traced) -> None:
    """Check is traced under Envoy's service name, every call (with tracing on, no call
    is answered ahead of the wrappers)."""
    created = await traced.stub.CreateSession(pb.CreateSessionRequest(user_id="u"))
    cookie = {"cookie": f"sAccessToken={created.session.access_token}"}
    for _ in range(3):
        response = await check_call(traced.channel)(
            check_request(cookie), metadata=(("traceparent", TRACEPARENT),), timeout=10
        )
        assert response.status.code == 0
    spans = [
        s
        for s in traced.trace()
        if s.name == "envoy.service.auth.v3.Authorization/Check" and s.kind is SpanKind.SERVER
    ]
    assert len(spans) == 3
    assert spans[0].attributes is not None
    assert spans[0].attributes["rpc.service"] == "envoy.service.auth.v3.Authorization"
    assert spans[0].attributes["rpc.grpc.status_code"] == "OK"
