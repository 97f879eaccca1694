"""Shared pieces of the benchmarks: processes under test, load loops, statistics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from testkit.processes import core_process as running_core

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
    # Server CPU (every thread of the process under test) per completed call, where measured.
    server_cpu_us: float | None = None

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


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares that differ by at most one, the larger ones first."""
    return [total // parts + (i < total % parts) for i in range(parts)]


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
    """A ``session-core serve`` process on a free loopback port (the tests' helper, with a
    scratch working directory); yields its URL."""
    with tempfile.TemporaryDirectory() as scratch, running_core(database_url, Path(scratch)) as url:
        yield url


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
