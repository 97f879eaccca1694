"""Databases for the tests, each new to its test, cheaply: the schema is made once per run.

A database is asked for *with the schema* (what ``open_storage`` makes on a new database,
and nothing else: no keys, no rows) for a test that starts a core on it, or *empty* (never
opened) for the tests of opening and migrating.

- SQLite: ``SqliteTemplate`` opens one file per run; a database with the schema is a copy of
  it (its mode, 0600, included). A copy costs a few milliseconds; making the schema, tens.
- PostgreSQL: ``PostgresDatabases`` makes one template database per run and clones it
  (``CREATE DATABASE … TEMPLATE …``). Making or dropping a database costs the server a copy
  of its catalogs, so a database a test used is made new again instead, in the background:
  its connections closed, the rows of the tables empty in a new one deleted (and the tables
  a new one lacks dropped), the rest checked against a new one (catalog, schema version),
  and the database renamed, so that nothing still knowing the old name reaches it. One that
  differs is dropped and replaced. A worker thread does this while the next test runs, with
  a database of each kind ready, so a test seldom waits for the server.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import shutil
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg

from session_core.storage import open_storage

T = TypeVar("T")
WAIT_SECONDS = 120.0


async def _create_schema(url: str) -> None:
    storage = await open_storage(url)
    await storage.close()


class SqliteTemplate:
    """One SQLite file with the schema, opened (and closed) once; copies of it are new
    databases with the schema."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        asyncio.run(_create_schema(f"sqlite:///{self.path}"))
        # Closing the last connection checkpoints the write-ahead log into the file.
        if Path(f"{self.path}-wal").exists():
            raise RuntimeError(f"{self.path}: the write-ahead log outlived the connections")

    def copy_to(self, path: Path) -> Path:
        """A new database with the schema at ``path``."""
        shutil.copy(self.path, path)
        return path


