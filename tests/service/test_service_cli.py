"""The ``session-service`` command as a user runs it: a real subprocess with the embedded
core, health over gRPC, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import grpc
from session_client import SessionClient, SessionStatus

from tests.service.harness import SERVING, free_port, health_watch

SESSION_SERVICE = Path(sys.executable).with_name("session-service")


async def test_serve_with_the_embedded_core_then_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(SESSION_SERVICE),
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        "--health-check-interval-seconds",
        "0.1",
        "--grace-period-seconds",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            async with asyncio.timeout(30):
                await channel.channel_ready()
            async with health_watch(channel) as watch:
                await watch.wait_for(SERVING)
            client = SessionClient(channel)
            created = await client.create_session("cli-user", {"role": "admin"})
            verified = await client.get_session(created.session.access_token)
            assert verified.status is SessionStatus.OK
            assert verified.session is not None
            assert verified.session.access_token_payload["role"] == "admin"

        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode(errors="replace")
    assert (tmp_path / "data" / "core.db").exists()
    assert created.session.access_token.encode() not in output
    assert created.refresh_token.token.encode() not in output


async def test_python_dash_m_reports_a_bad_flag_by_name() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "session_service",
        "serve",
        "--port",
        "not-a-port",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert b"--port" in stderr
