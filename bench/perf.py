"""``./dev bench perf``: the in-process verification micro-benchmark, then the service over
gRPC and its memory; one table, one JSON file, one PNG chart, and the targets as ratios
measured in this run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

import grpc

from bench.harness import Result, format_table

TARGETS_TEXT = {
    "get_local_over_noop": (
        "GetSession (local verify) throughput >= 0.9 x no-op RPC (per concurrency: median "
        "over pairs of interleaved slices of the ratio within a pair)"
    ),
    "verify_unseen_over_pyjwt": "verification of a token not yet seen <= 0.5 x jwt.decode",
    "default_get_seen_us": (
        "verification of a token seen before <= 5 us (the service's path for a GetSession "
        "with only the token; get_session_seen_us is the full algorithm on a cache hit)"
    ),
    "sdk_over_verify_unseen": (
        ">= 3 x faster than the SDK's get_session_without_request_response: a token not yet "
        "seen (the verification function timed against jwt.decode above)"
    ),
    "sdk_over_default_get_seen": (
        ">= 3 x faster than the SDK's get_session_without_request_response: a token seen "
        "before (the service's path for a GetSession with only the token)"
    ),
    "create_over_core_create": (
        "CreateSession peak throughput >= 0.8 x the core's own peak create throughput over "
        "HTTP (each concurrency shown too; c=1 is one request at a time, a latency ratio)"
    ),
    "rss_cached_mb": "RSS with 100 000 cached tokens <= 150 MB",
}


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }


def _by(results: list[Result], name: str, variant: str) -> dict[int, Result]:
    return {r.concurrency: r for r in results if r.name == name and r.backend == variant}


def _paired_ratio_per_concurrency(
    every_round: list[Result], top: tuple[str, str], bottom: tuple[str, str]
) -> dict[int, float]:
    """Per concurrency, the median over rounds of ``top``'s throughput over ``bottom``'s in
    the same round. The two alternate round by round, so whatever else slows the machine
    during a round slows both: the ratio of a pair is what carries over (the medians of
    each taken apart can pair one's quiet round with the other's disturbed one)."""
    ratios: dict[int, list[float]] = {}
    levels = sorted({r.concurrency for r in every_round})
    for c in levels:
        above = [r for r in every_round if (r.name, r.backend, r.concurrency) == (*top, c)]
        below = [r for r in every_round if (r.name, r.backend, r.concurrency) == (*bottom, c)]
        pairs = [a.per_second / b.per_second for a, b in zip(above, below, strict=True)]
        if pairs:
            ratios[c] = pairs
    return {c: round(statistics.median(pairs), 3) for c, pairs in ratios.items()}


def _interleaved_detail(
    every_round: list[Result], top: tuple[str, str], bottom: tuple[str, str]
) -> dict[str, Any]:
    """How the pairs of an interleaved comparison spread (quartiles of the throughput
    ratio), and the server's CPU per call for each side (medians over slices): CPU per call
    is steadier than throughput on a shared machine, and shows what the ratio is made of."""
    detail: dict[str, Any] = {}
    for c in sorted({r.concurrency for r in every_round}):
        above = [r for r in every_round if (r.name, r.backend, r.concurrency) == (*top, c)]
        below = [r for r in every_round if (r.name, r.backend, r.concurrency) == (*bottom, c)]
        pairs = [a.per_second / b.per_second for a, b in zip(above, below, strict=True)]
        if len(pairs) < 2:
            continue
        top_cpu = [r.server_cpu_us for r in above if r.server_cpu_us is not None]
        bottom_cpu = [r.server_cpu_us for r in below if r.server_cpu_us is not None]
        detail[str(c)] = {
            "pairs": len(pairs),
            "ratio_quartiles": [round(q, 3) for q in statistics.quantiles(pairs, n=4)],
            "server_cpu_us": [round(statistics.median(x), 1) for x in (top_cpu, bottom_cpu)],
        }
    return detail


def _peak_ratio(results: list[Result], top: tuple[str, str], bottom: tuple[str, str]) -> float:
    """The highest throughput of ``top`` over the highest of ``bottom``, whatever the
    concurrency at which each peaked."""
    peak_top = max(r.per_second for r in _by(results, *top).values())
    peak_bottom = max(r.per_second for r in _by(results, *bottom).values())
    return round(peak_top / peak_bottom, 3)


def targets(
    results: list[Result],
    every_round: list[Result],
    micro: dict[str, Any],
    memory: dict[str, Any],
) -> list[dict[str, Any]]:
    """Each target: the measured value (per concurrency where it applies), the bound, met."""
    get_vs_noop = _paired_ratio_per_concurrency(
        every_round,
        ("GetSession (local verify)", "cache on"),
        ("no-op (Health/Check)", "cache on"),
    )
    creates = (("CreateSession", "cache on"), ("core create (HTTP)", "core"))
    create_vs_core: dict[Any, float] = {"peak": _peak_ratio(results, *creates)}
    create_vs_core.update(_paired_ratio_per_concurrency(every_round, *creates))
    ratios, per_call = micro["ratios"], micro["per_call"]
    rows: list[tuple[str, Any, float, bool]] = [
        ("get_local_over_noop", get_vs_noop, 0.9, min(get_vs_noop.values()) >= 0.9),
        (
            "verify_unseen_over_pyjwt",
            ratios["verify_unseen_over_pyjwt"],
            0.5,
            ratios["verify_unseen_over_pyjwt"] <= 0.5,
        ),
        (
            "default_get_seen_us",
            per_call["default_get_seen_us"],
            5.0,
            per_call["default_get_seen_us"] <= 5.0,
        ),
        (
            "sdk_over_verify_unseen",
            ratios["sdk_over_verify_unseen"],
            3.0,
            ratios["sdk_over_verify_unseen"] >= 3.0,
        ),
        (
            "sdk_over_default_get_seen",
            ratios["sdk_over_default_get_seen"],
            3.0,
            ratios["sdk_over_default_get_seen"] >= 3.0,
        ),
        ("create_over_core_create", create_vs_core, 0.8, create_vs_core["peak"] >= 0.8),
        (
            "rss_cached_mb",
            memory["with_cached_tokens_cached_mb"],
            150.0,
            memory["with_cached_tokens_cached_mb"] <= 150.0,
        ),
    ]
    details = {
        "get_local_over_noop": _interleaved_detail(
            every_round,
            ("GetSession (local verify)", "cache on"),
            ("no-op (Health/Check)", "cache on"),
        ),
        "verify_unseen_over_pyjwt": micro["verify_over_pyjwt_batches"],
    }
    return [
        {
            "target": key,
            "text": TARGETS_TEXT[key],
            "measured": value,
            "bound": bound,
            "met": met,
            **({"detail": details[key]} if key in details else {}),
        }
        for key, value, bound, met in rows
    ]


def _shown(measured: Any) -> str:
    """A target's measured value; per concurrency (and peak) where it has several."""
    if not isinstance(measured, dict):
        return str(measured)
    return ", ".join(f"{c if c == 'peak' else f'c={c}'}: {v}" for c, v in measured.items())


