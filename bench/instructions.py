"""``./dev bench instructions``: the instructions the whole service process executes per call
of the no-op RPC (grpc.health.v1.Health/Check), a cached GetSession and a cached Envoy
``Check`` (the token in the ``sAccessToken`` cookie, the request Envoy sends:
``testkit.ext_authz.numbered_check_request``), counted by valgrind's callgrind.

An instruction count does not depend on what else the machine runs (the same binary,
inputs and environment give the same count within a few thousand per call: the service's
background threads), where throughput on two shared cores does; it shows what a change to
a path costs, and the ratios it gives track the throughput ratios of ``./dev bench
gateways`` from above (a call's wall time includes cache misses that instructions do not
count). The service runs under callgrind (about 50 times slower); a pool of tokens goes
through each path four times first, then each measurement zeroes the counters
(``callgrind_control -z``), makes ``--calls`` calls from 8 concurrent users over one
channel, and dumps them (``-d``). The three kinds alternate for ``--rounds`` rounds; the
median per kind is reported.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from bench.harness import core_process, database
from bench.service_process import service_process
from bench.session_tokens import create_sessions
from session_proto.session.v1 import session_service_pb2 as pb
from testkit.ext_authz import numbered_check_request

KINDS = {
    "noop": "no-op (Health/Check)",
    "get_session": "GetSession (cached)",
    "check": "Check (cookie token, cached, Envoy's request)",
}
METHODS = {
    "noop": "/grpc.health.v1.Health/Check",
    "get_session": "/session.v1.SessionService/GetSession",
    "check": "/envoy.service.auth.v3.Authorization/Check",
}
USERS = 8
TOKENS = 64
_TOTALS = re.compile(rb"^totals:\s+(\d+)", re.MULTILINE)


def _request(kind: str, token: str, number: int) -> bytes:
    if kind == "noop":
        return b""
    message: Any
    if kind == "get_session":
        message = pb.GetSessionRequest(access_token=token)
    else:
        cookie = {"cookie": f"theme=dark; sAccessToken={token}; sFrontToken=1"}
        message = numbered_check_request(cookie, number)
    return bytes(message.SerializeToString())


async def _calls(address: str, kind: str, tokens: list[str], calls: int) -> None:
    """``calls`` calls of ``kind`` from ``USERS`` users, requests made beforehand."""
    requests = [_request(kind, tokens[n % len(tokens)], n) for n in range(calls)]
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(METHODS[kind])

        async def user(first: int) -> None:
            for n in range(first, calls, USERS):
                await call(requests[n], timeout=120)

        await asyncio.gather(*(user(k) for k in range(USERS)))


def _load(address: str, kind: str, tokens: list[str], calls: int) -> None:
    asyncio.run(_calls(address, kind, tokens, calls))


def _control(*args: str) -> None:
    subprocess.run(
        ["callgrind_control", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _callgrind(out: Path) -> list[str]:
    # Starting under callgrind takes a minute or more.
    return ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.%p"]


def _measure(out: Path, pid: int, calls: int, run: Callable[[], None]) -> int:
    """Instructions per call of ``run`` (``calls`` calls) in process ``pid``."""
    _control("-z", str(pid))
    run()
    before = set(out.glob(f"callgrind.{pid}.*"))
    _control("-d", str(pid))
    (dump,) = set(out.glob(f"callgrind.{pid}.*")) - before
    return round(sum(int(t) for t in _TOTALS.findall(dump.read_bytes())) / calls)


def run(calls: int, rounds: int) -> dict[str, Any]:
    """Instructions per call of each kind, every round and the medians."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("./dev bench instructions needs valgrind (Debian: valgrind)", file=sys.stderr)
        raise SystemExit(2)
    counted: dict[str, list[int]] = {kind: [] for kind in KINDS}
    with (
        tempfile.TemporaryDirectory() as scratch,
        database("sqlite") as url,
        core_process(url) as core,
        service_process(core, under=_callgrind(Path(scratch)), start_timeout=600) as service,
    ):
        address, pid = service.address, service.process.pid
        tokens = [created.access_token.token for created in create_sessions(address, TOKENS)]
        for kind in KINDS:  # every token cached, and its answers kept
            _load(address, kind, tokens, 4 * len(tokens))
        for _ in range(rounds):
            for kind in KINDS:
                load = functools.partial(_load, address, kind, tokens, calls)
                measured = _measure(Path(scratch), pid, calls, load)
                counted[kind].append(measured)
                print(f"{kind}: {measured:,} instructions per call", file=sys.stderr)
    medians = {kind: round(statistics.median(values)) for kind, values in counted.items()}
    return {"calls": calls, "users": USERS, "tokens": TOKENS, "rounds": counted, "median": medians}


def markdown(measured: dict[str, Any]) -> str:
    noop = measured["median"]["noop"]
    lines = [
        "| per call (median of rounds) | instructions | no-op ÷ it |",
        "|---|---:|---:|",
    ]
    for kind, label in KINDS.items():
        count = measured["median"][kind]
        lines.append(f"| {label} | {count:,} | {noop / count:.3f} |")
    return "\n".join(lines)
