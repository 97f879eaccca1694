"""The docs' counters (tests/docs/test_snippets.py), printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.docs.blocks import COUNT_ORDER, COUNTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if COUNTS:
        terminalreporter.section("docs that run")
        for name in COUNT_ORDER:
            terminalreporter.write_line(f"{name}: {COUNTS[name]}")
