"""``session-service serve --workers N``: N serving processes on one port, for all cores.

One Python process serves RPCs on one core, so N processes share the port: the parent
reserves it with an ``SO_REUSEPORT`` socket and forks the workers before any gRPC object
exists in it (gRPC's C core does not survive a fork once it has started, grpc/grpc#16001),
and each worker is the ordinary single-process service bound to that port with
``grpc.so_reuseport=1``. The kernel spreads *connections* over the workers, not RPCs: one
client channel stays on one worker, so a client that wants every worker needs several
channels (or a proxy that balances per RPC).

Without ``--core-url`` the embedded core runs once, in a process of its own forked first,
and every worker uses it with the API key all of them inherit from the parent's memory.
SIGTERM or SIGINT to the parent drains every worker (each stops gracefully, as a single
process does) and then stops the core; SIGHUP is passed on (API key reload). A worker or
the core that exits on its own brings the whole group down with status 1, so the process
manager restarts it whole instead of it running short-handed; a parent that dies without
stopping them (kill -9, a crash) takes them along within ``ORPHAN_EXIT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

import uvloop

from session_service.embedded_core import (
    embedded_core_key,
    start_embedded_core,
    using_embedded_core,
)
from session_service.settings import ListenError, Settings, SettingsError
from session_service.transport.listening import check_port_free

logger = logging.getLogger("session_service.workers")

# Fork, not spawn: workers must start from the parent's configured state, and nothing in
# the parent runs threads or gRPC at that point.
_FORK = multiprocessing.get_context("fork")
# Beyond each worker's own grace period, how long the parent waits before killing it.
_STOP_MARGIN_SECONDS = 30.0
# How long a child whose parent died may take to stop gracefully before it exits anyway.
ORPHAN_EXIT_SECONDS = 1.0


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) an SO_REUSEPORT socket so the port stays ours, and every
    worker can bind it too; port 0 picks a free one. Raises ``ListenError``.

    SO_REUSEPORT alone would also join listeners that another instance of the same user
    holds (a running one, or workers a killed parent left behind), and the kernel would
    split connections between the generations. So the port is first checked with a bind
    without it (``check_port_free``), and reserved right after.
    """
    family, address = check_port_free(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run_workers(settings: Settings, serve_one: Callable[[Settings], int]) -> int:
    """Run ``settings.workers`` copies of ``serve_one`` (the single-process service)."""
    reserved_sockets: list[socket.socket] = []
    try:
        reserved = reserve_port(settings.host, settings.port)
        reserved_sockets.append(reserved)
        if settings.http_port is not None:
            # The HTTP edge's port is shared the same way.
            http = reserve_port(settings.http_host or settings.host, settings.http_port)
            reserved_sockets.append(http)
            settings = dataclasses.replace(settings, http_port=int(http.getsockname()[1]))
    except ListenError as exc:
        for sock in reserved_sockets:
            sock.close()
        print(f"session-service: {exc}", file=sys.stderr)
        return 2
    port = int(reserved.getsockname()[1])
    wakeup_read, wakeup_write = socket.socketpair()
    # Every child holds the read end and watches it; only this process holds the write end.
    alive = os.pipe()
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    requested: list[int] = []
    core: BaseProcess | None = None
    workers: list[BaseProcess] = []
    try:
        # Signals are only recorded here and acted on in the loop below (the wakeup
        # socket ends the wait); the children reset them.
        for signum in (*stop_signals, signal.SIGHUP):
            signal.signal(signum, lambda signum, _frame: requested.append(signum))
        wakeup_write.setblocking(False)
        signal.set_wakeup_fd(wakeup_write.fileno())
        worker_settings = dataclasses.replace(settings, port=port)
        if settings.embedded_core:
            core_key = embedded_core_key()
            core, core_url = _start_core_process(settings, core_key, alive)
            if isinstance(core_url, SettingsError):
                print(f"session-service: {core_url}", file=sys.stderr)
                return 2
            if core_url is None:
                return 1
            worker_settings = using_embedded_core(worker_settings, core_url, core_key)
        for index in range(settings.workers):
            worker = _FORK.Process(
                target=_worker_main,
                args=(_numbered(worker_settings, index), serve_one, alive),
                name=f"session-service-worker-{index}",
            )
            worker.start()
            workers.append(worker)
        logger.info(
            "%d workers (pids %s) sharing %s:%d; connections are balanced, not RPCs",
            len(workers),
            ", ".join(str(w.pid) for w in workers),
            settings.host,
            port,
        )
        return _supervise(workers, core, requested, wakeup_read, settings.grace_period_seconds)
    finally:
        signal.set_wakeup_fd(-1)
        _stop_all(workers, core, settings.grace_period_seconds)
        for sock in (*reserved_sockets, wakeup_read, wakeup_write):
            sock.close()
        for fd in alive:
            os.close(fd)


def _numbered(settings: Settings, index: int) -> Settings:
    """Worker ``index`` serves metrics on ``metrics_port + index`` (0 stays "any port")."""
    if not settings.metrics_port:
        return settings
    return dataclasses.replace(settings, metrics_port=settings.metrics_port + index)


def _supervise(
    workers: list[BaseProcess],
    core: BaseProcess | None,
    requested: list[int],
    wakeup: socket.socket,
    grace: float,
) -> int:
    """Wait for a stop signal (pass it on) or for a child to exit on its own (fail)."""
    children = [*workers, *([core] if core is not None else [])]
    while True:
        while requested:
            signum = requested.pop(0)
            if signum == signal.SIGHUP:
                for worker in workers:
                    _send(worker, signal.SIGHUP)
                continue
            logger.info("shutdown requested; draining %d workers", len(workers))
            _stop_all(workers, core, grace)
            failed = [w.name for w in workers if w.exitcode != 0]
            if failed:
                logger.error("workers exited with an error: %s", ", ".join(failed))
            return 1 if failed else 0
        for child in children:
            if child.exitcode is not None:
                logger.error(
                    "%s (pid %s) exited on its own with status %s; stopping the others",
                    child.name,
                    child.pid,
                    child.exitcode,
                )
                return 1
        if wakeup in wait([wakeup, *(child.sentinel for child in children)]):
            wakeup.recv(64)


def _stop_all(workers: list[BaseProcess], core: BaseProcess | None, grace: float) -> None:
    """Drain the workers (in parallel), then stop the core they were using."""
    for worker in workers:
        _send(worker, signal.SIGTERM)
    for worker in workers:
        _join(worker, grace + _STOP_MARGIN_SECONDS)
    if core is not None:
        _send(core, signal.SIGTERM)
        _join(core, _STOP_MARGIN_SECONDS)


def _send(process: BaseProcess, signum: int) -> None:
    if process.exitcode is None and process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)


