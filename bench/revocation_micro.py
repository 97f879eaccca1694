"""The revoked set's lookup on GetSession's fast path, in process (bench/revocation.py):
what the server runs first for a GetSession that carries only the token
(``FastPath.answer``, as verify_micro.py's ``cold_default_get_seen_us``), on the same pool
of cached tokens, in a recipe whose revoked set is empty and in one whose set holds
``revocations`` entries (random handles, as the feed would add them), with the CPU caches
flushed before each call: a full set's table (tens of MB) is then read from memory, as in
a busy server. The two alternate round by round (ABBA); the figure is the median of the
per-round ratios. Steadier than the throughput comparison on a shared machine, and it
isolates the one thing the follower adds to the fast path.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

from bench.verify_micro import COLD_TOKENS, _cold_per_call_us, _create_tokens, _manager
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import Status
from session_service.transport.converters import serializer
from session_service.transport.servicer import SessionServicer

ACCESS_TOKEN_VALIDITY_MS = 3_600_000
ROUNDS = 8


async def _run(core_url: str, revocations: int, rounds: int) -> dict[str, Any]:
    tokens = await _create_tokens(core_url, COLD_TOKENS)
    recipes = {"empty": _manager(core_url, cache=True), "full": _manager(core_url, cache=True)}
    try:
        for recipe in recipes.values():
            for token in tokens * 2:  # a second use keeps the token decoded
                assert (await recipe.get_session(token)).status is Status.OK
        now_ms = int(time.time() * 1000)
        revoked = recipes["full"].revoked_sessions
        for _ in range(revocations):
            revoked.add(str(uuid.uuid4()), now_ms + ACCESS_TOKEN_VALIDITY_MS, now_ms)
        assert len(revoked) == revocations
        requests = [pb.GetSessionRequest(access_token=t).SerializeToString() for t in tokens]
        to_bytes = serializer(pb.GetSessionResponse)
        samples: dict[str, list[float]] = {"empty": [], "full": []}
        for index in range(rounds):
            for name in ("empty", "full") if index % 2 == 0 else ("full", "empty"):
                fast_path = SessionServicer(recipes[name]).fast_path

                def call(request: bytes, fast_path: Any = fast_path) -> object:
                    answer = fast_path.answer(request)
                    assert answer is not None  # every token is cached and not revoked
                    return to_bytes(answer)

                samples[name].append(_cold_per_call_us(call, requests))
        ratios = [f / e for f, e in zip(samples["full"], samples["empty"], strict=True)]
        return {
            "fast_path_empty_set_us": round(statistics.median(samples["empty"]), 2),
            "fast_path_full_set_us": round(statistics.median(samples["full"]), 2),
            "fast_path_full_over_empty": round(statistics.median(ratios), 3),
        }
    finally:
        for recipe in recipes.values():
            await recipe.close()


def run(core_url: str, revocations: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """Microseconds per call with the set empty and full, and the median per-round ratio."""
    return asyncio.run(_run(core_url, revocations, rounds))
