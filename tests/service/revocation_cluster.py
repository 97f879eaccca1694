"""Processes for the instant-revocation tests (issue 18): ``session-core serve`` processes on
one database, ``session-service serve`` replicas pointed at them, one client per serving
process of a replica (each ``--workers`` worker, told apart by the kernel's socket tables),
the cores' per-path request counters, and the time from a revocation to each replica's
first UNAUTHORISED.

Everything is the real thing on loopback sockets: the cores are the ``session-core``
command, the replicas the ``session-service`` command, and the SDK-style core calls are
plain CDI 2.21 HTTP requests with the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from session_client import SessionClient, SessionStatus

from testkit.processes import core_serve_args
from tests.service.harness import free_port, scrape
from tests.service.process_tree import ESTABLISHED, LISTEN, children, owners
from tests.service.serve_process import SESSION_CORE, ServiceProcess, wait_serving

API_KEY = "instant-revocation-proof-key-0123456789"
CDI_HEADERS = {"cdi-version": "2.21", "rid": "session", "api-key": API_KEY}
FEED_PATH = "/recipe/session/revocations"
REQUESTS = "session_core_http_requests_total"
FEED_STATE = "session_service_revocation_feed_state"
START_SECONDS = 60.0
# How long a poller waits for a refusal before the revocation counts as never seen: far
# beyond the 1 s bound, so a slow machine shows up as a figure, a missing feature as this.
NEVER_SECONDS = 10.0
POLL_GAP_SECONDS = 0.005  # between two GetSession calls of one poller: the timing resolution


@dataclass
class Core:
    """A ``session-core serve`` process with the test's API key."""

    url: str
    port: int
    process: ServiceProcess

    async def stop(self) -> None:
        """SIGTERM, and a clean exit."""
        self.process.process.terminate()
        code = await self.process.exit_code()
        assert code == 0, self.process.log

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """A CDI call as an SDK backend makes it (API key, cdi-version); 200 expected."""
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(f"{self.url}{path}", json=body, headers=CDI_HEADERS)
        assert response.status_code == 200, response.text
        return response.json()

    async def requests_by_endpoint(self) -> Counter[str]:
        """The core's answered requests so far, by CDI path (its /metrics)."""
        counts: Counter[str] = Counter()
        for (name, labels), count in (await scrape(f"{self.url}/metrics")).items():
            if name == REQUESTS:
                counts[dict(labels)["endpoint"]] += int(count)
        return counts


async def start_core(database_url: str, data_dir: Path, port: int | None = None) -> Core:
    """``session-core serve`` on 127.0.0.1 (``port``, or a free one) with the API key;
    returns once it answers /hello."""
    port = port or free_port()
    process = await ServiceProcess.run(
        SESSION_CORE,
        *core_serve_args(port, database_url),
        env={"SESSION_CORE_API_KEYS": API_KEY, "SESSION_CORE_DATA_DIR": str(data_dir)},
    )
    core = Core(f"http://127.0.0.1:{port}", port, process)
    async with httpx.AsyncClient(timeout=1) as http, asyncio.timeout(START_SECONDS):
        while True:
            assert process.process.returncode is None, process.log
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{core.url}/hello")).status_code == 200:
                    return core
            await asyncio.sleep(0.05)  # readiness poll of a starting process


