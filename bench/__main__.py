"""``./dev bench [core] [--seconds S] [--concurrency C] [--backends sqlite,postgresql]``.

Prints a table and writes JSON to bench/results/<suite>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from pathlib import Path

from bench import core_http
from bench.harness import format_table

RESULTS = Path(__file__).with_name("results")


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument("suite", nargs="?", default="core", choices=["core"])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
