"""Opening the storage a database URL names."""

from __future__ import annotations

from session_core.storage.base import Storage, UnsupportedDatabaseURL


async def open_storage(url: str) -> Storage:
    """Open (creating and migrating the schema) the storage named by ``url``:
    ``sqlite:///path/to/core.db`` or ``postgresql://user@host:port/db``."""
    if url.startswith("sqlite://"):
        # Imported when used: each backend pulls in its own database driver.
        from session_core.storage.sqlite import SQLiteStorage  # noqa: PLC0415

        return await SQLiteStorage.open(url)
    if url.startswith(("postgresql://", "postgres://")):
        from session_core.storage.postgres import PostgresStorage  # noqa: PLC0415

        return await PostgresStorage.open(url)
    raise UnsupportedDatabaseURL(
        "database URL must start with sqlite:// or postgresql:// (got a different scheme)"
    )
