"""Storage behind one small async interface (``base.Storage``)."""

from session_core.storage.base import (
    DynamicKeyRow,
    LockedSession,
    RevocationRow,
    SessionRow,
    StaticKeyRow,
    Storage,
    StorageError,
    UnsupportedDatabaseURL,
)
from session_core.storage.factory import open_storage

__all__ = [
    "DynamicKeyRow",
    "LockedSession",
    "RevocationRow",
    "SessionRow",
    "StaticKeyRow",
    "Storage",
    "StorageError",
    "UnsupportedDatabaseURL",
    "open_storage",
]
