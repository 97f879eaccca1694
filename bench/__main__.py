"""``./dev bench [core|perf] ...`` (``./dev bench --help``).

* ``core [--seconds S] [--concurrency C] [--backends sqlite,postgresql]``: the core over HTTP.
* ``perf [--seconds S] [--concurrencies 1,4,16,64] [--cached-tokens N] [--rounds R]
  [--pairs P] [--variant-pairs P] [--slice-seconds T] [--revocations N]``: in-process
  verification against PyJWT and the SDK, the service over gRPC (GetSession, CreateSession,
  RefreshSession, a no-op baseline), its memory, and the performance targets as ratios
  measured in that one run (bench/perf.py), then the gateways (bench/gateways.py) and the
  revocation follower's cost (bench/revocation.py). Writes a PNG chart too.
* ``gateways [--pairs P] [--slice-seconds T] [--gateway-users U]``: the gateways alone:
  Envoy's Check and the HTTP edge's /verify against the no-op RPC, nginx auth_request to
  /verify against nginx auth_request to a static 200 (bench/gateways.py).
* ``instructions [--calls N] [--rounds R]``: instructions per call of the no-op, a cached
  GetSession and a cached Check in the whole service process, counted by callgrind
  (bench/instructions.py).
* ``revocation [--concurrencies ...] [--variant-pairs P] [--revocations N]``: the revocation
  follower alone: GetSession ÷ no-op with it on and off, and the RSS N live revocations add
  (bench/revocation.py).

Prints a table and writes JSON to bench/results/<suite>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import core_http, gateways, instructions, perf, revocation, service_rpc, verify_micro
from bench.harness import format_table

RESULTS = Path(__file__).with_name("results")


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument(
        "suite",
        nargs="?",
        default="core",
        choices=["core", "perf", "gateways", "instructions", "revocation"],
    )
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--concurrencies", default="1,4,16,64")
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--cached-tokens", type=int, default=100_000)
    parser.add_argument("--micro-tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1000, help="instructions: calls per round")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--variant-pairs", type=int, default=6)
    parser.add_argument("--slice-seconds", type=float, default=1.0)
    parser.add_argument("--gateway-users", type=int, default=16)
    parser.add_argument(
        "--revocations",
        type=int,
        default=1_000_000,
        help="live revocations in the feed for the follower's memory and speed",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="interleaved comparisons: the service on the first CPU, the load on the others",
    )
    args = parser.parse_args()
    if args.suite == "perf":
        perf_main(args)
        return
    if args.suite == "gateways":
        gateways_main(args)
        return
    if args.suite == "revocation":
        revocation_main(args)
        return
    if args.suite == "instructions":
        instructions_main(args)
        return
    args.seconds = 5.0 if args.seconds is None else args.seconds

    results = asyncio.run(core_http.run(args.backends.split(","), args.concurrency, args.seconds))
    print(format_table(results))
    RESULTS.mkdir(exist_ok=True)
    report = {
        "machine": {
            "cpus": platform.machine(),
            "python": platform.python_version(),
            "processor": platform.processor(),
        },
        "results": [r.as_dict() for r in results],
    }
    (RESULTS / f"{args.suite}.json").write_text(json.dumps(report, indent=2) + "\n")


def perf_options(args: argparse.Namespace) -> service_rpc.Options:
    return service_rpc.Options(
        concurrencies=tuple(int(c) for c in args.concurrencies.split(",")),
        seconds=3.0 if args.seconds is None else args.seconds,
        warmup_s=0.5,
        processes=args.load_processes,
        channels=2,
        cached_tokens=args.cached_tokens,
        rounds=args.rounds,
        pairs=args.pairs,
        variant_pairs=args.variant_pairs,
        slice_s=args.slice_seconds,
        pin=args.pin,
    )


def write_report(
    suite: str, about: dict[str, Any], options: service_rpc.Options | None, **sections: Any
) -> dict[str, Any]:
    """bench/results/<suite>.json: the command that ran, the machine, the options (when the
    suite takes the service benchmarks' ones), then ``sections`` in their order; returns
    what it wrote."""
    RESULTS.mkdir(exist_ok=True)
    report = {"command": "./dev bench " + " ".join(sys.argv[1:]), "machine": about}
    if options is not None:
        report["options"] = asdict(options)
    report.update(sections)
    (RESULTS / f"{suite}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def print_check(check: dict[str, Any]) -> None:
    print(f"[{'met' if check['met'] else 'NOT MET'}] {check['text']}: {check['measured']}")


def perf_main(args: argparse.Namespace) -> None:
    options = perf_options(args)
    about = perf.machine()
    print("in-process verification ...", file=sys.stderr)
    micro = verify_micro.run(args.micro_tokens, repeat=20_000, rounds=args.rounds)
    print("service over gRPC ...", file=sys.stderr)
    results, every_round, memory = service_rpc.run(options)
    print("gateways ...", file=sys.stderr)
    compared = gateways.run(replace(options, concurrencies=(args.gateway_users,)))
    print("instant revocation ...", file=sys.stderr)
    revoked, revoked_every, revoked_memory, revoked_checks = revocation.run(
        options, args.revocations
    )
    results += revoked
    every_round += revoked_every
    about["loadavg_at_end"] = os.getloadavg()
    checks = [
        *perf.targets(results, every_round, micro, memory),
        *revoked_checks,
        gateways.target(compared),
    ]
    print(perf.format_report(results, micro, memory, checks))
    print("\n".join(revocation.report_lines(revoked_memory)))
    report = write_report(
        "perf",
        about,
        options,
        results=[r.as_dict() for r in results],
        every_round=[r.as_dict() for r in every_round],
        in_process=micro,
        memory_mb=memory,
        targets=checks,
        revocation={"memory": revoked_memory},
        gateways=compared,
    )
    written = json.loads(json.dumps(report))
    tables = [perf.markdown(written), revocation.markdown(written), gateways.markdown(compared)]
    (RESULTS / "perf.md").write_text("\n\n".join(tables) + "\n")
    perf.chart(results, RESULTS / "perf.png")
    print(f"wrote perf.json, perf.md and perf.png in {RESULTS}", file=sys.stderr)


def gateways_main(args: argparse.Namespace) -> None:
    about = perf.machine()
    options = replace(perf_options(args), concurrencies=(args.gateway_users,))
    compared = gateways.run(options)
    about["loadavg_at_end"] = os.getloadavg()
    check = gateways.target(compared)
    print(gateways.markdown(compared))
    print_check(check)
    write_report("gateways", about, options, gateways=compared, targets=[check])
    print(f"wrote gateways.json in {RESULTS}", file=sys.stderr)


def instructions_main(args: argparse.Namespace) -> None:
    about = perf.machine()
    measured = instructions.run(args.calls, args.rounds)
    print(instructions.markdown(measured))
    write_report("instructions", about, None, **measured)
    print(f"wrote instructions.json in {RESULTS}", file=sys.stderr)


def revocation_main(args: argparse.Namespace) -> None:
    about = perf.machine()
    options = perf_options(args)
    results, every, memory, checks = revocation.run(options, args.revocations)
    about["loadavg_at_end"] = os.getloadavg()
    print(format_table(results))
    print("\n".join(revocation.report_lines(memory)))
    for check in checks:
        print_check(check)
    report = write_report(
        "revocation",
        about,
        options,
        results=[r.as_dict() for r in results],
        every_round=[r.as_dict() for r in every],
        revocation={"memory": memory},
        targets=checks,
    )
    print(revocation.markdown(json.loads(json.dumps(report))))
    print(f"wrote revocation.json in {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
