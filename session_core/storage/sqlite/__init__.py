"""``Storage`` on a SQLite file (``storage.SQLiteStorage``), opened by ``connections``."""

from session_core.storage.sqlite.connections import sqlite_path_from_url
from session_core.storage.sqlite.storage import SQLiteStorage

__all__ = ["SQLiteStorage", "sqlite_path_from_url"]
