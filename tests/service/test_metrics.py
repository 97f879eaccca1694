"""Prometheus metrics: scrape the real endpoints after a scripted scenario and check the numbers.

The service's ``/metrics`` (ops port) and the core's ``GET /metrics`` are read over HTTP and
parsed with prometheus-client's own parser, as Prometheus would read them.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Mapping
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from session_service.server import RunningService, start_service
from session_service.settings import Settings
from tests.faults import Fault, FaultProxy
from tests.service.conftest import MakeService, service_settings
from tests.service.harness import SERVING, Samples, free_port, health_watch, scrape, value


def series(samples: Samples, name: str) -> list[Mapping[str, str]]:
    return [dict(labels) for (sample, labels) in samples if sample == name]


def service_metrics_url(service: RunningService) -> str:
    assert service.metrics_port is not None
    return f"http://127.0.0.1:{service.metrics_port}/metrics"


def with_unknown_kid(token: str) -> str:
    """The same token with its header's kid replaced: it parses, but no key matches."""
    header_b64, rest = token.split(".", 1)
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    header["kid"] = "d-no-such-key"
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{rest}"


async def test_rpc_counts_by_method_code_and_status_after_a_scenario(
    make_service: MakeService, clock: ManualClock
) -> None:
    service = await make_service(metrics_port=0)
    async with grpc.aio.insecure_channel(service.address) as channel:
        client = SessionClient(channel)
        alice = await client.create_session("alice")
        bob = await client.create_session("bob")
        for _ in range(3):
            assert (await client.get_session(alice.session.access_token)).status is (
                SessionStatus.OK
            )
        assert (await client.get_session("garbage")).status is SessionStatus.UNAUTHORISED
        no_session = await client.get_session(None, session_required=False)
        assert no_session.status is SessionStatus.NO_SESSION
        forged = await client.get_session(with_unknown_kid(alice.session.access_token))
        assert forged.status is SessionStatus.TRY_REFRESH_TOKEN
        refreshed = await client.refresh_session("not-a-refresh-token")
        assert refreshed.status is SessionStatus.UNAUTHORISED
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.create_session("")
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        clock.advance(3600 * 1000 + 1)  # past the core's default access token validity
        expired = await client.get_session(bob.session.access_token)
        assert expired.status is SessionStatus.TRY_REFRESH_TOKEN

    samples = await scrape(service_metrics_url(service))

    rpcs = "session_service_rpcs_total"
    assert value(samples, rpcs, method="CreateSession", code="OK", status="OK") == 2
    assert value(samples, rpcs, method="CreateSession", code="INVALID_ARGUMENT", status="") == 1
    assert value(samples, rpcs, method="GetSession", code="OK", status="OK") == 3
    assert value(samples, rpcs, method="GetSession", code="OK", status="UNAUTHORISED") == 1
    assert value(samples, rpcs, method="GetSession", code="OK", status="NO_SESSION") == 1
    assert value(samples, rpcs, method="GetSession", code="OK", status="TRY_REFRESH_TOKEN") == 2
    assert value(samples, rpcs, method="RefreshSession", code="OK", status="UNAUTHORISED") == 1
    # Exactly these series: health checks are not RPC traffic.
    assert len(series(samples, rpcs)) == 7
    assert all(s["method"] != "Check" for s in series(samples, rpcs))

    histogram = "session_service_rpc_duration_seconds"
    ok_gets = {"method": "GetSession", "code": "OK", "status": "OK"}
    assert value(samples, f"{histogram}_count", **ok_gets) == 3
    assert value(samples, f"{histogram}_bucket", **ok_gets, le="+Inf") == 3
    assert (value(samples, f"{histogram}_sum", **ok_gets) or 0) > 0
    assert value(samples, "session_service_rpcs_in_flight") == 0

    core = "session_service_core_requests_total"
    assert value(samples, core, endpoint="/recipe/session", outcome="200") == 2
    assert value(samples, core, endpoint="/recipe/session/refresh", outcome="200") == 1
    assert value(samples, core, endpoint="/recipe/session/verify", outcome="200") is None
    core_latency = "session_service_core_request_duration_seconds_count"
    assert value(samples, core_latency, endpoint="/recipe/session") == 2

    assert (value(samples, "session_service_key_cache_fetches_total", outcome="ok") or 0) >= 1
    assert value(samples, "session_service_key_cache_fetches_total", outcome="failed") == 0
    assert value(samples, "session_service_key_cache_unknown_kid_misses_total") == 1
    assert value(samples, "session_service_key_cache_usable") == 1
    assert value(samples, "session_service_internal_errors_total") == 0
    assert value(samples, "process_cpu_seconds_total") is not None


