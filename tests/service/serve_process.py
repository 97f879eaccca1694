"""``session-service serve`` (or ``session-core serve``) as a user runs it, for the tests
that need a real process (CLI, shutdown, crash, logs): start it, read its log as it is
written, wait for SERVING."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import grpc

from tests.service.harness import SERVING, health_watch
from tests.service.process_tree import tree

SESSION_SERVICE = Path(sys.executable).with_name("session-service")
SESSION_CORE = Path(sys.executable).with_name("session-core")
EXIT_WAIT_SECONDS = 60


class ServiceProcess:
    """``session-service serve`` as a user runs it: a subprocess whose log (stdout and
    stderr) is read as it is written, so tests can wait for a line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._new_line = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        port: int,
        data_dir: Path,
        *flags: str,
        command: Path = SESSION_SERVICE,
        env: Mapping[str, str] | None = None,
    ) -> ServiceProcess:
        """``command serve`` (by default the project environment's ``session-service``);
        ``env`` is added to the environment."""
        return await cls.run(
            command,
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--health-check-interval-seconds",
            "0.1",
            *flags,
            env=env,
        )

    @classmethod
    async def run(
        cls, program: Path, *args: str, env: Mapping[str, str] | None = None
    ) -> ServiceProcess:
        process = await asyncio.create_subprocess_exec(
            str(program),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            async with self._new_line:
                self.lines.append(raw.decode(errors="replace"))
                self._new_line.notify_all()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def wait_for_line(
        self, pattern: re.Pattern[str], within_seconds: float = 60
    ) -> re.Match[str]:
        """The first log line matching ``pattern``, waiting for it to be written."""
        async with asyncio.timeout(within_seconds), self._new_line:
            while True:
                for line in self.lines:
                    if match := pattern.search(line):
                        return match
                await self._new_line.wait()

    def find(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """The first log line matching ``pattern`` (fails the test if there is none)."""
        for line in self.lines:
            if match := pattern.search(line):
                return match
        raise AssertionError(f"no log line matches {pattern.pattern!r}:\n{self.log}")

    async def exit_code(self, within_seconds: float = EXIT_WAIT_SECONDS) -> int:
        async with asyncio.timeout(within_seconds):
            code = await self.process.wait()
            await self._reader
        return code

    async def close(self) -> None:
        """Kill the process and its children (``--workers``) if a failed test left them
        running: children still holding the output pipe would keep the reader waiting."""
        if self.process.returncode is None:
            for pid in tree(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await self.process.wait()
        await self._reader


@contextlib.asynccontextmanager
async def running_service(
    port: int,
    data_dir: Path,
    *flags: str,
    command: Path = SESSION_SERVICE,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[ServiceProcess]:
    service = await ServiceProcess.start(port, data_dir, *flags, command=command, env=env)
    try:
        yield service
    finally:
        await service.close()


async def wait_serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        async with asyncio.timeout(60):
            await channel.channel_ready()
        async with health_watch(channel) as watch:
            await watch.wait_for(SERVING, within_seconds=60)
