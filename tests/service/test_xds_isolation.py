"""Envoy's API in the package (``session_proto.xds``) leaves the modules of other packages
alone: xds-protos is not installed (installed, it overwrites opentelemetry-proto's and
googleapis-common-protos' modules), its generated files live in a descriptor pool of their
own, and the service's OTLP tracing exports the spans of Check to a collector."""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from session_client import SessionClient

from session_core.app import RunningCore
from session_proto import xds_pool
from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2
from testkit.ext_authz import check_call, check_request
from tests.service.harness import free_port
from tests.service.serve_process import running_service, wait_serving

CHECK_SPAN = "envoy.service.auth.v3.Authorization/Check"


def test_xds_protos_is_not_installed_and_the_envoy_files_are_in_a_pool_of_their_own() -> None:
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("xds-protos")
    assert external_auth_pb2.DESCRIPTOR.pool is xds_pool.POOL
    default = descriptor_pool.Default()
    with pytest.raises(KeyError):
        default.FindFileByName("envoy/service/auth/v3/external_auth.proto")
    # googleapis-common-protos' google.rpc.Status (loaded by grpcio-status) is the default
    # pool's own, beside the private copy.
    assert rpc_status.status_pb2.Status.DESCRIPTOR.file.pool is default
    status_file = xds_pool.POOL.FindFileByName("google/rpc/status.proto")
    assert status_file is not default.FindFileByName("google/rpc/status.proto")


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace collector that keeps the names of the spans it receives."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.arrived = asyncio.Event()

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.names += [span.name for span in scope.spans]
        self.arrived.set()
        return trace_service_pb2.ExportTraceServiceResponse()

    async def wait_for(self, name: str) -> None:
        async with asyncio.timeout(60):
            while name not in self.names:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, int]]:
    server = grpc.aio.server()
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(None)


@pytest.mark.process
async def test_otlp_tracing_exports_the_spans_of_check(
    collector: tuple[Collector, int], core: RunningCore, tmp_path: Path
) -> None:
    received, collector_port = collector
    port = free_port()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    flags = ("--core-url", core.url, "--tracing", "otlp")
    async with running_service(port, tmp_path / "data", *flags, env=env) as served:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            created = await SessionClient(channel).create_session("traced")
            cookie = {"cookie": f"sAccessToken={created.session.access_token}"}
            response = await check_call(channel)(check_request(cookie), timeout=10)
        assert response.status.code == 0
        await received.wait_for(CHECK_SPAN)
        assert "Traceback" not in served.log