def format_report(
    results: list[Result],
    micro: dict[str, Any],
    memory: dict[str, Any],
    checks: list[dict[str, Any]],
) -> str:
    lines = [format_table(results), "", "in-process, microseconds per call (best of rounds):"]
    lines += [f"  {name:<32}{value:>10.2f}" for name, value in micro["per_call"].items()]
    lines += ["", "in-process ratios:"]
    lines += [f"  {name:<32}{value:>10}" for name, value in micro["ratios"].items()]
    lines += ["", "service RSS (MB):"]
    lines += [f"  {name:<42}{value:>10}" for name, value in memory.items()]
    lines += ["", "targets:"]
    for check in checks:
        shown = _shown(check["measured"])
        lines.append(f"  [{'met' if check['met'] else 'NOT MET'}] {check['text']}: {shown}")
        if "detail" in check:
            lines.append(f"      {json.dumps(check['detail'])}")
    return "\n".join(lines)


def chart(results: list[Result], path: Path) -> None:
    """Throughput against concurrency, one line per operation (and per variant)."""
    # The `bench` extra, imported here so that the rest of bench/ (and mypy in ./dev test)
    # works without it.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    figure, axes = pyplot.subplots(figsize=(8, 5), dpi=100)
    series = sorted({(r.name, r.backend) for r in results}, key=lambda s: (s[1], s[0]))
    for name, variant in series:
        points = sorted(_by(results, name, variant).items())
        style = {
            "cache on": "-",
            "core": "-.",
            "cache off": ":",
            "2 workers": "--",
            "follower off": ":",
            "follower on": "-",
        }[variant]
        axes.plot(
            [c for c, _ in points],
            [r.per_second for _, r in points],
            style,
            marker="o",
            markersize=3,
            label=f"{name} [{variant}]",
        )
    axes.set_xscale("log", base=2)
    levels = sorted({r.concurrency for r in results})
    axes.set_xticks(levels, [str(c) for c in levels])
    axes.set_xlabel("concurrent requests (virtual users)")
    axes.set_ylabel("requests per second")
    axes.set_title("session-service throughput (client and server share the machine)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def markdown(report: dict[str, Any]) -> str:
    """The tables of docs/performance.md, from a perf.json report."""
    results = [
        Result(**{k: v for k, v in r.items() if k != "per_second"}) for r in report["results"]
    ]
    levels = sorted({r.concurrency for r in results})
    series = list(dict.fromkeys((r.name, r.backend) for r in results))
    head = "| operation | " + " | ".join(f"c={c}: req/s (p50 / p99 ms)" for c in levels) + " |"
    lines = [head, "|---|" + "---:|" * len(levels)]
    for name, variant in series:
        row = _by(results, name, variant)
        cells = [
            f"{row[c].per_second:,.0f} ({row[c].p50_ms:.2f} / {row[c].p99_ms:.2f})"
            if c in row
            else ""
            for c in levels
        ]
        lines.append(f"| {name} [{variant}] | " + " | ".join(cells) + " |")
    lines += ["", "| in-process, per call | µs |", "|---|---:|"]
    lines += [
        f"| {name} | {value:.2f} |" for name, value in report["in_process"]["per_call"].items()
    ]
    lines += [
        "",
        "| the SDK's get_session_without_request_response over ours (median of "
        f"{len(report['in_process']['sdk_pairs'])} paired runs) | ratio |",
        "|---|---:|",
    ]
    lines += [
        f"| {name.removeprefix('sdk_over_')} | {value} |"
        for name, value in report["in_process"]["ratios"].items()
        if name.startswith("sdk_over_")
    ]
    lines += ["", "| service RSS | MB |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in report["memory_mb"].items()]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for check in report["targets"]:
        shown = _shown(check["measured"])
        lines.append(f"| {check['text']} | {shown} | {'yes' if check['met'] else '**no**'} |")
    spread = next(c["detail"] for c in report["targets"] if c["target"] == "get_local_over_noop")
    lines += [
        "",
        "| GetSession / no-op, interleaved | pairs | ratio, quartiles | server CPU per call, "
        "GetSession / no-op (µs) |",
        "|---|---:|---|---|",
    ]
    lines += [
        f"| c={c} | {d['pairs']} | {d['ratio_quartiles'][0]} to {d['ratio_quartiles'][2]} "
        f"| {d['server_cpu_us'][0]} / {d['server_cpu_us'][1]} |"
        for c, d in spread.items()
    ]
    return "\n".join(lines)
