"""Durability: ``kill -9`` of a real ``session-core`` process in the middle of a create and
refresh load through the service; after a restart on the same database every session whose
creation was acknowledged exists and refreshes with the last acknowledged refresh token.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from tests.reliability import STATS
from tests.service.conftest import MakeService
from tests.service.harness import NOT_SERVING, SERVING, free_port, health_watch

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 8
ACKED_BEFORE_KILL = 60


def _start_core(port: int, database_url: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "session_core.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database",
            database_url,
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.slow
async def test_acknowledged_sessions_survive_kill_9_of_the_core(
    make_service: MakeService, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    core = _start_core(port, database_url, tmp_path)
    latest: dict[str, str] = {}  # session handle -> last acknowledged refresh token
    acked = asyncio.Condition()
    stop = asyncio.Event()
    try:
        service = await make_service(core_url=f"http://127.0.0.1:{port}", core_timeout_seconds=2)
        async with (
            SessionClient.insecure(service.address, timeout=5) as client,
            grpc.aio.insecure_channel(service.address) as channel,
            health_watch(channel) as watch,
        ):
            await watch.wait_for(SERVING, within_seconds=60)

            async def worker(n: int) -> None:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        created = await client.create_session(f"w{n}-{i}")
                        handle = created.session.session_handle
                        async with acked:
                            latest[handle] = created.refresh_token.token
                            acked.notify_all()
                        refreshed = await client.refresh_session(latest[handle])
                        if refreshed.refresh_token is not None:
                            latest[handle] = refreshed.refresh_token.token
                    except grpc.aio.AioRpcError as exc:
                        # While the core is dead: UNAVAILABLE, never anything else.
                        assert exc.code() is grpc.StatusCode.UNAVAILABLE, exc.details()
                        await watch_ready.wait()

            watch_ready = asyncio.Event()
            watch_ready.set()
            load = [asyncio.create_task(worker(n)) for n in range(WORKERS)]
            async with acked:
                await acked.wait_for(lambda: len(latest) >= ACKED_BEFORE_KILL)
            watch_ready.clear()
            core.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
            assert core.wait(timeout=30) == -signal.SIGKILL
            STATS["faults injected"] += 1
            await watch.wait_for(NOT_SERVING)

            core = _start_core(port, database_url, tmp_path)
            await watch.wait_for(SERVING, within_seconds=60)
            watch_ready.set()
            async with acked:  # the load resumes on the restarted core
                target = len(latest) + WORKERS
                await acked.wait_for(lambda: len(latest) >= target)
            stop.set()
            await asyncio.gather(*load)

            for handle, refresh_token in latest.items():
                info = await client.get_session_information(handle)
                refreshed = await client.refresh_session(refresh_token)
                lost = info.status is not SessionStatus.OK or (
                    refreshed.status is not SessionStatus.OK
                )
                STATS["sessions checked after crashes"] += 1
                STATS["sessions lost"] += lost
                assert not lost, (handle, info.status, refreshed.status)
    finally:
        stop.set()
        if core.poll() is None:
            core.terminate()
            core.wait(timeout=30)
