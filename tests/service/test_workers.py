"""``session-service serve --workers 2`` as a user runs it: two serving processes on one
port plus one embedded core, connections spread over both workers, one SIGTERM drains all.

Which process answers is read from the kernel, not from timing: after an RPC on a channel
has been answered, that channel's accepted socket is in one worker's file table, and
/proc says whose (``/proc/<pid>/fd`` links to ``socket:[inode]``, ``/proc/net/tcp`` maps
inodes to ports and states).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from session_client import SessionClient, SessionStatus

from session_core.app import start_core
from session_core.config import CoreConfig
from tests.reliability import STATS
from tests.service.harness import SERVING, GatedProxy, free_port, health_watch
from tests.service.process_tree import (
    ESTABLISHED,
    LISTEN,
    children,
    is_alive,
    listening,
    owners,
    tcp_sockets,
    tree,
)
from tests.service.serve_process import ServiceProcess, running_service, wait_serving

SESSION_SERVICE = Path(sys.executable).with_name("session-service")
MAX_CHANNELS = 64  # each new connection lands on either worker: 2**-63 to miss one
ORPHAN_DEADLINE_SECONDS = 2.0
IN_USE = os.strerror(errno.EADDRINUSE)


async def test_two_workers_share_the_port_and_one_core(tmp_path: Path) -> None:
    """The HTTP edge's port (--http-port) is shared the same way."""
    port = free_port()
    http_port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(SESSION_SERVICE),
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        "--http-port",
        str(http_port),
        "--data-dir",
        str(tmp_path / "data"),
        "--health-check-interval-seconds",
        "0.1",
        "--grace-period-seconds",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    channels: list[grpc.aio.Channel] = []
    try:
        first = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        channels.append(first)
        async with asyncio.timeout(60):
            await first.channel_ready()
        async with health_watch(first) as watch:
            await watch.wait_for(SERVING)
        created = await SessionClient(first).create_session("worker-user", {"n": 1})
        token = created.session.access_token

        # Parent + one core process + two workers; only the workers listen on the port.
        pids = children(process.pid)
        assert len(pids) == 3
        listening = owners(pids, port, LISTEN)
        workers = [pid for pid, count in listening.items() if count]
        assert len(workers) == 2
        assert all(listening[pid] == 1 for pid in workers)
        http_listening = owners(pids, http_port, LISTEN)
        assert sorted(pid for pid, count in http_listening.items() if count) == sorted(workers)
        async with httpx.AsyncClient(trust_env=False) as http:
            verified = await http.get(
                f"http://127.0.0.1:{http_port}/verify", headers={"authorization": f"Bearer {token}"}
            )
        assert verified.status_code == 200
        assert verified.headers["x-session-user-id"] == "worker-user"

        # Separate connections (a local subchannel pool per channel) until both workers
        # hold one; every channel gets answers from the one shared core.
        while True:
            channel = grpc.aio.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
            )
            channels.append(channel)
            checked = await SessionClient(channel).get_session(token, check_database=True)
            assert checked.status is SessionStatus.OK
            assert checked.session is not None and checked.session.user_id == "worker-user"
            established = owners(workers, port, ESTABLISHED)
            if all(established.values()) or len(channels) > MAX_CHANNELS:
                break
        assert all(established.values()), established
        assert sum(established.values()) == len(channels)
    finally:
        for channel in channels:
            await channel.close()

    process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(60):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = output.decode(errors="replace")
    assert process.returncode == 0, log
    assert children(process.pid) == []
    assert log.count("session service stopped") == 2
    assert (tmp_path / "data" / "core.db").exists()


async def test_workers_refuse_a_port_in_use(tmp_path: Path) -> None:
    """A port held by another listener fails the start (one line, status 2)."""
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        refused = await ServiceProcess.start(
            port, tmp_path / "data", "--workers", "2", "--core-url", "http://127.0.0.1:9"
        )
        assert await refused.exit_code() == 2, refused.log
    finally:
        server.close()
        await server.wait_closed()
    assert refused.lines == [f"session-service: cannot listen on 127.0.0.1:{port}: {IN_USE}\n"]


