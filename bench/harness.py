"""Shared pieces of the benchmarks: processes under test, load loops, statistics."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import httpx

PG_ADMIN_DSN = os.environ.get(
    "SESSION_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class Result:
    """One measured row: an operation at one concurrency."""

    name: str
    backend: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "per_second": round(self.per_second, 1)}


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


async def run_load(
    name: str,
    backend: str,
    concurrency: int,
    seconds: float,
    make_user: Callable[[], Awaitable[Callable[[], Awaitable[bool]]]],
) -> Result:
    """Run ``concurrency`` virtual users for ``seconds``; each repeats its operation.

    ``make_user`` prepares one user (e.g. creates its session) outside the timed window and
    returns the operation, which answers whether the call succeeded.
    """
    operations = [await make_user() for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def user(operation: Callable[[], Awaitable[bool]]) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            ok = await operation()
            latencies.append(time.perf_counter() - started)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(user(op) for op in operations))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        name=name,
        backend=backend,
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in time")


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh database URL for ``backend``; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/core.db"
        return
    name = f"session_bench_{uuid.uuid4().hex[:10]}"
    base = PG_ADMIN_DSN.rpartition("/")[0]
    subprocess.run(["psql", PG_ADMIN_DSN, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield f"{base}/{name}"
    finally:
        subprocess.run(
            ["psql", PG_ADMIN_DSN, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
            check=True,
        )


@contextmanager
def core_process(database_url: str) -> Iterator[str]:
    """A ``session-core serve`` process on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "session_core.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database",
            database_url,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"{url}/hello", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def format_table(results: list[Result]) -> str:
    header = (
        f"{'operation':<28}{'backend':<12}{'conc':>5}{'req/s':>10}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.name:<28}{r.backend:<12}{r.concurrency:>5}{r.per_second:>10.0f}"
            f"{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}"
        )
    return "\n".join(lines)
