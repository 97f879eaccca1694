"""Fixtures shared by every test: real databases, a new one per test; markers; ``--reverse``.

``database_url`` is parametrised over both backends, so any test that asks for it runs
against SQLite *and* PostgreSQL. Each database is new, copied from a template made once per
run (tests/databases.py). PostgreSQL is the server at ``SESSION_TEST_PG_DSN`` (default
the machine's local cluster, trust auth), or a throwaway cluster started for the run when
none answers there (tests/postgres_server.py); with neither, the PostgreSQL tests are not
run and the summary says how to enable them, unless ``SESSION_TEST_REQUIRE_POSTGRES=1``
(``.ci/run``), which makes that an error.

Markers (pyproject.toml), applied here: ``postgres`` (uses a PostgreSQL database), ``sdk``
(tests/sdk, or anything else running the SuperTokens SDK in its own environment) and
``process`` (starts processes), the last two found by tests/markers.py; ``slow`` is set by
hand on long runs.

``--reverse`` runs the selected tests in reverse order: a test that passes only after
another (a state left in a shared core, say) fails one of the two orders.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import PostgresDatabases, SqliteTemplate
from tests.markers import uses
from tests.postgres_server import DEFAULT_DSN, ThrowawayCluster, answers, find_bindir
from tests.reliability import STATS, summary
from tests.shared_core import ModuleCore, SharedCore

TESTS = Path(__file__).resolve().parent


def pg_admin_dsn() -> str:
    """The admin DSN of the PostgreSQL server of this run (see ``PostgresForTests``)."""
    return os.environ.get("SESSION_TEST_PG_DSN", DEFAULT_DSN)


# The fixtures that start a core on the test's database (tests/core, tests/service and its
# domain tests). A test that uses one gets its database with the schema already made
# (tests/databases.py): the core would make it at start. Any other test gets a database
# never opened, so the storage tests still see opening make the schema.
CORE_FIXTURES = frozenset({"make_core", "core", "cores"})


def _with_schema(request: pytest.FixtureRequest) -> bool:
    return not CORE_FIXTURES.isdisjoint(request.fixturenames)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
def sqlite_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new SQLite database file in the test's directory (see ``CORE_FIXTURES``)."""
    path = tmp_path / "core.db"
    if _with_schema(request):
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        template.copy_to(path)
    return f"sqlite:///{path}"


# A test that takes one of these has cores of its own (it starts, stops or drives them);
# any other test that needs a core gets its module's (``shared_core``).
OWN_CORE_FIXTURES = frozenset({"core", "make_core"})


@pytest.fixture(scope="module")
def module_core(
    sqlite_template: SqliteTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleCore]:
    directory = tmp_path_factory.mktemp("module-core")
    numbers = itertools.count()
    module_core = ModuleCore(lambda: sqlite_template.copy_to(directory / f"{next(numbers)}.db"))
    yield module_core
    module_core.close()


@pytest.fixture
def shared_core(request: pytest.FixtureRequest) -> Iterator[SharedCore | None]:
    """The module's core, as a new core would be (tests/shared_core.py), or None for a test
    that has cores of its own (``OWN_CORE_FIXTURES``)."""
    if not OWN_CORE_FIXTURES.isdisjoint(request.fixturenames):
        yield None
        return
    module_core: ModuleCore = request.getfixturevalue("module_core")
    yield module_core.take()
    module_core.release()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(pg_admin_dsn())
    yield databases
    databases.close()


@pytest.fixture
def postgres_url(
    postgres_databases: PostgresDatabases, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A new PostgreSQL database (see ``CORE_FIXTURES`` and tests/databases.py).

    Synchronous on purpose: async tests and fixtures of any loop scope can depend on it.
    """
    schema = _with_schema(request)
    name = postgres_databases.take(schema=schema)
    try:
        yield postgres_databases.url(name)
    finally:
        postgres_databases.give_back(name, schema=schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A new database of the parametrised backend."""
    if backend == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


def _uses_postgres(item: pytest.Item) -> bool:
    if "postgres_url" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("backend") == "postgresql"


@pytest.hookimpl(tryfirst=True)  # before -m selects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reverse"):
        items.reverse()
    for item in items:
        if _uses_postgres(item):
            item.add_marker(pytest.mark.postgres)
        function = getattr(item, "function", None)
        if function is None:
            continue
        # The test function and the fixtures it takes, by name (tests/markers.py).
        names = {function.__name__, *getattr(item, "fixturenames", ())}
        found = uses(Path(item.path))
        if Path(item.path).is_relative_to(TESTS / "sdk") or names & found.sdk:
            item.add_marker(pytest.mark.sdk)
        if names & found.process:
            item.add_marker(pytest.mark.process)


class PostgresForTests:
    """Finds or starts the PostgreSQL server once the selected tests are known (only if one
    of them needs it), stops a throwaway one at the end, and reports what it did."""

    def __init__(self) -> None:
        self.cluster: ThrowawayCluster | None = None
        self.unanswered = ""  # the DSN where no server answered
        self.missing: str | None = None  # why the PostgreSQL tests did not run
        self.not_run = 0

    @pytest.hookimpl(trylast=True)  # after -m and -k have deselected
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        needing = [item for item in items if item.get_closest_marker("postgres")]
        dsn = pg_admin_dsn()
        if not needing or answers(dsn):
            return
        bindir = find_bindir(os.environ)
        if bindir is not None:
            self.cluster = ThrowawayCluster(bindir)
            self.unanswered = dsn
            os.environ["SESSION_TEST_PG_DSN"] = self.cluster.start()
            return
        missing = (
            f"no PostgreSQL server answers at {dsn} and no PostgreSQL server binaries "
            "(initdb, pg_ctl) are installed"
        )
        if os.environ.get("SESSION_TEST_REQUIRE_POSTGRES") == "1":
            raise pytest.UsageError(
                f"SESSION_TEST_REQUIRE_POSTGRES=1 but {missing}: "
                f"{len(needing)} PostgreSQL tests cannot run"
            )
        self.missing, self.not_run = missing, len(needing)
        config.hook.pytest_deselected(items=needing)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]

    def pytest_report_collectionfinish(self) -> str | None:
        if self.cluster is None:
            return None
        return (
            f"postgresql: no server answers at {self.unanswered}; a throwaway cluster runs on "
            f"127.0.0.1:{self.cluster.port} ({self.cluster.bindir}) for this run"
        )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.missing is not None:
            terminalreporter.write_line(
                f"PostgreSQL: {self.not_run} tests not run: {self.missing}. To run them, "
                "install the PostgreSQL server (e.g. apt-get install postgresql) or set "
                "SESSION_TEST_PG_DSN to a server's admin DSN.",
                yellow=True,
                bold=True,
            )

    def pytest_unconfigure(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reverse",
        action="store_true",
        help="run the selected tests in reverse order (to show they do not depend on order)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(PostgresForTests(), "session-postgres-for-tests")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability counters of this run (tests/reliability.py), when any test set one."""
    if STATS:
        terminalreporter.section("reliability")
        for line in summary():
            terminalreporter.write_line(line)