async def test_a_second_generation_never_shares_the_port(tmp_path: Path) -> None:
    """Another instance's workers listen with SO_REUSEPORT, which would let a new instance
    bind the same port and split the connections with it: the new one is refused instead."""
    port = free_port()
    async with running_service(port, tmp_path / "first", "--workers", "2") as first:
        await wait_serving(f"127.0.0.1:{port}")
        first_tree = tree(first.process.pid)
        async with running_service(port, tmp_path / "second", "--workers", "2") as second:
            assert await second.exit_code() == 2, second.log
        assert second.lines == [f"session-service: cannot listen on 127.0.0.1:{port}: {IN_USE}\n"]
        # Every listener on the port is one of the first instance's two workers.
        listeners = {s.inode for s in tcp_sockets() if s.port == port and s.state == LISTEN}
        assert listeners == {s.inode for s in listening(first_tree) if s.port == port}
        assert len(listeners) == 2
        first.process.send_signal(signal.SIGTERM)
        assert await first.exit_code() == 0, first.log


async def kill_parent_and_wait_for_the_tree(service: ServiceProcess, pids: list[int]) -> float:
    """kill -9 the parent of ``pids``; the seconds until no process of the tree runs and no
    port it listened on is held (fails after ``ORPHAN_DEADLINE_SECONDS``)."""
    ports = {s.port for s in listening(pids)}
    service.process.kill()
    killed = time.monotonic()
    left, held = pids, ports
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ORPHAN_DEADLINE_SECONDS):
            while left or held:
                await asyncio.sleep(0.01)
                left = [pid for pid in pids if is_alive(pid)]
                held = {s.port for s in tcp_sockets() if s.port in ports and s.state == LISTEN}
    gone_after = time.monotonic() - killed
    assert (left, held) == ([], set()), f"after {gone_after:.2f} s"
    STATS["process trees gone after kill -9 of the parent"] += 1
    print(f"processes: {len(pids)}, ports: {len(ports)}, all gone after {gone_after:.2f} s")
    assert await service.exit_code() == -signal.SIGKILL
    return gone_after


@contextlib.asynccontextmanager
async def reaped(service: ServiceProcess, pids: list[int]) -> AsyncIterator[None]:
    """A failed run must not leave orphans behind: kill whatever of ``pids`` is left."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await service.close()


async def test_the_whole_tree_exits_when_the_parent_is_killed(tmp_path: Path) -> None:
    """kill -9 of the parent: both workers and the embedded core stop (they watch a pipe
    only the parent writes to) and every port they held is free within 2 s."""
    port = free_port()
    service = await ServiceProcess.start(
        port, tmp_path / "data", "--workers", "2", "--metrics-port", "0"
    )
    pids: list[int] = []
    async with reaped(service, pids):
        await wait_serving(f"127.0.0.1:{port}")
        pids += tree(service.process.pid)
        assert len(pids) == 4 and len(listening(pids)) == 5  # gRPC x2, core, 2 metrics
        await kill_parent_and_wait_for_the_tree(service, pids)
        # A restart can take the port at once. SO_REUSEADDR as servers set it (gRPC does):
        # the killed side's TIME_WAIT connections do not count, a listener left behind does
        # (its SO_REUSEPORT is not shared by this socket).
        with socket.socket() as restart:
            restart.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            restart.bind(("127.0.0.1", port))
        assert service.log.count("the parent process died; stopping") == 3


async def test_a_worker_with_a_call_in_flight_exits_too(tmp_path: Path, sqlite_url: str) -> None:
    """A worker whose graceful drain would wait for a hung core call (grace 30 s) still
    exits within 2 s of the parent's death; the caller sees the connection go."""
    core = await start_core(CoreConfig(host="127.0.0.1", port=0, database=sqlite_url))
    proxy = GatedProxy(core.url, "/recipe/session")
    await proxy.start()
    port = free_port()
    flags = ("--workers", "2", "--core-url", proxy.url, "--grace-period-seconds", "30")
    service = await ServiceProcess.start(port, tmp_path / "data", *flags)
    pids: list[int] = []
    try:
        async with reaped(service, pids):
            await wait_serving(f"127.0.0.1:{port}")
            pids += tree(service.process.pid)
            assert len(pids) == 3
            async with SessionClient.insecure(f"127.0.0.1:{port}", timeout=60) as client:
                call = asyncio.create_task(client.create_session("in-flight"))
                async with asyncio.timeout(30):
                    await proxy.arrived.wait()
                await kill_parent_and_wait_for_the_tree(service, pids)
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await call
                assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await proxy.stop()
        await core.stop()
