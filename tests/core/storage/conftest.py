"""Storages for the contract tests: ``storage`` on the parametrised ``database_url`` (SQLite
and PostgreSQL, from tests/conftest.py) and ``second``, another storage on the same
database as a second core process would open it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from session_core.storage import Storage, open_storage


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    s = await open_storage(database_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def second(database_url: str, storage: Storage) -> AsyncIterator[Storage]:
    """A second, independent Storage on the same database: another core process."""
    s = await open_storage(database_url)
    try:
        yield s
    finally:
        await s.close()
