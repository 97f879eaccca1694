"""What the RPC observer (Prometheus metrics, lazy request ids) costs GetSession, as ratios.

``python -m bench.metrics_overhead [--calls N] [--seconds S]``. Two views, measured in one
run with the variants interleaved (best round of each kept, so a noisy neighbour on the
machine hurts both alike):

* handler: the GetSession behaviour called directly with a token the verified-token cache
  holds (the hot path), bare and wrapped. This is the observer's cost with nothing around
  it to hide it: an upper bound.
* end to end: GetSession over gRPC on loopback against two services, one as started by
  ``start_service`` and one whose observer wrap is replaced by the identity (the only
  difference); the load generator runs in the same process.

The core and the services run in this process, with the service's tracing off (its default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from session_client import SessionClient, SessionStatus

from bench.harness import Result, format_table, run_load
from session_core.app import start_core
from session_core.config import CoreConfig
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.server import RunningService, start_service
from session_service.settings import Settings
from session_service.transport.health import SERVICE_NAME
from session_service.transport.metrics import ServiceMetrics
from session_service.transport.observability import RpcObserver

RESULTS = Path(__file__).with_name("results")


class _Context:
    """The parts of a grpc.aio servicer context that GetSession and the observer touch."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def time_remaining(self) -> float | None:
        return None

    def code(self) -> None:
        return None


class _NoObserver(RpcObserver):
    def wrap(self, method: str, behaviour: Any, output_type: Any) -> Any:
        return behaviour


async def _per_call_seconds(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls


async def handler_level(
    service: RunningService, token: str, calls: int, rounds: int
) -> dict[str, float]:
    # GetSession takes its request unparsed (its wire form), as the server hands it over.
    request = pb.GetSessionRequest(access_token=token).SerializeToString()
    context = _Context()
    bare = service.servicer.GetSession
    wrapped = RpcObserver(ServiceMetrics(), None, SERVICE_NAME).wrap(
        "GetSession", bare, pb.GetSessionResponse
    )
    response = await wrapped(request, context)
    assert response.status == pb.SESSION_STATUS_OK
    best = {"bare": float("inf"), "observed": float("inf")}
    for _ in range(rounds):
        best["bare"] = min(
            best["bare"], await _per_call_seconds(lambda: bare(request, context), calls)
        )
        best["observed"] = min(
            best["observed"], await _per_call_seconds(lambda: wrapped(request, context), calls)
        )
    return {
        "bare_us": best["bare"] * 1e6,
        "observed_us": best["observed"] * 1e6,
        "added_us": (best["observed"] - best["bare"]) * 1e6,
        "ratio": best["observed"] / best["bare"],
    }


async def end_to_end(
    services: dict[str, RunningService], token: str, concurrency: int, seconds: float, rounds: int
) -> dict[str, Result]:
    best: dict[str, Result] = {}
    for _ in range(rounds):
        for name, service in services.items():
            async with grpc.aio.insecure_channel(service.address) as channel:
                client = SessionClient(channel)

                async def make_user(
                    client: SessionClient = client,
                ) -> Callable[[], Awaitable[bool]]:
                    async def get() -> bool:
                        result = await client.get_session(token)
                        return result.status is SessionStatus.OK

                    return get

                result = await run_load(
                    f"GetSession {name}", "sqlite", concurrency, seconds, make_user
                )
            if name not in best or result.per_second > best[name].per_second:
                best[name] = result
    return best


async def run(calls: int, seconds: float, concurrency: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        core = await start_core(
            CoreConfig(host="127.0.0.1", port=0, database=f"sqlite:///{directory}/core.db")
        )
        settings = Settings(host="127.0.0.1", port=0, core_url=core.url)
        observed = await start_service(settings)
        # The same server with the observer's wrap replaced by the identity.
        bare = await start_service(settings, rpc_observer=_NoObserver)
        try:
            async with SessionClient.insecure(observed.address) as client:
                token = (await client.create_session("bench-user")).session.access_token
                for service in (observed, bare):  # warm each verified-token cache
                    async with SessionClient.insecure(service.address) as warm:
                        assert (await warm.get_session(token)).status is SessionStatus.OK
            handler = await handler_level(observed, token, calls, rounds)
            e2e = await end_to_end(
                {"bare": bare, "observed": observed}, token, concurrency, seconds, rounds
            )
        finally:
            await observed.stop(grace=1.0)
            await bare.stop(grace=1.0)
            await core.stop()
    return {
        "handler": handler,
        "end_to_end": {name: r.as_dict() for name, r in e2e.items()},
        "end_to_end_throughput_ratio": e2e["observed"].per_second / e2e["bare"].per_second,
        "table": format_table(list(e2e.values())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_overhead")
    parser.add_argument("--calls", type=int, default=20_000, help="handler calls per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="end-to-end seconds per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report = asyncio.run(run(args.calls, args.seconds, args.concurrency, args.rounds))
    handler = report["handler"]
    print(
        f"handler: bare {handler['bare_us']:.2f} us, observed {handler['observed_us']:.2f} us "
        f"(+{handler['added_us']:.2f} us, ratio {handler['ratio']:.3f})"
    )
    print(report.pop("table"))
    print(f"end to end: observed/bare throughput = {report['end_to_end_throughput_ratio']:.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metrics_overhead.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
