"""Fixtures shared by every test: real databases, one fresh database per test.

``database_url`` is parametrised over both backends, so any test that asks for it runs
against SQLite *and* PostgreSQL. PostgreSQL is the machine's local cluster (trust auth);
set ``SESSION_TEST_PG_DSN`` to point elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.reliability import STATS, summary

PG_ADMIN_DSN = os.environ.get(
    "SESSION_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _pg_url_for(database: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'core.db'}"


async def _pg_admin(statement: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database, dropped after the test.

    Synchronous on purpose: it runs its own short event loop, so async tests and
    fixtures of any loop scope can depend on it.
    """
    name = f"session_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url_for(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh database of the parametrised backend."""
    if backend == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability counters of this run (tests/reliability.py), when any test set one."""
    if STATS:
        terminalreporter.section("reliability")
        for line in summary():
            terminalreporter.write_line(line)
