"""``session-service serve --workers 2`` as a user runs it: two serving processes on one
port plus one embedded core, connections spread over both workers, one SIGTERM drains all.

Which process answers is read from the kernel, not from timing: after an RPC on a channel
has been answered, that channel's accepted socket is in one worker's file table, and
/proc says whose (``/proc/<pid>/fd`` links to ``socket:[inode]``, ``/proc/net/tcp`` maps
inodes to ports and states).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import grpc
from session_client import SessionClient, SessionStatus

from tests.service.harness import SERVING, free_port, health_watch
from tests.service.process_tree import ESTABLISHED, LISTEN, children, owners

SESSION_SERVICE = Path(sys.executable).with_name("session-service")
MAX_CHANNELS = 64  # each new connection lands on either worker: 2**-63 to miss one


async def test_two_workers_share_the_port_and_one_core(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(SESSION_SERVICE),
        "serve",
        "--workers",
        "2",
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
    """A port held by another listener fails the start (status 1) instead of sharing it."""
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        process = await asyncio.create_subprocess_exec(
            str(SESSION_SERVICE),
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--core-url",
            "http://127.0.0.1:9",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(60):
            output, _ = await process.communicate()
    finally:
        server.close()
        await server.wait_closed()
    assert process.returncode == 1, output.decode(errors="replace")
    assert b"cannot listen" in output