def _join(process: BaseProcess, timeout: float) -> None:
    process.join(timeout)
    if process.exitcode is None:
        logger.error("%s (pid %s) did not stop in time; killing it", process.name, process.pid)
        process.kill()
        process.join()


def _worker_main(
    settings: Settings, serve_one: Callable[[Settings], int], alive: tuple[int, int]
) -> None:
    _reset_signals()
    _exit_with_parent(alive)
    raise SystemExit(serve_one(settings))


def _exit_with_parent(alive: tuple[int, int]) -> None:
    """Stop this child when the parent dies, however it dies (kill -9 included): the kernel
    then closes the parent's write end of the ``alive`` pipe and a read of it returns EOF.
    The child is asked to stop gracefully (SIGTERM, as the parent would) and exits anyway
    after ``ORPHAN_EXIT_SECONDS``, so no orphan keeps serving or holding a port.

    A pipe rather than Linux's ``PR_SET_PDEATHSIG``: it works on every platform, does not
    depend on which thread of the parent forked, and lets the child drain first. A parent
    that died before this point still counts: the read only ends once every copy of the
    write end, this child's included, is closed.
    """
    read_end, write_end = alive
    os.close(write_end)  # this child's copy; the parent's is the only one left

    def watch() -> None:
        while os.read(read_end, 1):  # nobody writes; b"" means every writer is gone
            pass
        logger.error("the parent process died; stopping")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_EXIT_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_core_process(
    settings: Settings, api_key: str, alive: tuple[int, int]
) -> tuple[BaseProcess, str | SettingsError | None]:
    """Fork the embedded core's process (accepting only ``api_key``, which the fork hands
    over in memory); returns it and its URL, or the configuration error that stopped it (its
    database cannot be opened), or None if it failed otherwise."""
    receive, send = _FORK.Pipe(duplex=False)
    process = _FORK.Process(
        target=_core_main, args=(settings, api_key, send, alive), name="session-service-core"
    )
    process.start()
    send.close()
    try:
        url: str | SettingsError | None = receive.recv()
    except EOFError:
        url = None
    receive.close()
    if url is None:
        logger.error("the embedded core did not start")
    return process, url


def _core_main(
    settings: Settings, api_key: str, report: Connection, alive: tuple[int, int]
) -> None:
    _reset_signals()
    _exit_with_parent(alive)
    # Ctrl-C reaches the whole process group; the core must outlive the workers' drain,
    # so only the parent's SIGTERM stops it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    uvloop.run(_serve_core(settings, api_key, report))


async def _serve_core(settings: Settings, api_key: str, report: Connection) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        core = await start_embedded_core(settings, None, api_key)
    except SettingsError as exc:
        report.send(exc)  # the parent reports it as the service does: one line, status 2
        return
    try:
        report.send(core.url)
        report.close()
        await stop.wait()
    finally:
        await core.stop()


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
