"""The service under test as a process of its own (``session-service serve`` on a free port):
its CPU time and RSS read from /proc, and its threads pinned to chosen CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from testkit.processes import free_port

SESSION_SERVICE = Path(sys.executable).with_name("session-service")


@dataclass
class Service:
    address: str
    process: subprocess.Popen[bytes]
    metrics_url: str | None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _process_tree(pid: int) -> list[int]:
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").iterdir():
            tree += [int(child) for child in (task / "children").read_text().split()]
        index += 1
    return tree


def cpu_ns(pid: int) -> int:
    """CPU time so far of every thread of ``pid`` and of its child processes (workers), in
    nanoseconds (schedstat: finer than the 10 ms ticks of /proc/<pid>/stat)."""
    total = 0
    for process in _process_tree(pid):
        for task in Path(f"/proc/{process}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except FileNotFoundError:  # a thread that ended meanwhile
                continue
    return total


class ServerCpu:
    """The CPU time ``pid`` spends inside each of ``windows`` (monotonic start, end), read
    by a thread that wakes at each edge while the load runs."""

    def __init__(self, pid: int, windows: list[tuple[float, float]]) -> None:
        self.pid = pid
        self.windows = windows
        self.per_window: list[int] = []
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        for start, end in self.windows:
            time.sleep(max(0.0, start - time.monotonic()))
            before = cpu_ns(self.pid)
            time.sleep(max(0.0, end - time.monotonic()))
            self.per_window.append(cpu_ns(self.pid) - before)

    def __enter__(self) -> ServerCpu:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._thread.join()


def every_cpu() -> set[int]:
    return set(range(os.cpu_count() or 1))


@contextmanager
def pinned(pid: int, cpus: set[int] | None) -> Iterator[None]:
    """Every thread of ``pid`` and of its children on ``cpus`` (threads started meanwhile
    inherit it from their creator) until the block ends, then on every CPU again.

    Why: the service's threads and the load generator's processes otherwise share both
    cores at the scheduler's whim, and the throughput of the same operation swung by ±30%
    from one second to the next; on separate cores the service is the bottleneck, and it
    is its cost per call that a throughput ratio then compares."""
    if cpus is None:
        yield
        return

    def apply(mask: set[int]) -> None:
        for process in _process_tree(pid):
            for task in Path(f"/proc/{process}/task").iterdir():
                try:
                    os.sched_setaffinity(int(task.name), mask)
                except (ProcessLookupError, FileNotFoundError):  # a thread that ended
                    continue

    apply(cpus)
    try:
        yield
    finally:
        apply(every_cpu())


class RssSampler:
    """The highest RSS of a process, sampled every 50 ms while active."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _wait_serving(address: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"session-service exited with {process.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError("session-service did not become SERVING")


@contextmanager
def service_process(
    core_url: str,
    *flags: str,
    metrics: bool = False,
    under: Sequence[str] = (),
    start_timeout: float = 60,
) -> Iterator[Service]:
    """``session-service serve`` against ``core_url`` on a free port; ``under``: a command
    it runs under (a profiler), ``start_timeout`` seconds for it to become SERVING."""
    port = free_port()
    metrics_port = free_port() if metrics else None
    command = [
        *under,
        str(SESSION_SERVICE),
        "serve",
        "--core-url",
        core_url,
        "--port",
        str(port),
        "--log-level",
        "warning",
        *flags,
    ]
    if metrics_port is not None:
        command += ["--metrics-port", str(metrics_port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        _wait_serving(address, process, start_timeout)
        url = f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else None
        yield Service(address, process, url)
    finally:
        process.terminate()
        process.wait(timeout=60)
