"""``Storage`` on PostgreSQL (``storage.PostgresStorage``), reached through ``connections``."""

from session_core.storage.postgres.storage import PostgresStorage

__all__ = ["PostgresStorage"]
