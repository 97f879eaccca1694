"""Graceful shutdown of the real ``session-service serve`` process (embedded core).

The claim: a SIGTERM during a steady load fails no RPC that the server had accepted before
its drain began, the callers of later calls see UNAVAILABLE, and the process exits 0.

"Accepted" is the server's own account, not a guess from client-side timing (a call sent
just before the SIGTERM can still reach the server after its drain began): the service logs
how many SessionService RPCs it served (``drained: N RPCs served``), and the clients count
the answers they got. Equal numbers, each answer OK, mean that no accepted RPC failed. The
drain's start is logged with its ``time.monotonic()``, the same clock as this process's on
one host, so every failure is checked to come after it.

One gap is grpc's, and is counted rather than hidden: a call that reaches the server in the
very instant the gRPC server itself stops (after the accepted RPCs have finished and new
ones have been refused with UNAVAILABLE) is cancelled by grpc before the service sees it,
so its caller gets CANCELLED (grpc/grpc#41785) or, rarely, no answer until its deadline.
Such calls were sent after the drain began and were never served, and the test checks
exactly that of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from session_client import SessionClient, SessionStatus

from tests.reliability import STATS
from tests.service.harness import NOT_SERVING, SERVING, free_port, health_watch
from tests.service.serve_process import EXIT_WAIT_SECONDS, running_service, wait_serving

# Far longer than any test waits: a drain that waited for the grace would show as a hang.
HUGE_GRACE_SECONDS = 3600
CHANNELS = 4
WORKERS_PER_CHANNEL = 3
ANSWERS_BEFORE_SIGTERM = 300
# Bounds the wait of a call that grpc drops at its final stop (see the module docstring).
CALL_TIMEOUT_SECONDS = 5.0

DRAIN_STARTED = re.compile(r"draining: .*?(\d+) in flight.*?\(monotonic ([0-9.]+)\)")
DRAINED = re.compile(r"drained: (\d+) RPCs served since start, (\d+) refused while draining")


@dataclass(frozen=True)
class Answer:
    """One RPC as a client saw it; times are ``time.monotonic()``."""

    method: str
    started: float
    ended: float
    code: grpc.StatusCode
    status: SessionStatus | None  # the answer's session status when the code is OK


class Load:
    """Workers that each keep one session busy with the mix a gateway sends (CreateSession,
    GetSession local and with check_database, RefreshSession, then the refreshed access
    token's first use), recording every answer until their first failed call."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self._ok = asyncio.Condition()

    async def _call(self, method: str, call: Awaitable[Any]) -> Any:
        started = time.monotonic()
        try:
            result = await call
        except grpc.aio.AioRpcError as exc:
            self.answers.append(Answer(method, started, time.monotonic(), exc.code(), None))
            raise
        status = getattr(result, "status", SessionStatus.OK)  # CreateSession has none
        async with self._ok:
            self.answers.append(
                Answer(method, started, time.monotonic(), grpc.StatusCode.OK, status)
            )
            self._ok.notify_all()
        return result

    async def wait_for_ok_answers(self, count: int) -> None:
        async with self._ok:
            await self._ok.wait_for(lambda: len(self.answers) >= count)

    async def worker(self, client: SessionClient, name: str) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError):
            for i in range(1_000_000):
                created = await self._call("CreateSession", client.create_session(f"{name}-{i}"))
                access = created.access_token.token
                await self._call("GetSession", client.get_session(access))
                await self._call("GetSession/db", client.get_session(access, check_database=True))
                refreshed = await self._call(
                    "RefreshSession", client.refresh_session(created.refresh_token.token)
                )
                if refreshed.access_token is not None:  # its first use promotes at the core
                    await self._call("GetSession", client.get_session(refreshed.access_token.token))


async def test_sigterm_under_load_fails_no_accepted_rpc(tmp_path: Path) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    load = Load()
    async with running_service(
        port, tmp_path / "data", "--grace-period-seconds", str(HUGE_GRACE_SECONDS)
    ) as service:
        await wait_serving(address)
        channels = [grpc.aio.insecure_channel(address) for _ in range(CHANNELS)]
        try:
            async with (
                grpc.aio.insecure_channel(address) as watch_channel,
                health_watch(watch_channel) as watch,
            ):
                await watch.wait_for(SERVING)
                workers = [
                    asyncio.create_task(
                        load.worker(
                            SessionClient(channel, timeout=CALL_TIMEOUT_SECONDS), f"c{c}w{w}"
                        )
                    )
                    for c, channel in enumerate(channels)
                    for w in range(WORKERS_PER_CHANNEL)
                ]
                await load.wait_for_ok_answers(ANSWERS_BEFORE_SIGTERM)
                service.process.send_signal(signal.SIGTERM)
                await watch.wait_for(NOT_SERVING)
                exit_code = await service.exit_code()
                async with asyncio.timeout(EXIT_WAIT_SECONDS):
                    await asyncio.gather(*workers)
        finally:
            for channel in channels:
                await channel.close()

    assert exit_code == 0, service.log
    drain = service.find(DRAIN_STARTED)
    in_flight_at_drain, drain_began = int(drain[1]), float(drain[2])
    drained = service.find(DRAINED)
    served, refused = int(drained[1]), int(drained[2])
    answered = [a for a in load.answers if a.code is grpc.StatusCode.OK]
    failed = [a for a in load.answers if a.code is not grpc.StatusCode.OK]
    unavailable = [a for a in failed if a.code is grpc.StatusCode.UNAVAILABLE]
    cut_by_grpc = [a for a in failed if a.code is not grpc.StatusCode.UNAVAILABLE]

    STATS["RPCs during shutdown"] += sum(a.ended > drain_began for a in load.answers)
    STATS["RPCs in flight when the drain began"] += in_flight_at_drain
    STATS["RPCs failed that arrived before shutdown"] += served - len(answered)
    STATS["RPCs cut by grpc's own stop (grpc/grpc#41785)"] += len(cut_by_grpc)
    assert in_flight_at_drain > 0, "the load was not running when the drain began"
    # Every accepted RPC got its answer, and that answer was the normal one.
    assert served == len(answered), (served, len(answered), failed)
    assert {a.status for a in answered} == {SessionStatus.OK}
    assert {a.method for a in answered} == {
        "CreateSession",
        "GetSession",
        "GetSession/db",
        "RefreshSession",
    }
    # Each worker stops at its first failure, and every failure came after the drain began:
    # UNAVAILABLE (refused by the drain, or the port closed), or, for a call sent after the
    # drain began and arriving as grpc stops, grpc's CANCELLED or no answer.
    assert len(failed) == CHANNELS * WORKERS_PER_CHANNEL
    assert all(a.ended > drain_began for a in failed), failed
    assert refused <= len(unavailable)
    assert all(
        a.started > drain_began
        and a.code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED)
        for a in cut_by_grpc
    ), cut_by_grpc


async def test_an_open_health_watch_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    """With a grace period of an hour, a connected Watch sees NOT_SERVING, its stream ends,
    and the process exits (the wait is bounded far below the grace)."""
    port = free_port()
    async with running_service(
        port, tmp_path / "data", "--grace-period-seconds", str(HUGE_GRACE_SECONDS)
    ) as service:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            call = stub.Watch(health_pb2.HealthCheckRequest(service=""))
            assert (await call.read()).status == SERVING
            service.process.send_signal(signal.SIGTERM)
            assert (await call.read()).status == NOT_SERVING
            assert await call.read() is grpc.aio.EOF
            assert await call.code() is grpc.StatusCode.OK
            assert await service.exit_code() == 0, service.log
    service.find(DRAINED)
