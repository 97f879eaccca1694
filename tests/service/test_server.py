"""Server behaviour: readiness through grpc.health.v1, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from session_service.server import RunningService
from session_service.transport.health import SERVICE_NAME
from tests.service.conftest import MakeService
from tests.service.harness import NOT_SERVING, SERVING, GatedProxy, free_port, health_watch


async def test_health_follows_the_core(
    make_service: MakeService, sqlite_url: str, clock: ManualClock
) -> None:
    """NOT_SERVING before any core answers, SERVING once one does, NOT_SERVING when it is
    lost and SERVING again when it is back, for "" and for the service by name."""
    core_port = free_port()
    service = await make_service(core_url=f"http://127.0.0.1:{core_port}")
    core_config = CoreConfig(host="127.0.0.1", port=core_port, database=sqlite_url)

    async with (
        grpc.aio.insecure_channel(service.address) as channel,
        health_watch(channel, "") as overall,
        health_watch(channel, SERVICE_NAME) as by_name,
    ):
        for watch in (overall, by_name):
            await watch.wait_for(NOT_SERVING)

        core: RunningCore = await start_core(core_config, clock=clock)
        try:
            for watch in (overall, by_name):
                await watch.wait_for(SERVING)
        finally:
            await core.stop()
        for watch in (overall, by_name):
            await watch.wait_for(NOT_SERVING)

        core = await start_core(core_config, clock=clock)
        try:
            for watch in (overall, by_name):
                await watch.wait_for(SERVING)
            stub = health_pb2_grpc.HealthStub(channel)
            checked = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
            assert checked.status == SERVING
        finally:
            await core.stop()
    assert overall.seen == [NOT_SERVING, SERVING, NOT_SERVING, SERVING]


async def test_reflection_lists_the_service(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names

    by_symbol = reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME)
    (described,) = [r async for r in stub.ServerReflectionInfo(iter([by_symbol]))]
    assert described.file_descriptor_response.file_descriptor_proto


async def test_reflection_can_be_turned_off(make_service: MakeService) -> None:
    service = await make_service(reflection=False)
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        # No request is written: the server refuses an unknown method on its headers alone,
        # and a write racing that refusal can end the call INTERNAL in grpcio
        # (grpc/grpc#36066). A server that served reflection would wait for a request and
        # the deadline would end the call instead.
        call = stub.ServerReflectionInfo(timeout=10)
        code = await call.code()
    assert code is grpc.StatusCode.UNIMPLEMENTED


async def test_graceful_stop_lets_an_in_flight_rpc_finish(
    make_service: MakeService, core: RunningCore
) -> None:
    """The verify call is held at a proxy in front of the core while the service stops:
    health goes NOT_SERVING, and the held RPC still completes OK once released."""
    proxy = GatedProxy(core.url, "/recipe/session/verify")
    await proxy.start()
    try:
        service = await make_service(core_url=proxy.url)
        async with (
            SessionClient.insecure(service.address) as client,
            grpc.aio.insecure_channel(service.address) as health_channel,
            health_watch(health_channel) as watch,
        ):
            await watch.wait_for(SERVING)
            created = await client.create_session("user-id")
            in_flight = asyncio.create_task(
                client.get_session(created.session.access_token, check_database=True)
            )
            await proxy.arrived.wait()

            stopping = asyncio.create_task(service.stop(grace=10.0))
            await watch.wait_for(NOT_SERVING)
            assert not in_flight.done()
            proxy.release.set()

            result = await in_flight
            await stopping
        assert result.status is SessionStatus.OK
    finally:
        await proxy.stop()


async def test_stopped_service_refuses_new_calls(service: RunningService) -> None:
    await service.stop(grace=1.0)
    async with SessionClient.insecure(service.address, timeout=2.0) as client:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.create_session("user-id")
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    await service.stop()  # idempotent


async def test_second_server_cannot_take_a_bound_port(
    make_service: MakeService, service: RunningService
) -> None:
    with pytest.raises(OSError, match="cannot listen"):
        await make_service(port=service.port)
