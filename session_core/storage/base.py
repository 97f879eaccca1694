"""The one storage interface of the core; SQLite and PostgreSQL implement it.

Times are epoch milliseconds. JSON columns travel as ``dict`` and are stored as JSON text.
Every method is a single atomic unit: nothing here leaves a half-written row behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from session_common.json_values import JSONObject


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A row of ``session_info``, the SuperTokens core's table of sessions."""

    session_handle: str
    user_id: str
    refresh_token_hash_2: str
    session_data: JSONObject
    expires_at: int
    created_at_time: int
    jwt_user_payload: JSONObject
    use_static_key: bool


@dataclass(frozen=True, slots=True)
class DynamicKeyRow:
    """A dynamic access-token signing key; its kid is ``d-<created_at_time>``."""

    created_at_time: int
    value: str  # base64(SPKI DER) "|" base64(PKCS#8 DER)


@dataclass(frozen=True, slots=True)
class StaticKeyRow:
    """A static signing key (``jwt_signing_keys``); ``key_id`` is ``s-<uuid>``."""

    key_id: str
    key_string: str  # same encoding as DynamicKeyRow.value
    algorithm: str
    created_at: int


@dataclass(frozen=True, slots=True)
class RevocationRow:
    """An entry of the revocation feed (``session_revocations``): a removed session, when,
    and the moment after which no access token of it can still be valid."""

    seq: int
    session_handle: str
    revoked_at: int
    valid_until: int


RevocationListener = Callable[[], None]


class LockedSession(Protocol):
    """A session row held under a write lock until the ``lock_session`` block exits.

    On PostgreSQL this is ``SELECT ... FOR UPDATE`` in a transaction; on SQLite a
    ``BEGIN IMMEDIATE`` transaction. The update commits when the block exits normally
    and rolls back if it raises.
    """

    @property
    def row(self) -> SessionRow | None: ...

    async def set_refresh_token_hash_2(self, refresh_token_hash_2: str, expires_at: int) -> None:
        """Promote a refresh token: replace the stored hash and move the expiry."""
        ...


class Storage(Protocol):
    """Everything the core persists. Implementations: ``sqlite.SQLiteStorage``,
    ``postgres.PostgresStorage``; ``factory.open_storage(url)`` picks one."""

    async def close(self) -> None: ...

    # -- sessions -------------------------------------------------------------------------
    async def insert_session(self, row: SessionRow) -> None: ...

    async def get_session(self, session_handle: str) -> SessionRow | None: ...

    def lock_session(self, session_handle: str) -> AbstractAsyncContextManager[LockedSession]: ...

    async def update_session(
        self,
        session_handle: str,
        *,
        now_ms: int,
        session_data: JSONObject | None = None,
        jwt_user_payload: JSONObject | None = None,
    ) -> bool:
        """Replace the given JSON columns of a live session (``expires_at > now_ms``).

        ``None`` leaves a column unchanged. Returns False when no live row exists.
        """
        ...

    async def delete_sessions(
        self, session_handles: list[str], *, revoked_at: int, valid_until: int
    ) -> list[str]:
        """Delete these rows; return the handles that were actually deleted.

        Each deleted handle gets a revocation entry in the same transaction; the
        revocation listeners are called after it commits.
        """
        ...

    async def delete_sessions_of_user(
        self, user_id: str, now_ms: int, *, valid_until: int
    ) -> list[str]:
        """Delete the user's live sessions (``expires_at >= now_ms``); return their handles.

        Recorded as revoked at ``now_ms``, as ``delete_sessions`` records its rows.
        """
        ...

    async def get_session_handles_of_user(self, user_id: str, now_ms: int) -> list[str]:
        """Handles of the user's sessions with ``expires_at >= now_ms``."""
        ...

    async def delete_expired_sessions(self, now_ms: int) -> int:
        """Delete rows with ``expires_at <= now_ms``; return how many.

        Not recorded as revocations: a row expires with its refresh token, whose validity
        is longer than any access token's issued with it.
        """
        ...

    # -- revocation feed ------------------------------------------------------------------
    async def read_revocations(
        self, after_seq: int, now_ms: int, limit: int
    ) -> list[RevocationRow]:
        """Entries with ``seq > after_seq`` and ``valid_until > now_ms``, by ``seq``, at
        most ``limit``. Entries commit in ``seq`` order, so a read never sees an entry
        while one with a smaller ``seq`` is still to come."""
        ...

    async def delete_expired_revocations(self, now_ms: int, batch: int) -> int:
        """Delete up to ``batch`` entries with ``valid_until < now_ms``; return how many."""
        ...

    async def watch_revocations(self, listener: RevocationListener) -> None:
        """Call ``listener`` (in this event loop) after every commit that records
        revocations; on PostgreSQL also after those of other cores on the database, and
        after the notification connection was lost and is back (news may have been missed).
        """
        ...

    async def update_user_last_active(self, user_id: str, now_ms: int) -> None: ...

    # -- key/value (refresh-token master key) ----------------------------------------------
    async def get_or_create_value(
        self, name: str, make_value: Callable[[], str], now_ms: int
    ) -> str:
        """Return the stored value for ``name``; store ``make_value()`` first if absent.

        Safe when several processes race: all of them get the same stored value.
        """
        ...

    # -- signing keys ----------------------------------------------------------------------
    async def get_dynamic_keys(self) -> list[DynamicKeyRow]:
        """All stored dynamic keys, newest first."""
        ...

    async def add_dynamic_key_unless_newer_exists(
        self, make_key: Callable[[], Awaitable[DynamicKeyRow]], newer_than: int
    ) -> list[DynamicKeyRow]:
        """Atomically: if no stored key has ``created_at_time >= newer_than``, store
        ``await make_key()``. Returns all dynamic keys afterwards, newest first.

        Serialised across processes, so two cores never both add a key for one interval.
        """
        ...

    async def delete_dynamic_keys_older_than(self, created_before: int) -> int: ...

    async def get_static_keys(self, algorithm: str) -> list[StaticKeyRow]:
        """Static keys of ``algorithm``, newest first."""
        ...

    async def add_static_key_unless_exists(
        self, make_key: Callable[[], Awaitable[StaticKeyRow]]
    ) -> list[StaticKeyRow]:
        """Atomically store ``await make_key()`` if no key of its algorithm exists.
        Returns the static keys of that algorithm afterwards, newest first."""
        ...

    # -- health ----------------------------------------------------------------------------
    async def ping(self) -> None:
        """A cheap read; raises if the database cannot be reached."""
        ...


class StorageError(Exception):
    """The database could not be reached or refused an operation."""


class UnsupportedDatabaseURL(ValueError):
    """The ``--database`` URL names no supported backend."""


# Column sizes of the SuperTokens core's session_info table (user_id VARCHAR(128),
# session_handle VARCHAR(255)). A longer value can never be stored or found.
MAX_USER_ID_LENGTH = 128
MAX_HANDLE_LENGTH = 255


def storable(text: str, max_length: int) -> bool:
    """Whether ``text`` fits a VARCHAR column of both backends (PostgreSQL refuses NUL
    characters and unencodable surrogates, and enforces the length)."""
    if len(text) > max_length or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
