"""Instant revocation (issue 18) in ``./dev bench perf``: what following the core's
revocation feed costs the service.

* Speed: GetSession (local verify) against the no-op, interleaved as in service_rpc.py
  (same load processes and connections, ABBA slices, the service pinned), on a service with
  the follower off and on one with it on, whose revoked set holds the live revocations
  below (the lookup in a full set, not an empty one). Both run throughout, and each
  concurrency measures them twice, in the order off, on, on, off. The target compares the
  two GetSession ÷ no-op ratios (each the median over all its pairs): the follower on must
  be within noise of it off.
* The lookup alone, in process (revocation_micro.py): the token-only fast path with the
  revoked set empty and with it full, CPU caches flushed before each call.
* Memory: the RSS of a service following the feed of a core with no live revocation, and
  of one following a core with ``revocations`` live ones (1,000,000 by default), each once
  its follower reports the feed loaded and the token pool went through it. The revocations
  are rows written straight into the core's SQLite ``session_revocations`` table, as the
  core writes them when it removes sessions (handle, revocation time, revocation time plus
  the access-token validity): removing a million sessions through the API would take
  minutes and measure nothing more. The service reads them through the feed as it would
  any others.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
import time
import uuid
from contextlib import ExitStack
from typing import Any

import grpc
import httpx

from bench import revocation_micro
from bench.harness import Result, core_process, database
from bench.perf import _interleaved_detail, _paired_ratio_per_concurrency
from bench.service_process import RssSampler, rss_mb, service_process
from bench.service_rpc import TOKEN_POOL, Options, _median_slices, measure_interleaved
from bench.session_tokens import create_sessions
from session_proto.session.v1 import session_service_pb2 as pb

FOLLOWER = {"follower off": ("--revocation-feed", "false"), "follower on": ()}
STATE = "session_service_revocation_feed_state"
ENTRIES = "session_service_revocation_entries"
ACCESS_TOKEN_VALIDITY_MS = 3_600_000  # the core's default access_token_validity
LOAD_SECONDS = 600.0
NOISE = 0.95  # the follower-on ratio over the follower-off one must be at least this
RSS_BOUND_MB = 100.0
GET, NOOP = "GetSession (local verify)", "no-op (Health/Check)"


def insert_revocations(database_url: str, count: int) -> float:
    """``count`` live revocations of random session handles (UUIDs, as the core makes),
    written into the core's feed table in batches; the seconds it took."""
    path = database_url.removeprefix("sqlite:///")
    started = time.monotonic()
    now_ms = int(time.time() * 1000)
    with sqlite3.connect(path, timeout=60) as connection:
        for start in range(0, count, 100_000):
            connection.executemany(
                "INSERT INTO session_revocations (session_handle, revoked_at, valid_until)"
                " VALUES (?, ?, ?)",
                (
                    (str(uuid.uuid4()), now_ms, now_ms + ACCESS_TOKEN_VALIDITY_MS)
                    for _ in range(min(100_000, count - start))
                ),
            )
            connection.commit()
    return time.monotonic() - started


def _feed(metrics_url: str) -> tuple[str | None, int]:
    """The follower's state and entries, from the service's metrics."""
    state, entries = None, 0
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        if line.startswith(f"{STATE}{{") and line.endswith(" 1.0"):
            state = line.split('state="', 1)[1].split('"', 1)[0]
        elif line.startswith(f"{ENTRIES} "):
            entries = int(float(line.split()[-1]))
    return state, entries


