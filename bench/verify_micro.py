"""In-process verification, per call, on the same tokens:

* PyJWT's ``jwt.decode`` exactly as supertokens-python 0.14.0 calls it (RS256, the key
  object already built), the work a verifier cannot skip;
* this project's verification function (``parse_access_token`` + ``AccessTokenVerifier``:
  header, signature, zero-leeway time and claim checks), the same job;
* ``SessionRecipe.get_session`` (the SDK's whole algorithm, answered locally) with the
  verified-token cache off, on tokens it has not seen (cache on), and on a token it has;
* the server's first step for a token-only GetSession, in a loop and with the CPU caches
  flushed before each call, next to the no-op's handler work flushed the same way;
* the SDK's ``get_session_without_request_response``, in its own virtual environment.

Tokens are real: created by a ``session-core serve`` process over HTTP. Every measurement
runs ``rounds`` times, interleaved, and keeps the best round (a noisy neighbour only ever
slows a round down). The verification target's ratio is paired more finely: ``jwt.decode``
and ours alternate batch by batch over the same tokens, and the ratio is the median of the
per-batch ratios (this machine's speed drifts by more than the margin between rounds). The
SDK's process runs ``SDK_PAIRS`` times, each next to a measurement of ours (alternating
which goes first), and its ratios are the medians of those pairs.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import jwt
from grpc_health.v1 import health_pb2

from bench.core_http import HEADERS
from bench.harness import core_process, database
from session_common.clock import SystemClock
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import (
    DEFAULT_MAX_ACCESS_TOKEN_BYTES,
    CoreClientConfig,
    DomainConfig,
    SessionRecipe,
    Status,
    TokenCacheConfig,
)
from session_service.domain.token_parsing import parse_access_token
from session_service.domain.verifier import AccessTokenVerifier
from session_service.transport.converters import serializer
from session_service.transport.servicer import SessionServicer
from testkit.sdk_venv import sdk_python

SDK_SCRIPT = Path(__file__).with_name("sdk_verify.py")
COLD_CALLS = 3000
COLD_TOKENS = 512
SDK_PAIRS = 5


async def _create_tokens(core_url: str, count: int) -> list[str]:
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=core_url, headers=HEADERS, limits=limits) as client:
        semaphore = asyncio.Semaphore(16)

        async def create(index: int) -> str:
            async with semaphore:
                response = await client.post(
                    "/recipe/session",
                    json={
                        "userId": f"micro-{index}",
                        "userDataInJWT": {"iss": "http://localhost:3001/auth", "role": "user"},
                        "userDataInDatabase": {},
                        "enableAntiCsrf": False,
                    },
                )
                token: str = response.json()["accessToken"]["token"]
                return token

        return list(await asyncio.gather(*(create(i) for i in range(count))))


def _manager(core_url: str, cache: bool) -> SessionRecipe:
    return SessionRecipe(
        DomainConfig(
            api_domain="http://localhost:3001",
            core=CoreClientConfig(connection_uri=core_url),
            token_cache=TokenCacheConfig(enabled=cache),
        )
    )


async def _per_call_us(call: Callable[[str], Awaitable[Any]], tokens: list[str]) -> float:
    started = time.perf_counter()
    for token in tokens:
        await call(token)
    return (time.perf_counter() - started) / len(tokens) * 1e6


def _cold_per_call_us(call: Callable[[bytes], object], requests: list[bytes]) -> float:
    """Median microseconds per call with the CPU's caches flushed before each call (a write
    over twice the L2 cache): what a call costs in a busy server, where the gRPC machinery
    runs between two calls of the handler. In a loop the same code finds everything cached
    and costs several times less; it is this figure that tracks the server's CPU per call."""
    flush = bytearray(8 << 20)
    zeros = bytes(len(flush) // 64)
    clock = time.perf_counter_ns
    samples = []
    for index in range(COLD_CALLS):
        flush[::64] = zeros
        request = requests[index % len(requests)]
        started = clock()
        call(request)
        samples.append(clock() - started)
    return statistics.median(samples) / 1000


async def _paired_ratio(
    first: Callable[[str], Awaitable[Any]],
    second: Callable[[str], Awaitable[Any]],
    tokens: list[str],
    batch: int = 100,
) -> list[float]:
    """``second``'s time over ``first``'s, batch by batch on the same tokens, the order
    alternating (AB, BA, ...) so that a drift favours neither."""
    ratios = []
    for index, start in enumerate(range(0, len(tokens) - batch + 1, batch)):
        chunk = tokens[start : start + batch]
        if index % 2:
            second_us = await _per_call_us(second, chunk)
            first_us = await _per_call_us(first, chunk)
        else:
            first_us = await _per_call_us(first, chunk)
            second_us = await _per_call_us(second, chunk)
        ratios.append(second_us / first_us)
    return ratios


def _sdk(core_url: str, warmup: str, unseen: list[str], seen: str, repeat: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump({"warmup": warmup, "unseen": unseen, "seen": seen, "repeat": repeat}, handle)
        handle.flush()
        completed = subprocess.run(
            [str(sdk_python()), str(SDK_SCRIPT), core_url, handle.name],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if report["answered"] != report["calls"]:
        raise RuntimeError("the SDK did not answer a session for every token")
    return report


async def _ours(
    core_url: str,
    tokens: list[str],
    repeat: int,
    rounds: int,
    sdk: Callable[[], dict[str, Any]],
) -> tuple[dict[str, float], list[float], list[dict[str, float]]]:
    """Best-of-rounds microseconds per call, the paired verify/jwt.decode ratios, and
    ``SDK_PAIRS`` runs of ``sdk`` (the SDK's process), each paired with a measurement of
    ours next to it."""
    off = _manager(core_url, cache=False)
    warm = _manager(core_url, cache=True)
    try:
        for manager in (off, warm):
            assert (await manager.get_session(tokens[0])).status is Status.OK  # fetches keys
        # A second use keeps the seen token decoded (the cache's tier for tokens in use).
        assert (await warm.get_session(tokens[0])).status is Status.OK
        verifier = AccessTokenVerifier(warm.key_cache, SystemClock())
        key = await warm.key_cache.get_key(parse_access_token(tokens[0], max_length=9999).kid or "")
        unseen, seen = tokens[1:], tokens[0]

        async def pyjwt(token: str) -> object:
            return jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={"verify_signature": True, "verify_exp": True},
            )

        async def verify(token: str) -> object:
            parsed = parse_access_token(token, max_length=DEFAULT_MAX_ACCESS_TOKEN_BYTES)
            return await verifier.verify(parsed, anti_csrf_required=False)

        servicer = SessionServicer(warm)

        async def default_get(token: str) -> object:
            # What the server runs first for a GetSession request that carries only the
            # token: the wire read, the cache, the pre-rendered answer.
            answer = servicer.fast_path.answer(wire[token])
            assert answer is not None
            return answer

        async def first_sight_us() -> float:
            """get_session with an empty cache (keys fetched): every token is new to it."""
            fresh = _manager(core_url, cache=True)
            try:
                await fresh.get_session(seen)
                return await _per_call_us(fresh.get_session, unseen)
            finally:
                await fresh.close()

        wire = {seen: pb.GetSessionRequest(access_token=seen).SerializeToString()}
        # Cold caches: the token-only path over a pool of cached tokens, as a busy server
        # sees them, against the no-op's handler work (parse the request, look the status
        # up, build and serialize the answer), both as the server calls them.
        pool = unseen[:COLD_TOKENS]
        for token in pool * 2:
            assert (await warm.get_session(token)).status is Status.OK
        pool_requests = [pb.GetSessionRequest(access_token=t).SerializeToString() for t in pool]
        to_bytes = serializer(pb.GetSessionResponse)

        def cold_default_get(request: bytes) -> object:
            answer = servicer.fast_path.answer(request)
            assert answer is not None
            return to_bytes(answer)

        statuses = {"": health_pb2.HealthCheckResponse.SERVING}

        def cold_noop(request: bytes) -> object:
            parsed = health_pb2.HealthCheckRequest.FromString(request)
            status = statuses.get(parsed.service)
            return health_pb2.HealthCheckResponse(status=status).SerializeToString()

        noop_request = [health_pb2.HealthCheckRequest().SerializeToString()]
        paired: list[float] = []

        best: dict[str, float] = {}

        def keep(name: str, value: float) -> None:
            best[name] = min(best.get(name, float("inf")), value)

        for _ in range(rounds):
            keep("pyjwt_decode_us", await _per_call_us(pyjwt, unseen))
            keep("verify_unseen_us", await _per_call_us(verify, unseen))
            paired += await _paired_ratio(pyjwt, verify, unseen)
            keep("get_session_cache_off_us", await _per_call_us(off.get_session, unseen))
            keep("get_session_unseen_us", await first_sight_us())
            keep("get_session_seen_us", await _per_call_us(warm.get_session, [seen] * repeat))
            keep("default_get_seen_us", await _per_call_us(default_get, [seen] * repeat))
            keep("cold_default_get_seen_us", _cold_per_call_us(cold_default_get, pool_requests))
            keep("cold_noop_handler_us", _cold_per_call_us(cold_noop, noop_request))
        sdk_pairs = []
        for index in range(SDK_PAIRS):  # ours then the SDK's, then the other way round
            sdk_first = sdk() if index % 2 else None
            ours_unseen = await first_sight_us()
            ours = {
                "verify_unseen_us": await _per_call_us(verify, unseen),
                "default_get_seen_us": await _per_call_us(default_get, [seen] * repeat),
                "get_session_cache_off_us": await _per_call_us(off.get_session, unseen),
                "get_session_unseen_us": ours_unseen,
                "get_session_seen_us": await _per_call_us(warm.get_session, [seen] * repeat),
            }
            theirs = sdk_first or sdk()
            sdk_pairs.append(
                {"sdk_unseen_us": theirs["unseen_us"], "sdk_seen_us": theirs["seen_us"], **ours}
            )
        for token in (unseen[0], unseen[-1], seen):
            assert (await warm.get_session(token)).status is Status.OK
        return best, paired, sdk_pairs
    finally:
        await off.close()
        await warm.close()


def run(count: int, repeat: int, rounds: int) -> dict[str, Any]:
    """Microseconds per call for each function, and the ratios the targets are about."""
    with database("sqlite") as database_url, core_process(database_url) as core_url:
        tokens = asyncio.run(_create_tokens(core_url, count + 2))
        warmup, tokens = tokens[0], tokens[1:]
        sdk = partial(_sdk, core_url, warmup, tokens[1:], tokens[0], repeat)
        ours, paired, sdk_pairs = asyncio.run(_ours(core_url, tokens, repeat, rounds, sdk))

    def median_of(key: str) -> float:
        return statistics.median(pair[key] for pair in sdk_pairs)

    def median_ratio(theirs: str, mine: str) -> float:
        return statistics.median(pair[theirs] / pair[mine] for pair in sdk_pairs)

    figures = {
        **{k: round(v, 2) for k, v in ours.items()},
        "sdk_get_session_unseen_us": round(median_of("sdk_unseen_us"), 2),
        "sdk_get_session_seen_us": round(median_of("sdk_seen_us"), 2),
    }
    ratios = {
        "verify_unseen_over_pyjwt": statistics.median(paired),
        "get_session_unseen_over_pyjwt": ours["get_session_unseen_us"] / ours["pyjwt_decode_us"],
        # The targets: the SDK's get_session against what the other two "in-process
        # verification" targets time (the verification function for a new token, the
        # service's path for a token-only GetSession of a token seen before).
        "sdk_over_verify_unseen": median_ratio("sdk_unseen_us", "verify_unseen_us"),
        "sdk_over_default_get_seen": median_ratio("sdk_seen_us", "default_get_seen_us"),
        # The whole get_session algorithm against the SDK's, like for like.
        "sdk_over_get_session_cache_off": median_ratio("sdk_unseen_us", "get_session_cache_off_us"),
        "sdk_over_get_session_unseen": median_ratio("sdk_unseen_us", "get_session_unseen_us"),
        "sdk_over_get_session_seen": median_ratio("sdk_seen_us", "get_session_seen_us"),
    }
    return {
        "tokens": count,
        "repeat": repeat,
        "rounds": rounds,
        "per_call": figures,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "verify_over_pyjwt_batches": {
            "batches": len(paired),
            "quartiles": [round(q, 3) for q in statistics.quantiles(paired, n=4)],
        },
        "sdk_pairs": [{k: round(v, 2) for k, v in pair.items()} for pair in sdk_pairs],
    }
