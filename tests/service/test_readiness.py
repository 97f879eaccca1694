"""A service that is not ready says why: each cause (no core at --core-url, an API key the
core refuses or lacks, a core without CDI 2.21, no signing keys) is logged as a WARNING when
it starts, again at a slow interval while it lasts, and exposed as the ``cause`` label of
``session_service_not_ready``; recovery is logged as SERVING.

The cores are real (the project's core on a real socket, with and without API keys); the
incompatible and key-less cores are small aiohttp servers in the test, standing in for
other vendors' cores, which are not ours.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from session_core.app import start_core
from session_core.config import CoreConfig
from session_service.transport import readiness
from session_service.transport.readiness import NOT_READY_CAUSES
from tests.service.conftest import MakeService
from tests.service.harness import Samples, free_port, scrape, value
from tests.service.serve_process import running_service
from tests.service.test_metrics import service_metrics_url

CORE_KEY = "readiness-core-key-0123456789"


class ReadinessLog(logging.Handler):
    """The service's ``readiness:`` log records, with a wait for the ones a test expects."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._new = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("readiness:"):
            self.records.append(record)
            self._new.set()

    def matching(self, pattern: str) -> list[logging.LogRecord]:
        return [r for r in self.records if re.search(pattern, r.getMessage())]

    async def wait_for(
        self, pattern: str, count: int = 1, within_seconds: float = 30
    ) -> list[logging.LogRecord]:
        async with asyncio.timeout(within_seconds):
            while len(found := self.matching(pattern)) < count:
                self._new.clear()
                await self._new.wait()
        return found


@pytest.fixture
def readiness_log() -> Iterator[ReadinessLog]:
    logger = logging.getLogger("session_service.server")
    handler, level = ReadinessLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def assert_cause(samples: Samples, cause: str | None) -> None:
    assert value(samples, "session_service_ready") == (1 if cause is None else 0)
    for name in NOT_READY_CAUSES:
        expected = 1 if name == cause else 0
        assert value(samples, "session_service_not_ready", cause=name) == expected, name