def wait_loaded(metrics_url: str, entries: int) -> float:
    """Poll the metrics until the follower follows with at least ``entries`` revocations;
    the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < LOAD_SECONDS:
        state, kept = _feed(metrics_url)
        if state == "following" and kept >= entries:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"the follower did not load {entries} revocations: {_feed(metrics_url)}")


def _memory(core_url: str, expected: int, pool: list[str]) -> dict[str, float]:
    """RSS of a fresh service with the follower on, once it holds ``expected`` revocations
    and has verified the pool once; and its peak while loading."""
    with service_process(core_url, metrics=True) as service:
        assert service.metrics_url is not None
        with RssSampler(service.process.pid) as sampler:
            loaded_s = wait_loaded(service.metrics_url, expected)
        _verify_once(service.address, pool)
        return {
            "rss_mb": round(rss_mb(service.process.pid), 1),
            "peak_while_loading_mb": round(max(sampler.peak_mb, 0.0), 1),
            "load_s": round(loaded_s, 1),
            "entries": _feed(service.metrics_url)[1],
        }


def _verify_once(address: str, tokens: list[str]) -> None:
    """Every token of the pool through GetSession once (into the token cache, as in the
    measurement without revocations)."""
    with grpc.insecure_channel(address) as channel:
        get = channel.unary_unary(
            "/session.v1.SessionService/GetSession",
            request_serializer=pb.GetSessionRequest.SerializeToString,
            response_deserializer=pb.GetSessionResponse.FromString,
        )
        for token in tokens:
            get(pb.GetSessionRequest(access_token=token), timeout=10)


def run(
    options: Options, revocations: int
) -> tuple[list[Result], list[Result], dict[str, Any], list[dict[str, Any]]]:
    """The chosen results, every slice, the memory figures and the two targets."""
    results: list[Result] = []
    every: list[Result] = []
    fewer = dataclasses.replace(options, pairs=options.variant_pairs)
    with database("sqlite") as database_url, core_process(database_url) as core_url:
        with service_process(core_url) as service:
            pool = [c.session.access_token for c in create_sessions(service.address, TOKEN_POOL)]
        print(f"revocation: fast path, in process, {revocations} revoked", file=sys.stderr)
        lookup = revocation_micro.run(core_url, revocations)
        print("revocation: memory, no live revocation", file=sys.stderr)
        without = _memory(core_url, 0, pool)
        print(f"revocation: inserting {revocations} live revocations", file=sys.stderr)
        inserted_s = insert_revocations(database_url, revocations)
        print("revocation: memory, with them", file=sys.stderr)
        with_them = _memory(core_url, revocations, pool)
        with ExitStack() as stack:
            services = {
                variant: stack.enter_context(service_process(core_url, *flags, metrics=True))
                for variant, flags in FOLLOWER.items()
            }
            on = services["follower on"]
            assert on.metrics_url is not None
            wait_loaded(on.metrics_url, revocations)
            # Both services run throughout; each concurrency measures them in ABBA order
            # (off, on, on, off), so a change in the machine's load during it hits both.
            for c in options.concurrencies:
                for variant in ("follower off", "follower on", "follower on", "follower off"):
                    service = services[variant]
                    print(f"revocation: {variant}, c={c}", file=sys.stderr)
                    slices = measure_interleaved(
                        ("noop", "get_local"), service.address, c, fewer, variant,
                        service.process.pid, pool,
                    )  # fmt: skip
                    every += slices
                for variant in FOLLOWER:
                    mine = [r for r in every if r.backend == variant and r.concurrency == c]
                    results += _median_slices(mine, [])
    memory = {
        "revocations": revocations,
        "insert_s": round(inserted_s, 1),
        **{f"without_{k}": v for k, v in without.items()},
        **{f"with_{k}": v for k, v in with_them.items()},
        "added_mb": round(with_them["rss_mb"] - without["rss_mb"], 1),
        **lookup,
    }
    return results, every, memory, targets(every, memory)


def targets(every: list[Result], memory: dict[str, Any]) -> list[dict[str, Any]]:
    """The follower-on GetSession ÷ no-op over the follower-off one (per concurrency, each
    the median of its interleaved pairs), and the RSS the revocations add."""
    on = _paired_ratio_per_concurrency(every, (GET, "follower on"), (NOOP, "follower on"))
    off = _paired_ratio_per_concurrency(every, (GET, "follower off"), (NOOP, "follower off"))
    on_over_off = {c: round(on[c] / off[c], 3) for c in on}
    detail = {
        variant: _interleaved_detail(every, (GET, variant), (NOOP, variant)) for variant in FOLLOWER
    }
    return [
        {
            "target": "get_over_noop_follower_on_over_off",
            "text": (
                "GetSession ÷ no-op with the revocation follower on (a full revoked set) "
                f"within noise of it off: on ÷ off >= {NOISE}"
            ),
            "measured": on_over_off,
            "bound": NOISE,
            "met": min(on_over_off.values()) >= NOISE,
            "detail": {"on": on, "off": off, **detail},
        },
        {
            "target": "rss_revocations_added_mb",
            "text": (
                f"RSS added by {memory['revocations']:,} live revocations in the feed "
                f"<= {RSS_BOUND_MB:.0f} MB"
            ),
            "measured": memory["added_mb"],
            "bound": RSS_BOUND_MB,
            "met": memory["added_mb"] <= RSS_BOUND_MB,
        },
    ]


def report_lines(memory: dict[str, Any]) -> list[str]:
    """The memory figures, for the printed report."""
    return ["", "instant revocation, service RSS:"] + [
        f"  {name:<42}{value:>10}" for name, value in memory.items()
    ]


def markdown(report: dict[str, Any]) -> str:
    """docs/performance.md's "Instant revocation" tables, from perf.json."""
    section = report["revocation"]
    check = next(
        c for c in report["targets"] if c["target"] == "get_over_noop_follower_on_over_off"
    )
    lines = [
        "| GetSession ÷ no-op, interleaved | follower off | follower on | on ÷ off |",
        "|---|---:|---:|---:|",
    ]
    detail = check["detail"]
    for c, ratio in check["measured"].items():
        lines.append(f"| c={c} | {detail['off'][c]} | {detail['on'][c]} | {ratio} |")
    memory = section["memory"]
    lines += ["", "| service RSS | MB |", "|---|---:|"]
    lines += [
        f"| follower on, no live revocation | {memory['without_rss_mb']} |",
        f"| follower on, {memory['revocations']:,} live revocations | {memory['with_rss_mb']} |",
        f"| added | {memory['added_mb']} |",
        f"| peak while loading them | {memory['with_peak_while_loading_mb']} |",
        "",
        "| the token-only fast path, in process, CPU caches flushed | µs per call |",
        "|---|---:|",
        f"| revoked set empty | {memory['fast_path_empty_set_us']} |",
        f"| revoked set of {memory['revocations']:,} | {memory['fast_path_full_set_us']} |",
        f"| full ÷ empty (median of per-round ratios) | {memory['fast_path_full_over_empty']} |",
    ]
    return "\n".join(lines)
