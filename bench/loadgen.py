"""The load generator: processes of their own (spawned, so nothing of the parent's gRPC
state crosses a fork), each running virtual users on an asyncio loop, each user repeating
one operation back to back.

Requests are serialized once up front and responses parsed only as far as telling success
(the client's own protobuf work is not what is measured). Every completed call is recorded
as (finish time, latency, operation) on the system-wide monotonic clock; the parent keeps
the calls that finished inside the common measuring window, so start-up and ramp-down do
not count.

A job with a ``schedule`` interleaves operations on the same connections: after warm-up,
every user switches to the next slice's operation at the same instant, so two operations
compared slice by slice see the same machine (on a shared, noisy host, seconds apart
matter more than the difference being measured).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import queue
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
import uvloop
from grpc_health.v1 import health_pb2

from session_proto.session.v1 import session_service_pb2 as pb
from session_proto.xds.envoy.service.auth.v3.external_auth_pb2 import CheckResponse
from session_service.transport.ext_authz import CHECK_METHOD
from testkit import ext_authz

SERVICE = "/session.v1.SessionService/"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
CORE_HEADERS = {"cdi-version": "2.21", "rid": "session"}


@dataclass(frozen=True)
class Job:
    """What one load-generating process runs."""

    operation: str  # noop, get_local, get_check_database, check, create, refresh or core_create
    target: str  # host:port of the service, or the core's base URL
    users: int
    channels: int
    start_at: float  # time.monotonic() at which every process starts
    warmup_s: float
    seconds: float
    tokens: tuple[str, ...] = ()  # access tokens for the GetSession operations
    refresh_tokens: tuple[str, ...] = ()  # one per user, for RefreshSession
    once: bool = False  # GetSession: send each token once, then stop (no time window)
    # After warm-up, one operation per slice of ``slice_s`` seconds (``seconds`` covers them
    # all); ``operation`` runs during warm-up. Empty: ``operation`` throughout.
    schedule: tuple[str, ...] = ()
    slice_s: float = 0.0
    cpus: tuple[int, ...] = ()  # the CPUs this process runs on; empty: any

    def operation_at(self, now: float) -> str:
        """The operation a user starting a call at ``now`` runs."""
        if not self.schedule:
            return self.operation
        index = int((now - self.start_at - self.warmup_s) // self.slice_s)
        return self.schedule[min(max(index, 0), len(self.schedule) - 1)]

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.operation, *self.schedule)))


@dataclass
class Outcome:
    """What one process measured: every call's finish time and latency, and failures."""

    finished: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    failed: list[bool] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


Call = Callable[[], Awaitable[bool]]


class _Exhausted(Exception):
    """A ``once`` job has sent every token."""


def _grpc_users(job: Job, operation: str, channels: list[grpc.aio.Channel]) -> list[Call]:
    def method(channel: grpc.aio.Channel, name: str) -> Any:
        # No (de)serializers: bytes in, bytes out.
        return channel.unary_unary(name)

    users: list[Call] = []
    counter = itertools.count()
    shared = iter(job.tokens)
    for index in range(job.users):
        channel = channels[index % len(channels)]
        users.append(_grpc_user(job, operation, method, channel, index, counter, shared))
    return users


def _grpc_user(
    job: Job,
    operation: str,
    method: Callable[[grpc.aio.Channel, str], Any],
    channel: grpc.aio.Channel,
    index: int,
    counter: itertools.count[int],
    shared: Iterator[str],
) -> Call:
    if operation == "noop":
        check = method(channel, HEALTH_CHECK)
        request = health_pb2.HealthCheckRequest().SerializeToString()
        serving = health_pb2.HealthCheckResponse.SERVING

        async def noop() -> bool:
            reply = health_pb2.HealthCheckResponse.FromString(await check(request))
            return bool(reply.status == serving)

        return noop
    if operation == "get_local" and job.once:
        get_once = method(channel, SERVICE + "GetSession")

        async def get_next() -> bool:
            token = next(shared, None)
            if token is None:
                raise _Exhausted
            request = pb.GetSessionRequest(access_token=token).SerializeToString()
            reply = pb.GetSessionResponse.FromString(await get_once(request))
            return bool(reply.status == pb.SESSION_STATUS_OK)

        return get_next
    if operation in ("get_local", "get_check_database"):
        get = method(channel, SERVICE + "GetSession")
        requests = [
            pb.GetSessionRequest(
                access_token=token, check_database=operation == "get_check_database"
            ).SerializeToString()
            for token in job.tokens
        ]
        # Users walk the token pool from different offsets.
        cycle = itertools.cycle(requests[index:] + requests[:index])

        async def get_session() -> bool:
            reply = pb.GetSessionResponse.FromString(await get(next(cycle)))
            return bool(reply.status == pb.SESSION_STATUS_OK)

        return get_session
    if operation == "check":
        return _check_user(job, method(channel, CHECK_METHOD), index)
    if operation == "create":
        create = method(channel, SERVICE + "CreateSession")

        async def create_session() -> bool:
            request = pb.CreateSessionRequest(user_id=f"bench-{next(counter)}")
            reply = pb.CreateSessionResponse.FromString(await create(request.SerializeToString()))
            return bool(reply.session.session_handle)

        return create_session
    if operation == "refresh":
        refresh = method(channel, SERVICE + "RefreshSession")
        state = {"token": job.refresh_tokens[index]}

        async def refresh_session() -> bool:
            request = pb.RefreshSessionRequest(refresh_token=state["token"])
            reply = pb.RefreshSessionResponse.FromString(await refresh(request.SerializeToString()))
            if reply.status != pb.SESSION_STATUS_OK:
                return False
            state["token"] = reply.refresh_token.token  # each refresh uses the newest child
            return True

        return refresh_session
    raise ValueError(f"unknown operation {operation}")


