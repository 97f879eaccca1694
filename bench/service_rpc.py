"""The service over gRPC: throughput and p50/p99 latency of GetSession (local verify),
GetSession (check_database), CreateSession and RefreshSession next to a no-op RPC
(grpc.health.v1.Health/Check) on the same server, and the core's own create over HTTP,
at several concurrencies; then the service's memory.

Processes: one ``session-core serve`` (SQLite), the ``session-service serve`` under test
(``--core-url`` to that core, so the service's RSS is its own), and the load generator
(bench/loadgen.py) in processes of their own. They share the machine's cores, as on a
single host, except in the interleaved GetSession/no-op comparisons of a one-process
service, where the service's threads run on the first CPU and the load generator on the
others (``pinned``); ratios between operations measured in one run are what carries over
to other machines, the absolute numbers less so.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import httpx

from bench.harness import Result, core_process, database, percentile, split_evenly
from bench.loadgen import Job, Outcome, run_jobs
from bench.service_process import RssSampler, ServerCpu, every_cpu, pinned, rss_mb, service_process
from bench.session_tokens import create_sessions, mint_tokens

LABELS = {
    "noop": "no-op (Health/Check)",
    "get_local": "GetSession (local verify)",
    "get_check_database": "GetSession (check_database)",
    "check": "Check (ext_authz, cookie)",
    "create": "CreateSession",
    "refresh": "RefreshSession",
    "core_create": "core create (HTTP)",
}
TOKEN_POOL = 512


@dataclass(frozen=True)
class Options:
    concurrencies: tuple[int, ...]
    seconds: float
    warmup_s: float
    processes: int  # load-generating processes (at most one per virtual user)
    channels: int  # connections per load-generating process
    cached_tokens: int  # for the memory measurement
    rounds: int  # operations compared by a target alternate this often; the median is kept
    pairs: int = 12  # interleaved comparisons: this many pairs of slices
    variant_pairs: int = 6  # the same, for the cache-off and --workers services
    slice_s: float = 1.0  # interleaved comparisons: the length of one slice
    settle_s: float = 0.2  # the start of each slice not counted (calls of the last one end)
    # Interleaved comparisons of a one-process service: its threads on the first CPU, the
    # load generator on the others (see ``pinned``).
    pin: bool = True


def pin_plan(options: Options) -> tuple[set[int], tuple[int, ...]] | None:
    """(the service's CPUs, the load generator's) when ``options.pin`` and there are at
    least two CPUs, else None."""
    cpus = sorted(every_cpu())
    if not options.pin or len(cpus) < 2:
        return None
    return {cpus[0]}, tuple(cpus[1:])


def _jobs(
    operation: str,
    target: str,
    concurrency: int,
    options: Options,
    seconds: float,
    tokens: Sequence[str] = (),
    refresh_tokens: Sequence[str] = (),
    schedule: tuple[str, ...] = (),
    cpus: tuple[int, ...] = (),
) -> list[Job]:
    """``concurrency`` users split over up to ``options.processes`` processes."""
    shares = split_evenly(concurrency, min(options.processes, concurrency))
    start_at = time.monotonic() + 2.5  # room for the spawned processes to connect
    jobs = []
    offset = 0
    for users in shares:
        jobs.append(
            Job(
                operation=operation,
                target=target,
                users=users,
                channels=min(users, options.channels),
                start_at=start_at,
                warmup_s=options.warmup_s,
                seconds=seconds,
                tokens=tuple(tokens),
                refresh_tokens=tuple(refresh_tokens[offset : offset + users]),
                schedule=schedule,
                slice_s=options.slice_s,
                cpus=cpus,
            )
        )
        offset += users
    return jobs


def measure(
    operation: str,
    target: str,
    concurrency: int,
    options: Options,
    variant: str,
    tokens: Sequence[str] = (),
    refresh_tokens: Sequence[str] = (),
) -> Result:
    """One operation for ``options.seconds``."""
    jobs = _jobs(operation, target, concurrency, options, options.seconds, tokens, refresh_tokens)
    outcomes = run_jobs(jobs)
    start = jobs[0].start_at + options.warmup_s
    return _result(operation, variant, concurrency, outcomes, (start, start + options.seconds))


def measure_interleaved(
    operations: tuple[str, str],
    target: str,
    concurrency: int,
    options: Options,
    variant: str,
    server_pid: int,
    tokens: Sequence[str] = (),
) -> list[Result]:
    """Two operations on the same connections, switching every ``options.slice_s``, in
    ``options.pairs`` pairs of slices ordered ABBA so that a drift during the run favours
    neither. One result per slice, in slice order (a pair's two are adjacent), each with the
    server's CPU per call in that slice. The service and the load generator run on
    separate CPUs when ``pin_plan`` gives them."""
    first, second = operations
    schedule: list[str] = []
    for pair in range(options.pairs):
        schedule += (first, second) if pair % 2 == 0 else (second, first)
    seconds = len(schedule) * options.slice_s
    plan = pin_plan(options)
    server_cpus, load_cpus = plan if plan is not None else (None, ())
    jobs = _jobs(
        first,
        target,
        concurrency,
        options,
        seconds,
        tokens,
        schedule=tuple(schedule),
        cpus=load_cpus,
    )
    start = jobs[0].start_at + options.warmup_s
    windows = [
        (start + k * options.slice_s + options.settle_s, start + (k + 1) * options.slice_s)
        for k in range(len(schedule))
    ]
    with pinned(server_pid, server_cpus), ServerCpu(server_pid, windows) as cpu:
        outcomes = run_jobs(jobs)
    results = []
    for operation, window, cpu_ns in zip(schedule, windows, cpu.per_window, strict=True):
        result = _result(operation, variant, concurrency, outcomes, window)
        per_call = cpu_ns / 1000 / result.requests if result.requests else None
        results.append(dataclasses.replace(result, server_cpu_us=per_call))
    return results


def _result(
    operation: str,
    variant: str,
    concurrency: int,
    outcomes: list[Outcome],
    window: tuple[float, float],
) -> Result:
    """``operation``'s calls that finished inside ``window``."""
    window_start, window_end = window
    latencies: list[float] = []
    errors = 0
    for outcome in outcomes:
        for finished, latency, done, failed in zip(
            outcome.finished, outcome.latencies, outcome.operations, outcome.failed, strict=True
        ):
            if done == operation and window_start <= finished < window_end:
                latencies.append(latency)
                errors += failed
    latencies.sort()
    first_error = next((o.first_error for o in outcomes if o.first_error), "")
    if first_error:
        print(f"  {LABELS[operation]}: first error: {first_error}", file=sys.stderr)
    return Result(
        name=LABELS[operation],
        backend=variant,
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=window_end - window_start,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


def _progress(result: Result) -> None:
    print(
        f"  {result.name:<30} {result.backend:<12} c={result.concurrency:<3} "
        f"{result.per_second:>8.0f}/s p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms "
        f"errors {result.errors}",
        file=sys.stderr,
    )


def _cache_entries(metrics_url: str) -> int:
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        if line.startswith('session_service_token_cache_entries{kind="verified"}'):
            return int(float(line.split()[-1]))
    raise RuntimeError("the service exports no token cache entries")


def memory(core_url: str, database_url: str, options: Options) -> dict[str, float]:
    """RSS of a fresh service: idle, at the end of a GetSession load, and once it caches
    ``options.cached_tokens`` distinct tokens (counted by its own metrics)."""
    tokens = mint_tokens(database_url, options.cached_tokens, max(options.processes, 1))
    flags = ("--token-cache-size", str(options.cached_tokens))
    with service_process(core_url, *flags, metrics=True) as service:
        pid = service.process.pid
        idle = rss_mb(pid)
        shares = split_evenly(len(tokens), options.processes)
        jobs, offset = [], 0
        for share in shares:
            jobs.append(
                Job(
                    operation="get_local",
                    target=service.address,
                    users=16,
                    channels=min(16, options.channels),
                    start_at=time.monotonic() + 3.0,
                    warmup_s=0.0,
                    seconds=0.0,
                    tokens=tuple(tokens[offset : offset + share]),
                    once=True,
                )
            )
            offset += share
        with RssSampler(pid) as sampler:
            outcomes = run_jobs(jobs)
        assert service.metrics_url is not None
        entries = _cache_entries(service.metrics_url)
        return {
            "idle_mb": round(idle, 1),
            "peak_while_caching_mb": round(sampler.peak_mb, 1),
            "cached_mb": round(rss_mb(pid), 1),
            "cached_tokens": entries,
            "calls": sum(len(o.finished) for o in outcomes),
            "errors": sum(o.errors for o in outcomes),
        }


def _median_of(
    rounds: int, runs: dict[str, Callable[[], Result]], every: list[Result]
) -> list[Result]:
    """Alternate ``runs`` ``rounds`` times (so a busy neighbour on the machine hits them
    alike) and keep each one's median round (the lower one of an even count); every round
    is also appended to ``every``."""
    measured: dict[str, list[Result]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run_once in runs.items():
            result = run_once()
            _progress(result)
            measured[name].append(result)
            every.append(result)
    return [
        sorted(results, key=lambda r: r.per_second)[(len(results) - 1) // 2]
        for results in measured.values()
    ]


def _median_slices(slices: list[Result], every: list[Result]) -> list[Result]:
    """Each operation's median slice of an interleaved run; every slice appended to
    ``every`` (in slice order, which is what pairs them)."""
    every += slices
    chosen = []
    for name in dict.fromkeys(r.name for r in slices):
        mine = sorted((r for r in slices if r.name == name), key=lambda r: r.per_second)
        median = mine[(len(mine) - 1) // 2]
        cpu = statistics.median(r.server_cpu_us for r in mine if r.server_cpu_us is not None)
        _progress(median)
        print(f"    {len(mine)} slices, server CPU per call {cpu:.0f} us (median)", file=sys.stderr)
        chosen.append(median)
    return chosen


def run(options: Options) -> tuple[list[Result], list[Result], dict[str, float]]:
    """The chosen (median) results, every round, and the memory figures."""
    results: list[Result] = []
    every: list[Result] = []
    memory_report: dict[str, float] = {}
    rounds = options.rounds
    with database("sqlite") as database_url, core_process(database_url) as core_url:
        with service_process(core_url) as service:
            address, pid = service.address, service.process.pid
            memory_report["idle_mb"] = round(rss_mb(pid), 1)
            pool = [c.session.access_token for c in create_sessions(address, TOKEN_POOL)]
            print(f"service (1 process, token cache on) at {address}", file=sys.stderr)
            with RssSampler(pid) as sampler:
                for c in options.concurrencies:
                    on = partial(measure, target=address, concurrency=c, options=options)
                    slices = measure_interleaved(
                        ("noop", "get_local"), address, c, options, "cache on", pid, pool
                    )
                    results += _median_slices(slices, every)
                    check = partial(on, "get_check_database", variant="cache on", tokens=pool)
                    results += _median_of(1, {"check": check}, every)
                    results += _median_of(
                        rounds,
                        {
                            "create": partial(on, "create", variant="cache on"),
                            "core": partial(
                                measure, "core_create", core_url, c, options, variant="core"
                            ),
                        },
                        every,
                    )
                    refresh = [s.refresh_token.token for s in create_sessions(address, c)]
                    results += _median_of(
                        1,
                        {
                            "refresh": partial(
                                on, "refresh", variant="cache on", refresh_tokens=refresh
                            )
                        },
                        every,
                    )
            memory_report["under_load_peak_mb"] = round(sampler.peak_mb, 1)
        for variant, flags in (
            ("cache off", ("--token-cache", "false")),
            ("2 workers", ("--workers", "2")),
        ):
            with service_process(core_url, *flags) as service:
                print(f"service ({variant})", file=sys.stderr)
                # Two workers are there to use both cores: never pinned to one.
                fewer = dataclasses.replace(
                    options,
                    pairs=options.variant_pairs,
                    pin=options.pin and variant != "2 workers",
                )
                for c in options.concurrencies:
                    slices = measure_interleaved(
                        ("noop", "get_local"),
                        service.address,
                        c,
                        fewer,
                        variant,
                        service.process.pid,
                        pool,
                    )
                    results += _median_slices(slices, every)
        print(f"memory: {options.cached_tokens} cached tokens", file=sys.stderr)
        cached = memory(core_url, database_url, options)
        memory_report.update({f"with_cached_tokens_{k}": v for k, v in cached.items()})
    return results, every, memory_report
