"""OpenTelemetry tracing, opt-in by configuration.

The libraries come with the ``tracing`` extra (``pip install 'session-service[tracing]'``);
without them everything here still imports, and only asking for tracing fails.
Spans are made by hand rather than by the auto-instrumentation packages: the gRPC and
aiohttp instrumentations rely on process-wide state (one global tracer provider and
middleware globals), while a process here may run a service and a core with providers of
their own; and with tracing off the request paths must not pay for a disabled tracer.
Context travels in W3C ``traceparent``/``tracestate`` headers (gRPC metadata or HTTP).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

try:
    from opentelemetry.propagate import extract, inject
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
        SpanExporter,
    )
    from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context

    _INSTALLED = True
except ImportError:  # pragma: no cover - the tests run with the extra installed
    _INSTALLED = False

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.trace import TracerProvider as ApiTracerProvider

TRACING_EXPORTERS = ("off", "otlp", "console")
TRACER_NAME = "session-service"
_MISSING = "tracing needs the OpenTelemetry libraries: pip install 'session-service[tracing]'"


class TracingUnavailable(RuntimeError):
    """Tracing was configured but the OpenTelemetry libraries are not installed."""


def build_tracer_provider(exporter: str, service_name: str) -> TracerProvider | None:
    """A tracer provider exporting to ``exporter`` (None for ``off``).

    ``otlp`` sends batches over OTLP/gRPC, configured by the standard ``OTEL_EXPORTER_OTLP_*``
    variables (endpoint default ``http://localhost:4317``); ``console`` prints spans (for a
    first look). ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` are honoured;
    ``service_name`` applies when they name no service.
    """
    if exporter == "off":
        return None
    if not _INSTALLED:
        raise TracingUnavailable(_MISSING)
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    processor: SpanProcessor
    if exporter == "otlp":
        processor = BatchSpanProcessor(_otlp_exporter())
    else:
        processor = SimpleSpanProcessor(ConsoleSpanExporter())
    provider.add_span_processor(processor)
    return provider


def _otlp_exporter() -> SpanExporter:
    # Imported only for --tracing otlp: it loads the OTLP protobuf modules.
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError:  # pragma: no cover
        raise TracingUnavailable(_MISSING) from None
    exporter: SpanExporter = OTLPSpanExporter()
    return exporter


def get_tracer(provider: ApiTracerProvider) -> Tracer:
    return provider.get_tracer(TRACER_NAME)


@contextmanager
def server_span(
    tracer: Tracer, name: str, carrier: Mapping[str, str], attributes: Mapping[str, str]
) -> Iterator[Span]:
    """A SERVER span, child of the trace context found in ``carrier`` (request headers or
    metadata), current for the duration of the block. Exceptions are left to the caller
    to classify (a gRPC abort is an answer, not a crash)."""
    with tracer.start_as_current_span(
        name,
        context=extract(carrier),
        kind=SpanKind.SERVER,
        attributes=dict(attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def client_span(tracer: Tracer, name: str, attributes: Mapping[str, str]) -> Span:
    """A CLIENT span under the current context; the caller ends it."""
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=dict(attributes))


def inject_context(span: Span, headers: dict[str, str]) -> None:
    """Add ``span``'s trace context to outgoing headers."""
    inject(headers, context=set_span_in_context(span))


def mark_error(span: Span, description: str) -> None:
    span.set_status(StatusCode.ERROR, description)
