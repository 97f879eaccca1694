"""``./dev bench perf`` (and ``./dev bench gateways``), the gateways: Envoy's ``Check`` (the
access token in a cookie, cached) and the HTTP edge's ``GET /verify`` against the no-op RPC
(grpc.health.v1.Health/Check) of the same service, and nginx with ``auth_request`` to
``/verify`` against the same nginx with ``auth_request`` to a static 200
(``location = /auth-static { return 200; }``): what the session check in front of a route
costs a user who already runs nginx.

All in the interleaved method of the GetSession/no-op target (bench/service_rpc.py): the two
sides of a comparison alternate slice by slice (ABBA) on the same load, the service's threads
on the first CPU and the load on the others; a pair's ratio is one side's throughput over the
other's in adjacent slices, and the median over pairs is reported, with the server's CPU per
call. ``Check`` runs in that method's own load generator (bench/loadgen.py, two processes,
gRPC); the HTTP sides need an HTTP client next to a gRPC one, so they run in one load process
of this module (uvloop, aiohttp and grpc.aio). nginx (one worker) is not pinned.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import core_process, database
from bench.service_process import ServerCpu, Service, every_cpu, pinned, service_process
from bench.service_rpc import LABELS as RPC_LABELS
from bench.service_rpc import TOKEN_POOL, Options, measure_interleaved
from bench.session_tokens import create_sessions
from testkit.processes import free_port

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
TARGET_TEXT = "Check (cookie token, cached) throughput >= 0.85 x no-op RPC (interleaved pairs)"
LABELS = {
    "noop": RPC_LABELS["noop"],
    "check": RPC_LABELS["check"],
    "verify": "GET /verify (HTTP edge)",
    "nginx_edge": "nginx auth_request → /verify",
    "nginx_static": "nginx auth_request → static 200",
}

NGINX_BENCH = """\
{user}daemon off; worker_processes 1; pid {dir}/nginx.pid; error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/b; proxy_temp_path {dir}/p; fastcgi_temp_path {dir}/f;
  uwsgi_temp_path {dir}/u; scgi_temp_path {dir}/s;
  upstream session_edge {{ server {edge}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location = /edge {{ auth_request /_session/verify; alias {dir}/ok; }}
    location = /static {{ auth_request /auth-static; alias {dir}/ok; }}
    location = /auth-static {{ internal; return 200; }}
    location = /_session/verify {{
      internal;
      proxy_pass http://session_edge/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


@dataclass(frozen=True)
class Plan:
    grpc_target: str
    http_base: str  # the edge
    nginx_base: str
    tokens: tuple[str, ...]  # access tokens, sent in the sAccessToken cookie in turn
    users: int
    pairs: int
    slice_s: float
    cpus: tuple[int, ...]


async def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start") from None
            await asyncio.sleep(0.05)


@contextmanager
def nginx(edge: str, directory: Path) -> Iterator[tuple[str, int]]:
    """nginx (one worker) with ``/edge`` behind ``auth_request`` to the edge's /verify and
    ``/static`` behind ``auth_request`` to a static 200; both then serve the same small file."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    (directory / "ok").write_text("ok\n")
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = directory / "nginx.conf"
    config.write_text(NGINX_BENCH.format(user=user, dir=directory, edge=edge, port=port))
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(config), "-e", "stderr"], stdout=subprocess.DEVNULL
    )
    try:
        asyncio.run(_wait_listening(port, process))
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


Call = Callable[[], Awaitable[bool]]


def _calls(plan: Plan, channel: Any, http: Any) -> dict[str, Call]:
    noop_call = channel.unary_unary(HEALTH_CHECK)
    cookies = itertools.cycle([{"cookie": f"sAccessToken={token}"} for token in plan.tokens])

    async def noop() -> bool:
        return bool(await noop_call(b""))  # SERVING: a non-empty reply

    async def get(url: str) -> bool:
        async with http.get(url, headers=next(cookies)) as response:
            await response.read()
            return bool(response.status == 200)

    return {
        "noop": noop,
        "verify": lambda: get(f"{plan.http_base}/verify"),
        "nginx_edge": lambda: get(f"{plan.nginx_base}/edge"),
        "nginx_static": lambda: get(f"{plan.nginx_base}/static"),
    }


async def _interleave(plan: Plan, schedule: tuple[str, ...], start: float) -> list[tuple[int, int]]:
    """Per slice of ``schedule`` from ``start`` (monotonic): (calls completed in it, failures);
    every user runs the first operation until then."""
    import aiohttp  # noqa: PLC0415
    import grpc  # noqa: PLC0415

    channel = grpc.aio.insecure_channel(plan.grpc_target)
    connector = aiohttp.TCPConnector(limit=plan.users)
    async with channel, aiohttp.ClientSession(connector=connector) as http:
        await channel.channel_ready()
        calls = _calls(plan, channel, http)
        # Every token twice through each path (the token cache admits a token on its second
        # use), over every connection, before the clock starts.
        for operation in dict.fromkeys(schedule):
            for _ in range(2 * len(plan.tokens) // plan.users + 1):
                await asyncio.gather(*(calls[operation]() for _ in range(plan.users)))
        counts = [[0, 0] for _ in schedule]
        end = start + len(schedule) * plan.slice_s

        async def user() -> None:
            while (now := time.monotonic()) < end:
                index = int((now - start) // plan.slice_s)
                ok = await calls[schedule[max(index, 0)]]()
                finished = int((time.monotonic() - start) // plan.slice_s)
                if index >= 0 and finished == index:  # calls across a slice edge not counted
                    counts[index][0] += 1
                    counts[index][1] += not ok

        await asyncio.gather(*(user() for _ in range(plan.users)))
    return [(done, failed) for done, failed in counts]


def _load(plan: Plan, schedule: tuple[str, ...], start: float, out: Any) -> None:
    import uvloop  # noqa: PLC0415

    if plan.cpus:
        os.sched_setaffinity(0, set(plan.cpus))
    out.put(uvloop.run(_interleave(plan, schedule, start)))


def _windows(start: float, slices: int, slice_s: float) -> list[tuple[float, float]]:
    return [(start + k * slice_s, start + (k + 1) * slice_s) for k in range(slices)]


def _cpu_us(samplers: list[ServerCpu], index: int, calls: int) -> float | None:
    return sum(s.per_window[index] for s in samplers) / 1000 / calls if calls else None


def _summary(
    first: str, second: str, users: int, slices: list[tuple[str, int, int, float | None]],
    slice_s: float,
) -> dict[str, Any]:  # fmt: skip
    """(operation, calls, failures, server CPU µs per call) per slice, in schedule order."""
    done = {op: [n for o, n, _, _ in slices if o == op] for op in (first, second)}
    cpu = {op: [c for o, _, _, c in slices if o == op and c is not None] for op in (first, second)}
    pairs = [a / b for a, b in zip(done[first], done[second], strict=True) if b]
    return {
        "first": LABELS[first],
        "second": LABELS[second],
        "users": users,
        "per_second": [round(statistics.median(done[op]) / slice_s) for op in (first, second)],
        "ratio": round(statistics.median(pairs), 3),
        "ratio_quartiles": [round(q, 3) for q in statistics.quantiles(pairs, n=4)],
        "pairs": len(pairs),
        "server_cpu_us": [
            round(statistics.median(cpu[op]), 1) if cpu[op] else None for op in (first, second)
        ],
        "failures": sum(f for _, _, f, _ in slices),
    }


def compare(plan: Plan, first: str, second: str, pids: list[int]) -> dict[str, Any]:
    """``first`` and ``second`` in alternating slices (ABBA) in a spawned load process; the
    server CPU is that of ``pids`` (and their children) in each slice."""
    schedule: list[str] = []
    for pair in range(plan.pairs):
        schedule += (first, second) if pair % 2 == 0 else (second, first)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start = time.monotonic() + 5.0  # the spawned process connects and warms up before
    process = context.Process(target=_load, args=(plan, tuple(schedule), start, out))
    process.start()
    windows = _windows(start, len(schedule), plan.slice_s)
    samplers = [ServerCpu(pid, windows) for pid in pids]
    with ExitStack() as stack:
        for sampler in samplers:
            stack.enter_context(sampler)
        counts: list[tuple[int, int]] = out.get(timeout=120 + len(schedule) * plan.slice_s)
    process.join()
    slices = [
        (operation, done, failed, _cpu_us(samplers, k, done))
        for k, (operation, (done, failed)) in enumerate(zip(schedule, counts, strict=True))
    ]
    return _summary(first, second, plan.users, slices, plan.slice_s)


def check_over_noop(service: Service, tokens: list[str], options: Options) -> dict[str, Any]:
    """Check against the no-op in bench/service_rpc.py's interleaved method (its load
    generator, pinning, server CPU and warm-up of every token on every connection), at
    ``options.concurrencies[0]``, the users walking the token pool as GetSession's do."""
    users = options.concurrencies[0]
    results = measure_interleaved(
        ("check", "noop"), service.address, users, options, "cache on",
        service.process.pid, tokens=tokens,
    )  # fmt: skip
    slices = [
        ("check" if r.name == LABELS["check"] else "noop", r.requests, r.errors, r.server_cpu_us)
        for r in results
    ]
    return _summary("check", "noop", users, slices, options.slice_s - options.settle_s)


def run(options: Options) -> list[dict[str, Any]]:
    """Every comparison, against one service (SQLite core) and one nginx."""
    cpus = sorted(every_cpu())
    service_cpus = {cpus[0]} if len(cpus) > 1 and options.pin else None
    load_cpus = tuple(cpus[1:]) if service_cpus else ()
    http_port = free_port()
    users = options.concurrencies[0]
    with (
        database("sqlite") as url,
        core_process(url) as core_url,
        service_process(core_url, "--http-port", str(http_port)) as service,
        tempfile.TemporaryDirectory() as scratch,
    ):
        edge = f"127.0.0.1:{http_port}"
        tokens = [c.access_token.token for c in create_sessions(service.address, TOKEN_POOL)]
        compared = [check_over_noop(service, tokens, options)]
        with nginx(edge, Path(scratch)) as (nginx_base, nginx_pid):
            plan = Plan(
                service.address, f"http://{edge}", nginx_base, tuple(tokens), users, options.pairs,
                options.slice_s, load_cpus,
            )  # fmt: skip
            with pinned(service.process.pid, service_cpus):
                compared.append(compare(plan, "verify", "noop", [service.process.pid]))
                pids = [service.process.pid, nginx_pid]
                compared.append(compare(plan, "nginx_edge", "nginx_static", pids))
        return compared


def target(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's target: Check over the no-op."""
    measured = next((c["ratio"] for c in comparisons if c["first"] == LABELS["check"]), None)
    return {
        "target": "check_over_noop",
        "text": TARGET_TEXT,
        "measured": measured,
        "bound": 0.85,
        "met": measured is not None and measured >= 0.85,
    }


def markdown(comparisons: list[dict[str, Any]]) -> str:
    lines = [
        "| A / B, interleaved | users | req/s, A / B | A ÷ B: median (quartiles) "
        "| server CPU µs per call, A / B | failures |",
        "|---|---:|---|---|---|---:|",
    ]
    for c in comparisons:
        cpu = " / ".join("n/a" if v is None else f"{v}" for v in c["server_cpu_us"])
        lines.append(
            f"| {c['first']} / {c['second']} | {c['users']} | "
            f"{c['per_second'][0]:,} / {c['per_second'][1]:,} | {c['ratio']} "
            f"({c['ratio_quartiles'][0]} to {c['ratio_quartiles'][2]}) | {cpu} | {c['failures']} |"
        )
    return "\n".join(lines)