def _check_user(job: Job, check: Any, index: int) -> Call:
    """Envoy's ``Check`` for ``GET /api/items`` with a pool token in the ``sAccessToken``
    cookie, as Envoy's ext_authz filter sends it (``testkit.ext_authz.numbered_check_request``:
    addresses, time, a dozen headers); users walk the pool from different offsets. Every
    call carries its own stream id and ``x-request-id``, as Envoy's do (the ids have a fixed
    length, so a call's bytes are the template's with the ids replaced)."""
    templates = [
        ext_authz.numbered_check_request(
            {"cookie": f"theme=dark; sAccessToken={token}; sFrontToken=1"}, 0
        ).SerializeToString()
        for token in job.tokens
    ]
    cycle = itertools.cycle(templates[index:] + templates[:index])
    stream_id, request_id = f"{0:020d}".encode(), ext_authz.request_id_header(0).encode()
    ids = itertools.count(index << 32)

    async def check_session() -> bool:
        call = next(ids)
        request = (
            next(cycle)
            .replace(stream_id, f"{call:020d}".encode())
            .replace(request_id, ext_authz.request_id_header(call).encode())
        )
        return bool(CheckResponse.FromString(await check(request)).status.code == 0)

    return check_session


def _core_users(job: Job, client: aiohttp.ClientSession) -> list[Call]:
    counter = itertools.count()
    url = job.target + "/recipe/session"

    async def core_create() -> bool:
        body = {
            "userId": f"bench-core-{next(counter)}",
            "userDataInJWT": {},
            "userDataInDatabase": {},
            "enableAntiCsrf": False,
        }
        async with client.post(url, json=body) as response:
            return bool((await response.json())["status"] == "OK")

    return [core_create] * job.users


async def _warm(job: Job, channels: list[grpc.aio.Channel]) -> None:
    """Send every token of the pool once on every connection before the clock starts.

    "GetSession (local verify)" is the steady state of a service whose callers repeat their
    tokens (a token serves its user for its whole lifetime). Without this, which tokens the
    users happen to reach first inside a short window decides how many first sightings
    (full verifications) a run counts; the cache-off rows show that path instead. Every
    connection, because with --workers each may reach a different process and cache.
    """
    limit = asyncio.Semaphore(8)

    async def send(channel: grpc.aio.Channel, token: str) -> None:
        async with limit:
            request = pb.GetSessionRequest(access_token=token).SerializeToString()
            await channel.unary_unary(SERVICE + "GetSession")(request)

    await asyncio.gather(*(send(c, t) for c in channels for t in job.tokens))


async def _run(job: Job) -> Outcome:
    outcome = Outcome()
    stop_at = job.start_at + job.warmup_s + job.seconds
    channels: list[grpc.aio.Channel] = []
    client: aiohttp.ClientSession | None = None
    calls: dict[str, list[Call]] = {}
    try:
        if job.operation == "core_create":
            # The HTTP client the service itself uses for its core calls (core_client/client.py),
            # so that CreateSession against this compares what the service adds.
            connector = aiohttp.TCPConnector(limit=job.users)
            client = aiohttp.ClientSession(connector=connector, headers=CORE_HEADERS)
            calls[job.operation] = _core_users(job, client)
        else:
            # A local subchannel pool per channel: separate connections, as separate
            # clients would have (with --workers they may land on different processes).
            channels = [
                grpc.aio.insecure_channel(
                    job.target, options=[("grpc.use_local_subchannel_pool", 1)]
                )
                for _ in range(job.channels)
            ]
            for channel in channels:
                await channel.channel_ready()
            for operation in job.operations:
                calls[operation] = _grpc_users(job, operation, channels)
            if {"get_local", "check"} & calls.keys() and not job.once:
                await _warm(job, channels)
        await asyncio.sleep(max(0.0, job.start_at - time.monotonic()))

        async def user(index: int) -> None:
            while job.once or time.monotonic() < stop_at:
                now = time.monotonic()
                operation = job.operation_at(now)
                try:
                    ok = await calls[operation][index]()
                except _Exhausted:
                    return
                except Exception as exc:  # a failed call is counted, never fatal
                    ok = False
                    outcome.first_error = outcome.first_error or f"{type(exc).__name__}: {exc}"
                finished = time.monotonic()
                outcome.finished.append(finished)
                outcome.latencies.append(finished - now)
                outcome.operations.append(operation)
                outcome.failed.append(not ok)
                outcome.errors += not ok

        await asyncio.gather(*(user(index) for index in range(job.users)))
    finally:
        for channel in channels:
            await channel.close()
        if client is not None:
            await client.close()
    return outcome


def _process_main(job: Job, results: Any) -> None:
    if job.cpus:  # before grpc starts its threads, which inherit the mask
        os.sched_setaffinity(0, job.cpus)
    results.put(uvloop.run(_run(job)))


def run_jobs(jobs: list[Job]) -> list[Outcome]:
    """Run each job in its own spawned process; returns their outcomes."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_process_main, args=(job, results)) for job in jobs]
    for process in processes:
        process.start()
    end = max(job.start_at + job.warmup_s + job.seconds for job in jobs)
    # ``once`` jobs have no time window: allow them ten minutes.
    give_up = time.monotonic() + 600.0 if any(job.once for job in jobs) else end + 120.0
    outcomes: list[Outcome] = []
    while len(outcomes) < len(processes):
        try:
            outcomes.append(results.get(timeout=1.0))
        except queue.Empty:
            crashed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if crashed or time.monotonic() > give_up:
                for process in processes:
                    process.kill()
                raise RuntimeError(f"the load generators failed (exit codes {crashed})") from None
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a load generator exited with {process.exitcode}")
    return outcomes