async def test_verified_token_cache_hits_are_counted(make_service: MakeService) -> None:
    service = await make_service(metrics_port=0)
    async with grpc.aio.insecure_channel(service.address) as channel:
        client = SessionClient(channel)
        created = await client.create_session("alice")
        await client.get_session(created.session.access_token)
        before = await scrape(service_metrics_url(service))
        for _ in range(4):
            await client.get_session(created.session.access_token)
        after = await scrape(service_metrics_url(service))

    def lookups(samples: Samples, result: str) -> float:
        return value(samples, "session_service_token_cache_lookups_total", result=result) or 0

    hits = lookups(after, "hit") + lookups(after, "warm_hit")
    assert hits - (lookups(before, "hit") + lookups(before, "warm_hit")) == 4
    assert lookups(after, "miss") == lookups(before, "miss")
    assert (value(after, "session_service_token_cache_entries", kind="verified") or 0) >= 1


async def test_key_age_follows_the_clock(make_service: MakeService, clock: ManualClock) -> None:
    service = await make_service(metrics_port=0)
    async with grpc.aio.insecure_channel(service.address) as channel:
        async with health_watch(channel) as watch:
            await watch.wait_for(SERVING)  # keys loaded
        assert (
            value(
                await scrape(service_metrics_url(service)), "session_service_key_cache_age_seconds"
            )
            == 0
        )
        clock.advance(10_000)  # inside the key set's freshness: no refetch
        samples = await scrape(service_metrics_url(service))
    assert value(samples, "session_service_key_cache_age_seconds") == 10
    assert value(samples, "session_service_key_cache_stale") == 0


async def test_core_serves_its_own_metrics_without_an_api_key(
    sqlite_url: str, clock: ManualClock
) -> None:
    api_key = "an-api-key-of-at-least-20-chars"
    core = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url, api_keys=(api_key,)),
        clock=clock,
    )
    try:
        service = await start_service(service_settings(core.url, core_api_key=api_key), clock=clock)
        try:
            async with SessionClient.insecure(service.address) as client:
                await client.create_session("alice")
                await client.create_session("bob")
        finally:
            await service.stop(grace=1.0)
        async with httpx.AsyncClient() as http:
            assert (await http.get(core.url + "/wp-admin")).status_code == 404
            assert (await http.get(core.url + "/recipe/session/user")).status_code == 401
        samples = await scrape(core.url + "/metrics")
    finally:
        await core.stop()
    requests = "session_core_http_requests_total"
    assert value(samples, requests, endpoint="/recipe/session", method="POST", code="200") == 2
    assert value(samples, requests, endpoint="other", method="GET", code="404") == 1
    assert value(samples, requests, endpoint="/recipe/session/user", method="GET", code="401") == 1
    latency = "session_core_http_request_duration_seconds_count"
    assert value(samples, latency, endpoint="/recipe/session") == 2
    assert value(samples, "session_core_signing_key_reloads_total") is not None


async def test_embedded_core_metrics_are_on_the_service_endpoint(tmp_path: Path) -> None:
    service = await start_service(
        Settings(
            host="127.0.0.1",
            port=0,
            data_dir=tmp_path,
            metrics_port=0,
            health_check_interval_seconds=0.05,
        )
    )
    try:
        async with SessionClient.insecure(service.address) as client:
            await client.create_session("alice")
        samples = await scrape(service_metrics_url(service))
    finally:
        await service.stop(grace=1.0)
    assert (
        value(
            samples,
            "session_core_http_requests_total",
            endpoint="/recipe/session",
            method="POST",
            code="200",
        )
        == 1
    )
    assert (
        value(samples, "session_service_rpcs_total", method="CreateSession", code="OK", status="OK")
        == 1
    )


async def test_metrics_are_off_unless_a_port_is_configured(service: RunningService) -> None:
    assert service.metrics_port is None


async def test_a_taken_metrics_port_fails_startup_and_frees_the_grpc_port(
    make_service: MakeService,
) -> None:
    grpc_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="metrics"):
            await make_service(port=grpc_port, metrics_port=taken.getsockname()[1])
    service = await make_service(port=grpc_port, metrics_port=0)
    assert service.port == grpc_port


async def test_core_call_failures_are_counted_by_kind(
    make_service: MakeService, core: RunningCore
) -> None:
    """Each failed core call is labelled with what went wrong: a hung core with "timeout"
    (its own request timeout), a refused connection with "unreachable"."""
    proxy = FaultProxy(core.url)
    await proxy.start()
    try:
        service = await make_service(metrics_port=0, core_url=proxy.url, core_timeout_seconds=0.3)
        async with SessionClient.insecure(service.address) as client:
            await client.create_session("u")
            proxy.set_fault(Fault.HANG, paths={"/recipe/session"})
            with pytest.raises(grpc.aio.AioRpcError) as hung:
                await client.create_session("v")
            assert hung.value.code() is grpc.StatusCode.UNAVAILABLE
            await proxy.go_down()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.create_session("w")
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        samples = await scrape(service_metrics_url(service))
    finally:
        await proxy.stop()
    core_calls = "session_service_core_requests_total"
    assert value(samples, core_calls, endpoint="/recipe/session", outcome="200") == 1
    assert value(samples, core_calls, endpoint="/recipe/session", outcome="timeout") == 1
    assert value(samples, core_calls, endpoint="/recipe/session", outcome="unreachable") == 1
