"""A configuration that cannot start gets one line on stderr and exit status 2, never a
traceback (log records of what had started before may precede it). Both commands run as a
user runs them (real processes), each with a database URL of an unsupported kind, a database
that does not exist, a data directory the process may not write, and (the service) an
override module that fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
MISSING_DATABASE = "session_test_no_such_database"


def start(
    command: str, *args: str, env: dict[str, str] | None = None, run_as: Sequence[str] = ()
) -> str:
    """Run ``command serve args`` on a free port, which must fail at once: its one line."""
    result = subprocess.run(
        [*run_as, str(BIN / command), "serve", "--port", "0", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    # Besides log records (JSON lines: stderr is not a terminal) of what started before the
    # failure, exactly one line, the last.
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, result.stderr
    assert result.stderr.splitlines()[-1] == lines[0]
    assert lines[0].startswith(f"{command}: "), lines[0]
    return lines[0]


def missing_database(postgres_url: str) -> str:
    """A database URL on the test server whose database does not exist."""
    return postgres_url.rpartition("/")[0] + "/" + MISSING_DATABASE


@pytest.fixture
def read_only_dir() -> Iterator[tuple[Path, list[str]]]:
    """A directory the command may not write, and the prefix that runs the command so: root
    may write anywhere, so as root the command runs as ``nobody`` (util-linux ``setpriv``)."""
    with tempfile.TemporaryDirectory() as parent:
        Path(parent).chmod(0o755)
        directory = Path(parent) / "read-only"
        directory.mkdir(mode=0o555)
        run_as = []
        if os.geteuid() == 0:
            run_as = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        yield directory, run_as


# -- session-core ------------------------------------------------------------------------------


def test_core_refuses_an_unsupported_database_url() -> None:
    line = start("session-core", "--database", "mysql://user@127.0.0.1/sessions")
    assert "cannot open the database" in line and "sqlite:// or postgresql://" in line


def test_core_refuses_a_database_that_does_not_exist(postgres_url: str) -> None:
    line = start("session-core", "--database", missing_database(postgres_url))
    assert f'database "{MISSING_DATABASE}" does not exist' in line


def test_core_refuses_a_data_directory_it_may_not_write(
    read_only_dir: tuple[Path, list[str]],
) -> None:
    directory, run_as = read_only_dir
    line = start("session-core", env={"SESSION_CORE_DATA_DIR": str(directory)}, run_as=run_as)
    assert f"cannot create SQLite database {directory / 'core.db'}: Permission denied" in line


# -- session-service ---------------------------------------------------------------------------


def test_service_refuses_an_unsupported_database_url() -> None:
    line = start("session-service", "--core-database", "mysql://user@127.0.0.1/sessions")
    assert "--core-database must start with sqlite:// or postgresql://" in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_service_refuses_a_database_that_does_not_exist(postgres_url: str, workers: str) -> None:
    """Also with --workers, where the embedded core runs in a process of its own."""
    line = start(
        "session-service", "--workers", workers, "--core-database", missing_database(postgres_url)
    )
    assert line.startswith("session-service: --core-database: ")
    assert f'database "{MISSING_DATABASE}" does not exist' in line


def test_service_refuses_a_data_directory_it_may_not_write(
    read_only_dir: tuple[Path, list[str]],
) -> None:
    directory, run_as = read_only_dir
    line = start("session-service", "--data-dir", str(directory), run_as=run_as)
    assert line == (
        f"session-service: --data-dir {directory}: cannot create SQLite database "
        f"{directory / 'core.db'}: Permission denied"
    )
    line = start("session-service", "--data-dir", str(directory / "sub"), run_as=run_as)
    assert line == f"session-service: --data-dir {directory / 'sub'}: cannot create it: " + (
        "Permission denied"
    )


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("raise RuntimeError('no config for the ban list')", "raised RuntimeError on import"),
        ("import no_such_dependency_of_the_hook", "No module named 'no_such_dependency"),
        ("def override(original):\n    raise KeyError('ban list')", "the override raised KeyError"),
    ],
)
def test_service_refuses_an_override_module_that_fails(
    tmp_path: Path, source: str, problem: str
) -> None:
    (tmp_path / "failing_hooks.py").write_text(source + "\n")
    line = start(
        "session-service",
        "--data-dir",
        str(tmp_path / "data"),
        "--override-module",
        "failing_hooks",
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert line.startswith("session-service: --override-module: "), line
    assert problem in line


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--core-url", "foo"], "--core-url: every entry must be an http(s) URL"),
        (["--core-url", "http://core:3567/?x=1"], "--core-url: a core URL must not have a query"),
        (["--core-timeout-seconds", "0"], "--core-timeout-seconds: must be positive"),
        (["--core-ca-file", "/nonexistent/ca.pem"], "--core-ca-file: cannot be loaded"),
        (["--jwks-max-age-seconds", "0"], "--jwks-max-age-seconds: must be positive"),
        (["--api-domain", "localhost"], "--api-domain: must be an http(s) URL"),
        (["--api-base-path", "auth"], "--api-base-path: must start with '/'"),
        (["--http-port", "70000"], "--http-port must be between 0 and 65535"),
        (["--port", "50071", "--http-port", "50071"], "--http-port must differ from --port"),
        (
            ["--http-port", "50072", "--metrics-port", "50072"],
            "--metrics-port must differ from --http-port (both 50072)",
        ),
        (["--cookie-same-site", "sideways"], "--cookie-same-site must be lax, strict or none"),
        (["--token-transfer-method", "both"], "--token-transfer-method must be any, header"),
        (["--refresh-token-path", "auth/r"], "--refresh-token-path must start with '/'"),
        (["--session-expired-status-code", "200"], "--session-expired-status-code must be an"),
        (["--invalid-claim-status-code", "401"], "--invalid-claim-status-code must differ"),
        (["--upstream-user-id-header", "x user"], "--upstream-user-id-header is not an HTTP"),
        (
            ["--cookie-same-site", "none", "--api-domain", "https://api.example.com"],
            "--cookie-same-site none needs cookie_secure",
        ),
        (
            ["--revocation-feed-max-lag-seconds", "0"],
            "--revocation-feed-max-lag-seconds: must be between 0.2 and 3600 seconds",
        ),
        (["--revocation-max-entries", "0"], "--revocation-max-entries: must be at least 1"),
        (
            ["--revocation-feed-failure", "fail-closed"],
            "--revocation-feed-failure: must be fail-open or fail-safe",
        ),
    ],
)
def test_service_names_the_flag_of_a_bad_setting(
    tmp_path: Path, flags: list[str], expected: str
) -> None:
    """Settings the service hands to its session logic are reported by their flag (not by
    an internal field such as core.connection_uri), before the embedded core starts."""
    line = start("session-service", "--data-dir", str(tmp_path / "data"), *flags)
    assert line.startswith(f"session-service: {expected}"), line
    assert not (tmp_path / "data").exists()


def test_service_refuses_an_http_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = start("session-service", "--data-dir", str(tmp_path), "--http-port", str(port))
    assert line.startswith(f"session-service: cannot serve HTTP on 127.0.0.1:{port}"), line
