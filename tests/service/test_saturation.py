"""Saturation is not an outage: more concurrent calls than there are connections to the
core get OK, or RESOURCE_EXHAUSTED once their time runs out waiting for a connection, never
UNAVAILABLE; the metrics say "saturated", not "unreachable"; readiness stays SERVING (its
probe never queues behind callers). Bursts of 2,048 concurrent CreateSession, the size that
used to make half of them UNAVAILABLE, run against ``session-service serve`` with its
embedded core and against a separate ``session-core``, both as real processes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

import grpc
from session_client import SessionClient

from session_core.app import RunningCore
from testkit.processes import core_process
from tests.reliability import STATS
from tests.service.conftest import MakeService
from tests.service.harness import (
    SERVING,
    GatedProxy,
    Samples,
    free_port,
    health_watch,
    scrape,
    value,
)
from tests.service.serve_process import running_service, wait_serving

BURST = 2048
# Only guards against a hang; nothing is asserted about how long the burst takes.
HANG_GUARD_SECONDS = 300
CREATE = "/recipe/session"
CORE_REQUESTS = "session_service_core_requests_total"
RPCS = "session_service_rpcs_total"
CORE_HTTP_REQUESTS = "session_core_http_requests_total"


async def _code(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_a_full_core_pool_answers_resource_exhausted(
    make_service: MakeService, core: RunningCore
) -> None:
    """One connection, taken by a call the proxy holds past the core timeout: that call is
    the core's fault (UNAVAILABLE, "timeout"); the calls queued behind it are not: one
    without a deadline gets RESOURCE_EXHAUSTED ("saturated"), one whose deadline ends the
    wait first gets DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED. Readiness stays SERVING."""
    proxy = GatedProxy(core.url, CREATE)
    await proxy.start()
    try:
        service = await make_service(
            core_url=proxy.url, core_max_connections=1, core_timeout_seconds=1.0, metrics_port=0
        )
        async with (
            SessionClient.insecure(service.address, timeout=None) as client,
            SessionClient.insecure(service.address, timeout=0.5) as hurried,
            grpc.aio.insecure_channel(service.address) as channel,
            health_watch(channel) as watch,
        ):
            await watch.wait_for(SERVING)
            serving_from = len(watch.seen)
            follower = asyncio.create_task(watch.follow())
            held = asyncio.ensure_future(client.create_session("held"))
            await proxy.arrived.wait()
            queued = [
                asyncio.ensure_future(client.create_session("patient")),
                asyncio.ensure_future(hurried.create_session("hurried")),
            ]
            assert await _code(held) is grpc.StatusCode.UNAVAILABLE
            assert await _code(queued[0]) is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert await _code(queued[1]) in (
                grpc.StatusCode.DEADLINE_EXCEEDED,  # the client's own clock was first
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
            proxy.release.set()
            assert await _code(client.create_session("after")) is grpc.StatusCode.OK
            follower.cancel()
        samples = await scrape(f"http://127.0.0.1:{service.metrics_port}/metrics")
    finally:
        await proxy.stop()
    assert watch.seen[serving_from:] == []  # no change while calls queued
    assert value(samples, CORE_REQUESTS, endpoint=CREATE, outcome="timeout") == 1
    assert value(samples, CORE_REQUESTS, endpoint=CREATE, outcome="200") == 1
    # Each RESOURCE_EXHAUSTED the service answered is one core request counted "saturated"
    # (the hurried call's too, unless grpc gave it up first).
    saturated = value(samples, CORE_REQUESTS, endpoint=CREATE, outcome="saturated") or 0
    exhausted = value(samples, RPCS, method="CreateSession", code="RESOURCE_EXHAUSTED", status="")
    assert saturated >= 1 and saturated == exhausted
    assert _outcomes(samples, CREATE) == {"200", "timeout", "saturated"}
    assert value(samples, "session_service_core_connections_limit") == 1
    assert value(samples, "session_service_core_connections_in_use") == 0
    assert value(samples, "session_service_core_connections_waiting") == 0


def _outcomes(samples: Samples, endpoint: str) -> set[str]:
    return {
        dict(labels)["outcome"]
        for (name, labels) in samples
        if name == CORE_REQUESTS and dict(labels)["endpoint"] == endpoint
    }


def _delta(after: Samples, before: Samples, name: str, **labels: str) -> int:
    return int((value(after, name, **labels) or 0) - (value(before, name, **labels) or 0))


async def _recorded(metrics_url: str, before: Samples, calls: int) -> Samples:
    """The metrics once they count ``calls`` more CreateSession RPCs than ``before``. grpc
    sends an error's status before the handler's task resumes and records it, so a caller
    can see every answer a moment before the metrics do."""
    deadline = time.monotonic() + 60
    while True:
        samples = await scrape(metrics_url)
        counted = sum(
            value - (before.get(key) or 0)
            for key, value in samples.items()
            if key[0] == RPCS and ("method", "CreateSession") in key[1]
        )
        if counted >= calls or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.05)


async def _burst(address: str, metrics_url: str, label: str) -> list[int]:
    """BURST concurrent CreateSession (no caller deadline: each is bounded by the core
    timeout only) with a Health Watch open throughout; checks every answer against the
    service's own metrics and records the figures. Returns the readiness changes the
    Watch saw during the burst (SERVING before it)."""
    async with (
        SessionClient.insecure(address, timeout=None) as client,
        grpc.aio.insecure_channel(address) as channel,
        health_watch(channel) as watch,
    ):
        await watch.wait_for(SERVING)
        serving_from = len(watch.seen)
        follower = asyncio.create_task(watch.follow())
        await client.create_session("warm-up")  # CDI negotiated, keys fetched
        before = await scrape(metrics_url)

        codes: Counter[str] = Counter()

        async def create(n: int) -> None:
            try:
                await client.create_session(f"burst-{n}")
            except grpc.aio.AioRpcError as exc:
                codes[exc.code().name] += 1
            else:
                codes["OK"] += 1

        started = time.perf_counter()
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            await asyncio.gather(*(create(n) for n in range(BURST)))
        milliseconds = round((time.perf_counter() - started) * 1000)
        after = await _recorded(metrics_url, before, BURST)
        follower.cancel()

    STATS[f"saturation burst calls ({label})"] += BURST
    for code, count in codes.items():
        STATS[f"saturation burst {code} ({label})"] += count
    STATS[f"saturation burst ms ({label})"] += milliseconds
    STATS["saturation burst UNAVAILABLE answers"] += codes["UNAVAILABLE"]
    changes = watch.seen[serving_from:]
    STATS["saturation burst readiness changes seen"] += len(changes)

    assert sum(codes.values()) == BURST
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, codes
    # Every answer is the one the metrics recorded, call for call: an OK is a 200 from
    # the core, a RESOURCE_EXHAUSTED is a "saturated" request; nothing else happened.
    for code in ("OK", "RESOURCE_EXHAUSTED"):
        status = "OK" if code == "OK" else ""  # a failed RPC has no session status
        rpcs = _delta(after, before, RPCS, method="CreateSession", code=code, status=status)
        assert rpcs == codes[code], code
    assert _delta(after, before, CORE_REQUESTS, endpoint=CREATE, outcome="200") == codes["OK"]
    saturated = _delta(after, before, CORE_REQUESTS, endpoint=CREATE, outcome="saturated")
    assert saturated == codes["RESOURCE_EXHAUSTED"]
    assert _outcomes(after, CREATE) <= {"200", "saturated"}
    assert _outcomes(after, "/apiversion") == {"200"}
    # The embedded core's metrics are on the service's endpoint: it answered no 5xx.
    assert not [code for code in _core_codes(after) if code.startswith("5")]
    return changes


def _assert_never_not_serving(changes: list[int], log: str) -> None:
    assert changes == []
    assert "readiness: NOT_SERVING" not in log


async def test_a_burst_against_the_embedded_core(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    async with running_service(port, tmp_path, "--metrics-port", str(metrics_port)) as service:
        await wait_serving(address)
        changes = await _burst(address, f"http://127.0.0.1:{metrics_port}/metrics", "embedded")
        service.process.terminate()
        assert await service.exit_code() == 0
    _assert_never_not_serving(changes, service.log)


async def test_a_burst_against_a_separate_core(tmp_path: Path, sqlite_url: str) -> None:
    port, metrics_port = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    with core_process(sqlite_url, tmp_path) as core_url:
        async with running_service(
            port,
            tmp_path,
            "--core-url",
            core_url,
            "--metrics-port",
            str(metrics_port),
        ) as service:
            await wait_serving(address)
            changes = await _burst(
                address, f"http://127.0.0.1:{metrics_port}/metrics", "separate core"
            )
            core_samples = await scrape(f"{core_url}/metrics")
            service.process.terminate()
            assert await service.exit_code() == 0
    _assert_never_not_serving(changes, service.log)
    core_codes = _core_codes(core_samples)
    assert "200" in core_codes and not [c for c in core_codes if c.startswith("5")], core_codes


def _core_codes(samples: Samples) -> set[str]:
    """The HTTP codes the core answered with (its own metrics)."""
    return {dict(labels)["code"] for (name, labels) in samples if name == CORE_HTTP_REQUESTS}