async def assert_feed_served(core: Core) -> None:
    """The core serves the revocation feed (issue 18): without it nothing below can pass,
    and this says why."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{core.url}{FEED_PATH}", params={"timeout_ms": "0"}, headers=CDI_HEADERS
        )
    assert response.status_code == 200, (
        f"the core does not serve the revocation feed: GET {FEED_PATH} answered "
        f"{response.status_code} {response.text[:200]}"
    )


@dataclass
class Replica:
    """A ``session-service serve`` process and one client per serving process."""

    name: str
    port: int
    process: ServiceProcess
    metrics_url: str
    clients: list[tuple[str, SessionClient]] = field(default_factory=list)

    @property
    def client(self) -> SessionClient:
        """The client of a one-process replica."""
        (only,) = self.clients
        return only[1]

    async def feed_state(self) -> str | None:
        """The follower's state, from the replica's metrics (None when it exports none)."""
        for (name, labels), value in (await scrape(self.metrics_url)).items():
            if name == FEED_STATE and value == 1:
                return dict(labels)["state"]
        return None

    async def wait_for_feed_state(self, state: str, within_seconds: float = 30.0) -> None:
        """Poll the metrics until the follower reports ``state``."""
        found = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_seconds):
                while True:
                    found = await self.feed_state()
                    if found == state:
                        break
                    await asyncio.sleep(0.05)  # a metrics poll, like a readiness probe
        assert found == state, f"{self.name}: revocation feed {found}, not {state}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def running_replica(
    name: str, core_url: str, data_dir: Path, *flags: str, metrics: bool = False
) -> AsyncIterator[Replica]:
    """``session-service serve --core-url core_url`` (the core API key in its environment;
    with ``metrics``, /metrics on a free port), SERVING, with a client on each of its
    serving processes."""
    port, metrics_port = free_port(), free_port()
    if metrics:
        flags = ("--metrics-port", str(metrics_port), *flags)
    process = await ServiceProcess.start(
        port,
        data_dir,
        "--core-url",
        core_url,
        "--log-level",
        "warning",
        *flags,
        env={"SESSION_SERVICE_CORE_API_KEY": API_KEY},
    )
    replica = Replica(name, port, process, f"http://127.0.0.1:{metrics_port}/metrics")
    try:
        await _serving_or_exited(replica)
        replica.clients = await clients_per_worker(replica)
        yield replica
    finally:
        for _, client in replica.clients:
            await client.close()
        await process.close()


async def _serving_or_exited(replica: Replica) -> None:
    """Wait for SERVING; a replica that exits instead (a flag it does not know, say) fails
    the test with its log."""
    serving = asyncio.ensure_future(wait_serving(replica.address))
    exited = asyncio.ensure_future(replica.process.process.wait())
    await asyncio.wait({serving, exited}, return_when=asyncio.FIRST_COMPLETED)
    if not serving.done():
        serving.cancel()
        await replica.process.close()
        raise AssertionError(f"{replica.name} exited {exited.result()}:\n{replica.process.log}")
    exited.cancel()
    serving.result()


async def clients_per_worker(
    replica: Replica, attempts: int = 64
) -> list[tuple[str, SessionClient]]:
    """One client per serving process of ``replica``, labelled ``<name>`` (one process) or
    ``<name>/worker <pid>``. Each client has a connection of its own (a local subchannel
    pool); which process accepted it is read from /proc (the process whose count of
    established sockets on the port grew), and clients that landed on a process already
    served are closed. Each new connection lands on either worker: 2**-63 to miss one."""
    pid = replica.process.process.pid
    listening = owners([pid, *children(pid)], replica.port, LISTEN)
    workers = sorted(p for p, count in listening.items() if count)
    assert workers, f"{replica.name}: no process listens on {replica.port}"
    found: dict[int, SessionClient] = {}
    for _ in range(attempts):
        before = owners(workers, replica.port, ESTABLISHED)
        channel = grpc.aio.insecure_channel(
            replica.address, options=[("grpc.use_local_subchannel_pool", 1)]
        )
        client = SessionClient(channel, timeout=10)
        await client.get_session("not-a-token")  # connects; any answer will do
        after = owners(workers, replica.port, ESTABLISHED)
        grew = [p for p in workers if after[p] > before[p]]
        if len(grew) == 1 and grew[0] not in found:
            found[grew[0]] = client
        else:
            await client.close()
        if len(found) == len(workers):
            break
    assert len(found) == len(workers), f"{replica.name}: reached {sorted(found)} of {workers}"
    if len(workers) == 1:
        return [(replica.name, found[workers[0]])]
    return [(f"{replica.name}/worker {p}", found[p]) for p in workers]


async def statuses(
    clients: Sequence[tuple[str, SessionClient]], tokens: Sequence[str]
) -> dict[str, Counter[SessionStatus]]:
    """Every token through GetSession (the token only, as the common call) on every client:
    how many of each status each client answered."""
    found: dict[str, Counter[SessionStatus]] = {}
    for label, client in clients:
        answers = await asyncio.gather(*(client.get_session(token) for token in tokens))
        found[label] = Counter(answer.status for answer in answers)
    return found


async def session_calls_during(
    cores: Sequence[Core], batch: Callable[[], Awaitable[object]]
) -> dict[str, int]:
    """The session-path requests (every ``/recipe/session…`` path but the feed's) the
    cores answered while ``batch`` ran, by path; what the follower asks the feed for is
    not a session call."""
    before = [await core.requests_by_endpoint() for core in cores]
    await batch()
    moved: Counter[str] = Counter()
    for core, earlier in zip(cores, before, strict=True):
        later = await core.requests_by_endpoint()
        for path in later.keys() | earlier.keys():
            if path.startswith("/recipe/session") and path != FEED_PATH:
                moved[path] += later[path] - earlier[path]
    return {path: count for path, count in moved.items() if count}


@dataclass
class Refusals:
    """Seconds from each revocation's completion to the first UNAUTHORISED of each client,
    by client label; ``never`` counts the pollers that gave up (``NEVER_SECONDS``)."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    never: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)

    def add(self, label: str, waited: float | None) -> None:
        if waited is None:
            self.never[label] += 1
        else:
            self.seconds.setdefault(label, []).append(waited)

    def summary(self) -> str:
        lines = [f"revocations by kind: {dict(self.by_kind)} ({sum(self.by_kind.values())})"]
        for label, waited in sorted(self.seconds.items()):
            lines.append(
                f"  {label}: n={len(waited)} p50={percentile(waited, 0.5) * 1000:.0f} ms "
                f"p99={percentile(waited, 0.99) * 1000:.0f} ms max={max(waited) * 1000:.0f} ms"
                f" mean={statistics.mean(waited) * 1000:.0f} ms never={self.never[label]}"
            )
        return "\n".join(lines)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (p99 of 200 values: the 198th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * fraction)
    return ordered[int(rank) - 1]


async def first_refusal(client: SessionClient, token: str, revoked_at: float) -> float | None:
    """Poll GetSession with ``token`` until UNAUTHORISED: seconds from ``revoked_at``
    (monotonic) to the answer, or None after ``NEVER_SECONDS``. Any answer but OK or
    UNAUTHORISED fails the test."""
    while (now := time.monotonic()) - revoked_at < NEVER_SECONDS:
        answer = await client.get_session(token)
        if answer.status is SessionStatus.UNAUTHORISED:
            return time.monotonic() - revoked_at
        assert answer.status is SessionStatus.OK, answer
        await asyncio.sleep(max(0.0, now + POLL_GAP_SECONDS - time.monotonic()))
    return None


async def revoke_and_time(
    kind: str,
    revoke: Callable[[], Awaitable[Sequence[str]]],
    tokens: dict[str, str],
    clients: Sequence[tuple[str, SessionClient]],
    refusals: Refusals,
) -> None:
    """Run ``revoke`` (it answers the handles it revoked, which must be the keys of
    ``tokens``: handle → an access token of it that verified OK), then time the first
    refusal of each token on each client."""
    revoked = await revoke()
    revoked_at = time.monotonic()
    assert sorted(revoked) == sorted(tokens), (kind, revoked, sorted(tokens))
    refusals.by_kind[kind] += len(revoked)
    pollers = [
        (label, first_refusal(client, token, revoked_at))
        for token in tokens.values()
        for label, client in clients
    ]
    for (label, _), waited in zip(
        pollers, await asyncio.gather(*(p for _, p in pollers)), strict=True
    ):
        refusals.add(label, waited)
