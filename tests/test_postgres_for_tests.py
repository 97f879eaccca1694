"""How the suite gets its PostgreSQL server (tests/postgres_server.py, tests/conftest.py), run
as a developer runs it: pytest in a subprocess on three tests, one of them SQLite, with
``SESSION_TEST_PG_DSN`` pointing where nothing listens (a machine whose server is stopped).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pg_admin_dsn
from tests.postgres_server import answers, find_bindir
from tests.service.harness import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SELECTION = "test_postgres_pool_size_keyword or test_open_picks_backend"
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q")


def pytest_run(**env: str) -> subprocess.CompletedProcess[str]:
    """pytest on the selection with ``env`` over this environment (without the CI switch)."""
    environment = {k: v for k, v in os.environ.items() if k != "SESSION_TEST_REQUIRE_POSTGRES"}
    return subprocess.run(
        [*PYTEST, "tests/core/storage/test_opening.py", "-k", SELECTION],
        env={**environment, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def nowhere() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"


@pytest.mark.postgres
def test_a_server_that_answers_is_used_as_it_is() -> None:
    result = pytest_run(SESSION_TEST_PG_DSN=pg_admin_dsn())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert "throwaway" not in result.stdout and "not run" not in result.stdout


@pytest.mark.postgres
def test_installed_binaries_give_a_throwaway_cluster_for_the_run() -> None:
    if find_bindir(os.environ) is None:
        pytest.skip("no PostgreSQL server binaries here (the suite uses the server at the DSN)")
    before = set(Path("/tmp").glob("session-test-pg-*"))
    dsn = nowhere()
    result = pytest_run(SESSION_TEST_PG_DSN=dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    match = re.search(
        rf"postgresql: no server answers at {re.escape(dsn)}; a throwaway cluster runs on "
        r"127\.0\.0\.1:(\d+) \(",
        result.stdout,
    )
    assert match, result.stdout
    # Stopped and removed at the end of the run.
    assert not answers(f"postgresql://postgres@127.0.0.1:{match.group(1)}/postgres", 2.0)
    assert set(Path("/tmp").glob("session-test-pg-*")) == before


def test_without_binaries_the_postgresql_tests_are_not_run_and_the_summary_says_so(
    tmp_path: Path,
) -> None:
    result = pytest_run(SESSION_TEST_PG_DSN=nowhere(), SESSION_TEST_PG_BINDIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b1 passed, \d+ deselected\b", result.stdout), result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("PostgreSQL:")]
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("PostgreSQL: 2 tests not run: no PostgreSQL server answers at ")
    assert "install the PostgreSQL server" in lines[0]
    assert "SESSION_TEST_PG_DSN" in lines[0]


def test_ci_fails_rather_than_leave_the_postgresql_tests_out(tmp_path: Path) -> None:
    result = pytest_run(
        SESSION_TEST_PG_DSN=nowhere(),
        SESSION_TEST_PG_BINDIR=str(tmp_path),
        SESSION_TEST_REQUIRE_POSTGRES="1",
    )
    assert result.returncode != 0
    assert "SESSION_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL server answers" in result.stderr
    assert "2 PostgreSQL tests cannot run" in result.stderr
    assert "passed" not in result.stdout
