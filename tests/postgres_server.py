"""The PostgreSQL server the tests use, found or started once per run.

In order: the server at ``SESSION_TEST_PG_DSN`` (default the local cluster,
``postgresql://postgres@127.0.0.1:5432/postgres``) if it answers; otherwise a throwaway
cluster made with the installed PostgreSQL server binaries (``initdb``/``pg_ctl`` in
``SESSION_TEST_PG_BINDIR``, on ``PATH``, from ``pg_config --bindir`` or under
``/usr/lib/postgresql/<version>/bin``) in a temporary directory, on a free port, with trust
authentication, removed at the end of the run; otherwise none, and the PostgreSQL tests are
not run (tests/conftest.py says so in the summary, or fails the run when
``SESSION_TEST_REQUIRE_POSTGRES=1``).

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(``nobody`` if there is none) and its commands run through ``runuser``.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import asyncpg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
# Durability is not under test here: a throwaway cluster skips fsync for speed.
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def answers(dsn: str, timeout_seconds: float = 5.0) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``dsn``."""

    async def connect() -> None:
        connection = await asyncpg.connect(dsn, timeout=timeout_seconds)
        await connection.close()

    try:
        asyncio.run(connect())
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return True


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in SERVER_BINARIES)


def find_bindir(env: Mapping[str, str]) -> Path | None:
    """The directory of the PostgreSQL server binaries, or None when none are installed."""
    if "SESSION_TEST_PG_BINDIR" in env:
        chosen = Path(env["SESSION_TEST_PG_BINDIR"])
        return chosen if _has_binaries(chosen) else None
    candidates: list[Path] = []
    path = env.get("PATH", "")
    initdb = shutil.which("initdb", path=path)
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    pg_config = shutil.which("pg_config", path=path)
    if pg_config is not None:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: -int(p.name))]
    return next((c for c in candidates if _has_binaries(c)), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary directory, for one test run."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="session-test-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            owner = _unprivileged_user()
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._run_as = ["runuser", "-u", owner.pw_name, "--"]

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._run_as, *args], capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )

    def start(self) -> str:
        """Create and start the cluster; its admin DSN."""
        self._run(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        settings = {**_SETTINGS, "port": str(self.port)}
        settings["unix_socket_directories"] = f"'{self.directory}'"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._run(
            str(self.bindir / "pg_ctl"), "--pgdata", str(self.data), "--log", str(self.log),
            "--wait", "--timeout=60", "start",
        )  # fmt: skip
        return self.dsn

    def stop(self) -> None:
        """Stop the cluster (immediately: its data is thrown away) and remove it."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    str(self.bindir / "pg_ctl"), "--pgdata", str(self.data),
                    "--mode=immediate", "--wait", "stop",
                )  # fmt: skip
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("no 'postgres' or 'nobody' user to own a throwaway PostgreSQL cluster")
