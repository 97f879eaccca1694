"""Durability: ``kill -9`` in the middle of a create and refresh load, of a real
``session-core`` process behind the service, and of ``session-service serve`` with its
embedded core; after a restart on the same database every session whose creation was
acknowledged exists and refreshes with the last acknowledged refresh token. On SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path

import asyncpg
import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_service.settings import SettingsError, load_settings
from testkit.processes import start_core_process
from tests.reliability import STATS
from tests.service.conftest import MakeService
from tests.service.harness import NOT_SERVING, SERVING, free_port, health_watch
from tests.service.serve_process import running_service, wait_serving

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 8
ACKED_BEFORE_KILL = 60


@pytest.mark.slow
async def test_acknowledged_sessions_survive_kill_9_of_the_core(
    make_service: MakeService, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    core = start_core_process(port, database_url, tmp_path)
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

            core = start_core_process(port, database_url, tmp_path)
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


async def _stored_handles(backend: str, database_url: str, data_dir: Path) -> set[str]:
    query = "SELECT session_handle FROM session_info"
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(data_dir / "core.db")) as db:
            return {row[0] for row in db.execute(query)}
    connection = await asyncpg.connect(database_url)
    try:
        return {row[0] for row in await connection.fetch(query)}
    finally:
        await connection.close()


async def _create_and_refresh(
    client: SessionClient,
    name: str,
    latest: dict[str, str],
    acked: asyncio.Condition,
    stop: asyncio.Event,
    failures: list[grpc.StatusCode],
) -> None:
    """Create sessions and refresh each twice (a refresh of the current token, then of its
    child, which promotes it), keeping the newest acknowledged refresh token per session,
    until ``stop`` or the first failed call."""
    try:
        for i in range(1_000_000):
            if stop.is_set():
                return
            created = await client.create_session(f"{name}-{i}")
            handle = created.session.session_handle
            async with acked:
                latest[handle] = created.refresh_token.token
                acked.notify_all()
            for _ in range(2):
                refreshed = await client.refresh_session(latest[handle])
                assert refreshed.status is SessionStatus.OK, refreshed.status
                assert refreshed.refresh_token is not None
                latest[handle] = refreshed.refresh_token.token
    except grpc.aio.AioRpcError as exc:
        failures.append(exc.code())


@pytest.mark.slow
async def test_acknowledged_sessions_survive_kill_9_of_the_embedded_service(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    """``session-service serve`` with its embedded core (SQLite under --data-dir, or
    PostgreSQL through --core-database) is killed with SIGKILL mid-load and started again
    on the same data. Every session whose creation was acknowledged exists, and refreshes
    with the newest refresh token the client was given: by the rotation rules (a refresh
    token stays current until one of its children is promoted) a refresh whose answer was
    lost either changed nothing or promoted that very token, so it is still the session's
    current token or its unpromoted child, never a stolen ancestor."""
    # SQLite: the default core.db under --data-dir; PostgreSQL: a fresh database.
    database = () if backend == "sqlite" else ("--core-database", database_url)
    port = free_port()
    address = f"127.0.0.1:{port}"
    latest: dict[str, str] = {}  # session handle -> newest acknowledged refresh token
    acked = asyncio.Condition()
    failures: list[grpc.StatusCode] = []

    async with running_service(port, tmp_path / "data", *database) as service:
        await wait_serving(address)
        async with SessionClient.insecure(address, timeout=10) as client:
            stop = asyncio.Event()
            load = [
                asyncio.create_task(
                    _create_and_refresh(client, f"a{n}", latest, acked, stop, failures)
                )
                for n in range(WORKERS)
            ]
            async with acked:
                await acked.wait_for(lambda: len(latest) >= ACKED_BEFORE_KILL)
            service.process.send_signal(signal.SIGKILL)  # calls are in flight
            assert await service.exit_code() == -signal.SIGKILL
            async with asyncio.timeout(30):
                await asyncio.gather(*load)
    STATS["faults injected"] += 1
    # Every worker was cut off by the kill, and saw it as UNAVAILABLE.
    assert failures == [grpc.StatusCode.UNAVAILABLE] * WORKERS

    async with running_service(port, tmp_path / "data", *database) as service:
        await wait_serving(address)
        async with SessionClient.insecure(address, timeout=10) as client:
            stop = asyncio.Event()
            load = [
                asyncio.create_task(
                    _create_and_refresh(client, f"b{n}", latest, acked, stop, failures)
                )
                for n in range(WORKERS)
            ]
            async with acked:  # the load goes on after the restart
                target = len(latest) + WORKERS
                await acked.wait_for(lambda: len(latest) >= target)
            stop.set()
            await asyncio.gather(*load)
            assert len(failures) == WORKERS

            for handle, refresh_token in latest.items():
                info = await client.get_session_information(handle)
                refreshed = await client.refresh_session(refresh_token)
                lost = (
                    info.status is not SessionStatus.OK
                    or refreshed.status is not SessionStatus.OK
                    or refreshed.session is None
                    or refreshed.session.session_handle != handle
                )
                STATS["sessions checked after crashes"] += 1
                STATS["sessions lost"] += lost
                assert not lost, (handle, info.status, refreshed.status)
        service.process.send_signal(signal.SIGTERM)
        assert await service.exit_code() == 0, service.log
    # And they are where the flags put them: core.db under --data-dir, or PostgreSQL.
    assert set(latest) <= await _stored_handles(backend, database_url, tmp_path / "data")


def test_core_database_is_only_for_the_embedded_core() -> None:
    """``--core-database`` (or its variable) picks the embedded core's database; it makes no
    sense with ``--core-url``, and a wrong URL is named without echoing its password."""
    url = "postgresql://sessions:s3cret@127.0.0.1:5432/sessions"
    assert load_settings(env={"SESSION_SERVICE_CORE_DATABASE": url}).core_database == url
    with pytest.raises(SettingsError, match="--core-database is for the embedded core"):
        load_settings({"core_url": "http://127.0.0.1:3567", "core_database": url}, env={})
    with pytest.raises(SettingsError, match="must start with sqlite:// or postgresql://") as raised:
        load_settings({"core_database": "mysql://sessions:s3cret@127.0.0.1/sessions"}, env={})
    assert "s3cret" not in str(raised.value)
    assert "s3cret" not in repr(load_settings({"core_database": url}, env={}))