@pytest.fixture
async def fake_core() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Serve an aiohttp application on 127.0.0.1 (a core that is not ours); yields a
    starter returning its URL."""
    runners: list[web.AppRunner] = []

    async def serve(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield serve
    for runner in runners:
        await runner.cleanup()


async def test_no_core_at_the_url_is_named_until_one_answers(
    make_service: MakeService, readiness_log: ReadinessLog, tmp_path: Path
) -> None:
    port = free_port()
    service = await make_service(core_url=f"http://127.0.0.1:{port}", metrics_port=0)
    (warning,) = await readiness_log.wait_for(r"NOT_SERVING \(core_unavailable\)")
    assert warning.levelno == logging.WARNING
    assert "cannot use the session core (--core-url): no session core available" in (
        warning.getMessage()
    )
    assert service.readiness.cause == "core_unavailable"
    assert_cause(await scrape(service_metrics_url(service)), "core_unavailable")

    core = await start_core(
        CoreConfig(host="127.0.0.1", port=port, database=f"sqlite:///{tmp_path / 'c.db'}")
    )
    try:
        (serving,) = await readiness_log.wait_for(r"^readiness: SERVING$")
        assert serving.levelno == logging.INFO
        assert service.readiness.cause is None
        assert_cause(await scrape(service_metrics_url(service)), None)
    finally:
        await core.stop()
    await readiness_log.wait_for(r"NOT_SERVING \(core_unavailable\)", count=2)


@pytest.mark.parametrize(
    ("service_key", "explanation"),
    [
        (None, "the session core requires an API key: set --core-api-key"),
        ("a-wrong-key-for-this-core-0123", "the session core refused --core-api-key"),
        (CORE_KEY, None),
    ],
    ids=["missing", "wrong", "right"],
)
async def test_an_api_key_the_core_refuses_is_named(
    make_service: MakeService,
    readiness_log: ReadinessLog,
    sqlite_url: str,
    service_key: str | None,
    explanation: str | None,
) -> None:
    core = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url, api_keys=(CORE_KEY,))
    )
    try:
        service = await make_service(core_url=core.url, core_api_key=service_key, metrics_port=0)
        if explanation is None:
            await readiness_log.wait_for(r"^readiness: SERVING$")
            # A normal start (keys still being fetched at the first check) warns of nothing.
            assert readiness_log.matching("NOT_SERVING") == []
            assert_cause(await scrape(service_metrics_url(service)), None)
            return
        (warning,) = await readiness_log.wait_for(r"NOT_SERVING \(core_api_key_rejected\)")
        assert warning.levelno == logging.WARNING
        assert explanation in warning.getMessage()
        assert_cause(await scrape(service_metrics_url(service)), "core_api_key_rejected")
        assert all(
            service_key is None or service_key not in r.getMessage() for r in readiness_log.records
        )
    finally:
        await core.stop()


async def test_a_core_without_cdi_2_21_is_named(
    make_service: MakeService,
    readiness_log: ReadinessLog,
    fake_core: Callable[[web.Application], Awaitable[str]],
) -> None:
    async def api_version(_: web.Request) -> web.Response:
        return web.json_response({"versions": ["2.8", "3.0"]})

    app = web.Application()
    app.router.add_get("/apiversion", api_version)
    service = await make_service(core_url=await fake_core(app), metrics_port=0)
    (warning,) = await readiness_log.wait_for(r"NOT_SERVING \(core_incompatible\)")
    assert warning.getMessage().endswith(
        "the session core is not compatible with this service: it offers CDI 2.8, 3.0, the "
        "service needs 2.21"
    )
    assert_cause(await scrape(service_metrics_url(service)), "core_incompatible")


async def test_a_core_whose_signing_keys_cannot_be_fetched_is_named(
    make_service: MakeService,
    readiness_log: ReadinessLog,
    fake_core: Callable[[web.Application], Awaitable[str]],
) -> None:
    async def api_version(_: web.Request) -> web.Response:
        return web.json_response({"versions": ["2.21"]})

    async def jwks(_: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/apiversion", api_version)
    app.router.add_get("/.well-known/jwks.json", jwks)
    service = await make_service(core_url=await fake_core(app), metrics_port=0)
    (warning,) = await readiness_log.wait_for(r"NOT_SERVING \(no_signing_keys\)")
    assert "signing keys (/.well-known/jwks.json) could not be fetched" in warning.getMessage()
    assert_cause(await scrape(service_metrics_url(service)), "no_signing_keys")


async def test_a_lasting_cause_is_repeated_at_a_slow_interval(
    make_service: MakeService, readiness_log: ReadinessLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probes run every 0.05 s; the WARNING comes once per repeat interval, not per probe."""
    repeat = 0.5
    monkeypatch.setattr(readiness, "NOT_READY_REPEAT_SECONDS", repeat)
    await make_service(core_url=f"http://127.0.0.1:{free_port()}")
    warnings = await readiness_log.wait_for(r"NOT_SERVING \(core_unavailable\)", count=3)
    assert len(readiness_log.records) == 3
    gaps = [b.created - a.created for a, b in itertools.pairwise(warnings)]
    assert all(gap >= repeat * 0.9 for gap in gaps), gaps


async def test_the_command_logs_why_it_is_not_ready(tmp_path: Path) -> None:
    """The WARNING reaches the log of the real command (here: nothing at --core-url)."""
    port, core_port = free_port(), free_port()
    async with running_service(
        port, tmp_path / "data", "--core-url", f"http://127.0.0.1:{core_port}"
    ) as served:
        match = await served.wait_for_line(re.compile(r'"level": "warning".*readiness: (.*)"'))
    assert match.group(1).startswith(
        "NOT_SERVING (core_unavailable): cannot use the session core (--core-url): "
    )
