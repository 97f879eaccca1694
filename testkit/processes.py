"""Real ``session-core serve`` processes for tests that need OS-level separation
(the SDK in its own venv, several cores on one database, kill -9)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def core_serve_args(port: int, database_url: str) -> list[str]:
    """``session-core``'s arguments to serve ``database_url`` on 127.0.0.1:``port``, logging
    warnings and worse."""
    return [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database",
        database_url,
        "--log-level",
        "warning",
    ]


def start_core_process(port: int, database_url: str, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``session-core serve`` on 127.0.0.1:``port``; see ``wait_until_answering``."""
    return subprocess.Popen(
        [sys.executable, "-m", "session_core.cli", *core_serve_args(port, database_url)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SESSION_CORE_DATA_DIR": str(cwd)},
    )


def wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll /hello until the core answers (a readiness condition, not a fixed sleep)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"session-core exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/hello", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError("session-core did not answer /hello in time")


@contextmanager
def core_process(database_url: str, cwd: Path) -> Iterator[str]:
    """A running core process; yields its URL and asserts a clean exit on SIGTERM."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_core_process(port, database_url, cwd)
    try:
        wait_until_answering(url, process)
        yield url
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
