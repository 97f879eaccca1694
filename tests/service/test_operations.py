"""The operator's view of a real process: JSON logs on stderr, /metrics on the ops port, and
the container health check command (``session-service-healthcheck``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from session_client import SessionClient, SessionStatus

from session_proto.session.v1 import session_service_pb2 as pb
from session_proto.session.v1 import session_service_pb2_grpc as pb_grpc
from session_service.transport.auth import Scope, parse_api_keys
from tests.service.conftest import MakeService
from tests.service.harness import NOT_SERVING, SERVING, free_port, health_watch

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SESSION_SERVICE = BIN / "session-service"
HEALTHCHECK = BIN / "session-service-healthcheck"


async def healthcheck(*args: str, port: int | None = None) -> tuple[int, str]:
    env = dict(os.environ)
    if port is not None:
        env["SESSION_SERVICE_PORT"] = str(port)
    process = await asyncio.create_subprocess_exec(
        str(HEALTHCHECK),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_a_serving_process_logs_json_serves_metrics_and_passes_its_health_check(
    tmp_path: Path,
) -> None:
    port, metrics_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        str(SESSION_SERVICE),
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        "--health-check-interval-seconds",
        "0.1",
        "--metrics-port",
        str(metrics_port),
        "--log-format",
        "json",
        "--log-level",
        "debug",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            async with asyncio.timeout(30):
                await channel.channel_ready()
            async with health_watch(channel) as watch:
                await watch.wait_for(SERVING)
            # Configured by the environment alone, as the image's HEALTHCHECK runs it.
            assert await healthcheck(port=port) == (0, "")
            stub = pb_grpc.SessionServiceStub(channel)  # type: ignore[no-untyped-call]
            created = await stub.CreateSession(
                pb.CreateSessionRequest(user_id="ops-user"),
                metadata=(("x-request-id", "ops-request-1"),),
            )
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    entries = [json.loads(line) for line in stderr.decode().splitlines() if line.strip()]
    assert entries, "no log lines"
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    # The embedded core logged the create under the caller's request id.
    core_lines = [e for e in entries if e.get("request_id") == "ops-request-1"]
    assert any(e["message"].startswith("POST /recipe/session -> 200") for e in core_lines)
    assert created.session.access_token.encode() not in stderr
    assert 'session_service_rpcs_total{code="OK",method="CreateSession",status="OK"} 1.0' in metrics
    assert "session_core_http_requests_total" in metrics  # the embedded core's own
    # Stopped: the health check now fails.
    code, message = await healthcheck(port=port)
    assert code == 1
    assert "UNAVAILABLE" in message


async def test_the_health_check_fails_while_the_service_is_not_serving(
    make_service: MakeService,
) -> None:
    service = await make_service(core_url=f"http://127.0.0.1:{free_port()}")
    async with (
        grpc.aio.insecure_channel(service.address) as channel,
        health_watch(channel) as watch,
    ):
        await watch.wait_for(NOT_SERVING)
    code, message = await healthcheck("--address", service.address)
    assert code == 1
    assert "NOT_SERVING" in message


async def test_liveness_stays_serving_while_readiness_waits_for_the_core(
    make_service: MakeService,
) -> None:
    service = await make_service(core_url=f"http://127.0.0.1:{free_port()}")
    async with grpc.aio.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        liveness = await health.Check(health_pb2.HealthCheckRequest(service="liveness"))
        readiness = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert liveness.status == SERVING
    assert readiness.status == NOT_SERVING


async def test_connections_are_closed_after_max_connection_age(make_service: MakeService) -> None:
    service = await make_service(max_connection_age_seconds=0.2)
    async with grpc.aio.insecure_channel(service.address) as channel:
        client = SessionClient(channel)
        created = await client.create_session("alice")
        assert channel.get_state() is grpc.ChannelConnectivity.READY
        async with asyncio.timeout(20):  # the server's GOAWAY, after 0.2 s plus jitter
            await channel.wait_for_state_change(grpc.ChannelConnectivity.READY)
        assert channel.get_state() is not grpc.ChannelConnectivity.READY
        # The client reconnects by itself.
        verified = await client.get_session(created.session.access_token)
    assert verified.status is SessionStatus.OK


async def test_the_health_check_needs_no_key_where_every_call_needs_one(
    make_service: MakeService,
) -> None:
    """The service with the key file docker-compose.yml mounts for development: the image's
    HEALTHCHECK command, which sends no key, passes; a call without a key is refused, one
    with the file's full key answered."""
    keys_file = ROOT / "deploy" / "compose" / "api-keys.development"
    (full_key,) = [
        line.split()[0]
        for line in keys_file.read_text().splitlines()
        if line.endswith(f" {Scope.FULL.value}") and not line.startswith("#")
    ]
    assert [entry.scope for entry in parse_api_keys(keys_file.read_text())].count(Scope.FULL) == 1
    service = await make_service(api_keys_file=keys_file)
    async with (
        grpc.aio.insecure_channel(service.address) as channel,
        health_watch(channel) as watch,
    ):
        await watch.wait_for(SERVING)
    assert await healthcheck("--address", service.address) == (0, "")
    async with SessionClient.insecure(service.address) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await anonymous.create_session("compose-user")
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    async with SessionClient.insecure(service.address, api_key=full_key) as caller:
        created = await caller.create_session("compose-user")
        checked = await caller.get_session(created.session.access_token)
    assert checked.status is SessionStatus.OK
