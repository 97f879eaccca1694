"""start_core/stop, background cleanup, and the ``session-core serve`` process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from session_core.app import start_core
from session_core.config import CoreConfig
from session_core.storage.base import UnsupportedDatabaseURL
from tests.core.conftest import CoreFactory
from tests.core.tokens import jwt_payload


async def test_background_cleanup_deletes_expired_sessions(make_core: CoreFactory) -> None:
    core = await make_core(expired_session_cleanup_interval_s=0.01)
    expired = (await core.create("old"))["session"]["handle"]
    core.clock.advance(144000 * 60_000 + 1)
    live = (await core.create("new"))["session"]["handle"]
    runs = core.core.session_cleanup.runs
    # A run that started after the clock moved must have completed.
    await asyncio.wait_for(core.core.session_cleanup.wait_for_run(after=runs + 1), 30)
    assert await core.core.storage.get_session(expired) is None
    assert await core.core.storage.get_session(live) is not None


async def test_stop_closes_the_port(sqlite_url: str) -> None:
    core = await start_core(CoreConfig(host="127.0.0.1", port=0, database=sqlite_url))
    async with httpx.AsyncClient() as client:
        assert (await client.get(core.url + "/hello")).status_code == 200
        await core.stop()
        await core.stop()  # idempotent
        with pytest.raises(httpx.ConnectError):
            await client.get(core.url + "/hello")


async def test_unsupported_database_url() -> None:
    with pytest.raises(UnsupportedDatabaseURL):
        await start_core(CoreConfig(host="127.0.0.1", port=0, database="mysql://x"))


async def _serve(args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "session_core.cli",
        "serve",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _listening_url(proc: asyncio.subprocess.Process) -> str:
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        assert line, "the core exited before listening"
        # The CLI's own announcement (log lines, JSON when not on a terminal, say it too).
        if line.startswith("session-core listening on "):
            return line.rsplit("listening on ", 1)[1].strip()


async def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "core.json"
    config.write_text(json.dumps({"access_token_validity": 50, "base_path": "/st"}))
    proc = await _serve(
        [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--database",
            f"sqlite:///{tmp_path / 'core.db'}",
            "--config",
            str(config),
            "--access-token-validity",
            "200",
        ],
        {"SESSION_CORE_ACCESS_TOKEN_VALIDITY": "100", "SESSION_CORE_LOG_LEVEL": "debug"},
    )
    try:
        url = await _listening_url(proc)
        assert url.endswith("/st")  # from the file
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/hello")).text == "Hello\n"
            r = await client.post(
                "/recipe/session",
                json={
                    "userId": "u",
                    "userDataInJWT": {},
                    "userDataInDatabase": {},
                    "enableAntiCsrf": False,
                },
            )
            claims = jwt_payload(r.json()["accessToken"]["token"])
            assert claims["exp"] - claims["iat"] == 200  # the flag beats env and file
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_rejects_bad_configuration(tmp_path: Path) -> None:
    proc = await _serve(
        ["--port", "0", "--database", f"sqlite:///{tmp_path / 'c.db'}"],
        {"SESSION_CORE_API_KEYS": "too-short"},
    )
    assert proc.stderr is not None
    stderr = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
    assert await proc.wait() == 2
    assert "invalid configuration" in stderr and "api_keys" in stderr