class PostgresDatabases:
    """Databases on one PostgreSQL server (``admin_dsn``: a role that may create databases),
    named ``session_test_<run>_<n>``: ``take`` one for a test, ``give_back`` it after."""

    def __init__(self, admin_dsn: str) -> None:
        self._admin_dsn = admin_dsn
        self._base, _, _ = admin_dsn.rpartition("/")
        self._run = f"session_test_{uuid.uuid4().hex[:8]}"
        self._names = itertools.count(1)
        # One worker, so its jobs run in order: the template is made before any clone.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="postgres-databases")
        self._template: Future[str] | None = None  # made with the first database with the schema
        self._kinds = {True: _Kind(), False: _Kind()}  # by "with the schema"

    def url(self, name: str) -> str:
        return f"{self._base}/{name}"

    def take(self, *, schema: bool) -> str:
        """A database with the schema or an empty one, new to the test."""
        kind = self._kinds[schema]
        if not kind.started:
            kind.started = True
            if schema:
                self._template = self._worker.submit(self._run_job, self._make_template)
            for _ in range(2):  # one for the test, one ready for the next
                self._worker.submit(self._produce, kind, lambda a: self._make(a, schema))
        ready = kind.ready.get(timeout=WAIT_SECONDS)
        if isinstance(ready, BaseException):
            raise ready
        return ready

    def give_back(self, name: str, *, schema: bool) -> None:
        """Make ``name`` new again for a later test, in the background (``_renew``)."""
        kind = self._kinds[schema]
        self._worker.submit(self._produce, kind, lambda a: self._renew(a, name, schema))

    def close(self) -> None:
        """Drop every database of the run; wait for the drops."""
        self._worker.submit(lambda: None).result()  # the jobs before it are done
        names = []
        if self._template is not None and self._template.exception() is None:
            names.append(self._template.result())
        for kind in self._kinds.values():
            while not kind.ready.empty():
                ready = kind.ready.get()
                if isinstance(ready, str):
                    names.append(ready)
        for name in names:
            self._worker.submit(self._run_job, lambda a, name=name: self._drop(a, name))
        self._worker.shutdown(wait=True)

    # -- jobs, run by the worker ---------------------------------------------------------------
    def _run_job(self, job: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def run() -> T:
            admin = await asyncpg.connect(self._admin_dsn)
            try:
                return await job(admin)
            finally:
                await admin.close()

        return asyncio.run(run())

    def _produce(self, kind: _Kind, job: Callable[[asyncpg.Connection], Awaitable[str]]) -> None:
        try:
            kind.ready.put(self._run_job(job))
        except BaseException as error:  # the test that takes it fails with it
            kind.ready.put(error)

    async def _make_template(self, admin: asyncpg.Connection) -> str:
        name = f"{self._run}_template"
        await admin.execute(f'CREATE DATABASE "{name}"')
        await _create_schema(self.url(name))
        return name

    async def _make(self, admin: asyncpg.Connection, schema: bool) -> str:
        template = ""
        if schema:
            assert self._template is not None
            template = f' TEMPLATE "{self._template.result()}"'  # done: an earlier job
        name = f"{self._run}_{next(self._names)}"
        await admin.execute(f'CREATE DATABASE "{name}"{template}')
        kind = self._kinds[schema]
        if kind.new is None:
            kind.new = await self._connected(name, _NewDatabase.read)
        return name

    async def _drop(self, admin: asyncpg.Connection, name: str) -> None:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _renew(self, admin: asyncpg.Connection, name: str, schema: bool) -> str:
        """``name`` as a new database of its kind would be, under a new name: its
        connections closed, the rows of the tables a new one has empty deleted (an empty
        database: its tables dropped), then the rest checked against a new one (catalog,
        schema version) and the database renamed, so that nothing still knowing the old name
        reaches it. Otherwise (anything else changed, or a connection came back) it is
        dropped and a new one made."""
        new = self._kinds[schema].new
        assert new is not None
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        try:
            if await self._connected(name, new.restore):
                renamed = f"{self._run}_{next(self._names)}"
                await admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{renamed}"')
                return renamed
        except asyncpg.PostgresError:
            pass  # e.g. a connection came back: "being accessed by other users"
        await self._drop(admin, name)
        return await self._make(admin, schema)

    async def _connected(self, name: str, use: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        database = await asyncpg.connect(self.url(name))
        try:
            return await use(database)
        finally:
            await database.close()


@dataclass
class _Kind:
    """The databases of one kind (with the schema, or empty) ready for a test, and what one
    has when new."""

    started: bool = False
    ready: queue.SimpleQueue[str | BaseException] = field(default_factory=queue.SimpleQueue)
    new: _NewDatabase | None = None


# The objects of the schemas a test could change (not the system's), and the database's
# own settings: a renewed database must have what a new one of its kind has.
_USER_SCHEMA = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
_CATALOG = (
    f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMA} ORDER BY 1",
    "SELECT n.nspname, c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod),"
    " a.attnotnull, pg_get_expr(d.adbin, d.adrelid)"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    " LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
    f" WHERE {_USER_SCHEMA} ORDER BY 1, 2, 4",
    "SELECT n.nspname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
    " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    f" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_SCHEMA} ORDER BY 1, 2",
    "SELECT n.nspname, k.conname, pg_get_constraintdef(k.oid)"
    f" FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace WHERE {_USER_SCHEMA}"
    " ORDER BY 1, 2, 3",
    "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)"
    f" FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER_SCHEMA}"
    " ORDER BY 1, 2, 3",
    "SELECT n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
    f" WHERE {_USER_SCHEMA} ORDER BY 1, 2",
    "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
    " WHERE d.datname = current_database()",
)
_TABLES = (
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
    f" JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND {_USER_SCHEMA}"
    " ORDER BY 1"
)


async def _catalog(database: asyncpg.Connection) -> list[list[tuple[object, ...]]]:
    return [[tuple(row) for row in await database.fetch(query)] for query in _CATALOG]


async def _rows(database: asyncpg.Connection, table: str) -> list[str]:
    return sorted(repr(tuple(row)) for row in await database.fetch(f"SELECT * FROM {table}"))


@dataclass(frozen=True)
class _NewDatabase:
    """A new database of a kind: its catalog, the rows of its tables that have rows (the
    schema version) and its empty tables."""

    catalog: list[list[tuple[object, ...]]]
    rows: dict[str, list[str]]
    empty: tuple[str, ...]

    @classmethod
    async def read(cls, database: asyncpg.Connection) -> _NewDatabase:
        tables = [table for (table,) in await database.fetch(_TABLES)]
        rows = {table: await _rows(database, table) for table in tables}
        return cls(
            await _catalog(database),
            {table: found for table, found in rows.items() if found},
            tuple(table for table, found in rows.items() if not found),
        )

    async def restore(self, database: asyncpg.Connection) -> bool:
        """Delete the rows of ``database``'s tables that are empty when new and drop its
        other tables; whether it is then as new."""
        tables = [table for (table,) in await database.fetch(_TABLES)]
        dropped = [table for table in tables if table not in self.rows and table not in self.empty]
        if dropped:
            await database.execute(f"DROP TABLE {', '.join(dropped)} CASCADE")
        if self.empty:
            await database.execute(f"TRUNCATE {', '.join(self.empty)}")
        if await _catalog(database) != self.catalog:
            return False
        return all([await _rows(database, t) == found for t, found in self.rows.items()])
