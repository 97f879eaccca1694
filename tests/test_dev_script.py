"""``./dev``: its help lists every command it runs, and an unknown command is an error;
``.ci/run`` runs its test command."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "dev"


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEV), *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


def commands() -> set[str]:
    """The commands of the script's ``case "$cmd"`` (its labels, aliases of help aside)."""
    body = DEV.read_text().split('case "$cmd" in', 1)[1].split("\nesac", 1)[0]
    labels = re.findall(r"^  ([a-z|-]+)\)", body, re.MULTILINE)
    return {name for label in labels for name in label.split("|")} - {"-h", "--help"}


def test_help_lists_every_command() -> None:
    found = commands()
    assert {"serve", "core", "test", "lint", "gen", "buf", "bench", "help"} <= found
    result = dev("help")
    assert result.returncode == 0 and result.stderr == ""
    listed = set(re.findall(r"^  \./dev ([a-z-]+)", result.stdout, re.MULTILINE))
    assert listed == found
    assert dev().stdout == result.stdout  # no command: the help too
    assert dev("--help").stdout == result.stdout


def test_an_unknown_command_is_an_error_with_the_help_on_stderr() -> None:
    result = dev("serv")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("dev: unknown command 'serv'\n")
    assert dev("help").stdout in result.stderr


def test_ci_requires_the_postgresql_half() -> None:
    """.ci/run runs ``./dev test`` with SESSION_TEST_REQUIRE_POSTGRES=1 exported, so a run
    that would leave the PostgreSQL tests out fails (tests/test_postgres_for_tests.py)."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[-1] == "./dev test"
    assert "export SESSION_TEST_REQUIRE_POSTGRES=1" in lines
