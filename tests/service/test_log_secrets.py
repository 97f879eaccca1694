"""No secret reaches a log or an error detail, at any level, from our loggers or a library's.

The real commands as an operator runs them: ``session-service serve`` with its embedded core
(SQLite), and ``session-service`` in front of a ``session-core serve`` on PostgreSQL, every
process at ``--log-level debug``, in JSON and in text. A scenario drives every path that
handles a secret (create, get uncached and cached, check_database, anti-CSRF, claims,
payload and session data updates, refresh, theft, CreateJWT, a signing-key rotation,
revocation, and calls refused for bad credentials), and with the HTTP edge on, the edge's
and Envoy Check's paths (tests/service/gateway_secret_scenario.py; malformed requests
holding tokens too). Then every log line is searched for every secret the run produced, read
back from the responses and from the database (private signing keys, the refresh-token
master key, access/refresh/anti-CSRF/front tokens, JWTs, API keys, the core's API key,
session data and payload values), and for any base64 run of 200 characters or more (a key or
token in an encoding nobody thought of).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import httpx
import pytest
from session_client import SessionClient

from session_common.clock import ManualClock
from session_core.app import start_core
from session_core.config import CoreConfig
from tests.faults import Fault, FaultProxy
from tests.reliability import STATS
from tests.service.conftest import MakeService
from tests.service.gateway_secret_scenario import check_scenario, edge_scenario
from tests.service.harness import free_port
from tests.service.secret_scenario import Run, Secrets, scenario
from tests.service.serve_process import SESSION_CORE, ServiceProcess, wait_serving

BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{200,}")
TEXT_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>[\w.]+)[ :\[]")
CORE_URL_LINE = re.compile(r"embedded session core listening on (http://[0-9.:]+)")
# Dynamic-key rotation: the embedded core's default interval; the PostgreSQL core runs with
# the shortest one allowed.
EMBEDDED_KEY_INTERVAL_HOURS = 168
SHORT_KEY_INTERVAL_HOURS = 1


@asynccontextmanager
async def stopped_at_exit(process: ServiceProcess) -> AsyncIterator[ServiceProcess]:
    """The process; SIGTERM and a clean exit at the end (its last lines are scanned too)."""
    try:
        yield process
        process.process.send_signal(signal.SIGTERM)
        assert await process.exit_code() == 0, process.log
    finally:
        await process.close()


async def wait_answering(url: str, process: ServiceProcess) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(60):
        while True:
            assert process.process.returncode is None, process.log
            try:
                if (await http.get(f"{url}/hello")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


def library_lines_below_warning(run: Run, log_format: str) -> list[str]:
    """Lines of loggers other than ours below WARNING (the mechanism the scan relies on)."""
    found = []
    for process in run.processes:
        for line in process.lines:
            if line.startswith("session-core listening on "):
                continue
            if log_format == "json":
                entry = json.loads(line)
                level, logger = entry["level"].upper(), entry["logger"]
            else:
                match = TEXT_LINE.match(line)
                if match is None:
                    continue  # a traceback's continuation line (there should be none)
                level, logger = match["level"], match["logger"]
            if level in ("DEBUG", "INFO") and not logger.startswith("session_"):
                found.append(line)
    return found


def scan(run: Run, log_format: str) -> None:
    lines = [line for process in run.processes for line in process.lines]
    # session-core also prints its URL as a plain line, whatever the format and level.
    logged = [line for line in lines if not line.startswith("session-core listening on ")]
    assert all(line.startswith("{") == (log_format == "json") for line in logged)
    # The processes really logged at DEBUG: one line per core request.
    assert sum(" -> 200 (" in line for line in lines) > 20
    searched = [*lines, *run.details]
    hits = [
        f"{what} in line {number}"
        for number, line in enumerate(searched)
        for needle, what in run.secrets.needles.items()
        if needle in line
    ]
    hits += [f"base64 in line {n}" for n, line in enumerate(searched) if BASE64_RUN.search(line)]
    STATS["log lines scanned for secrets"] += len(lines)
    STATS["secrets searched in logs"] += len(run.secrets.needles)
    STATS["secrets found in logs"] += len(hits)
    print(
        f"log lines scanned: {len(lines)}, error details: {len(run.details)}, "
        f"secrets searched: {len(run.secrets.needles)}, hits: {len(hits)}"
    )
    assert hits == []
    assert library_lines_below_warning(run, log_format) == []


def api_keys_file(directory: Path) -> tuple[Path, str, str]:
    full_key, verify_key = secrets.token_hex(20), secrets.token_hex(20)
    path = directory / "api-keys"
    path.write_text(f"{full_key} full\n{verify_key} verify\n")
    return path, full_key, verify_key


def service_flags(log_format: str, keys: Path) -> tuple[str, ...]:
    return (
        "--log-level",
        "debug",
        "--log-format",
        log_format,
        "--api-keys-file",
        str(keys),
        "--anti-csrf",
        "VIA_TOKEN",
    )


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_embedded_core_at_debug_logs_no_secret(tmp_path: Path, log_format: str) -> None:
    """With the HTTP edge on, and the edge and Envoy's Check driven too."""
    keys, full_key, verify_key = api_keys_file(tmp_path)
    port, http_port = free_port(), free_port()
    flags = (*service_flags(log_format, keys), "--http-port", str(http_port))
    started = await ServiceProcess.start(port, tmp_path / "data", *flags)
    async with stopped_at_exit(started) as service:
        await wait_serving(f"127.0.0.1:{port}")
        run = Run(
            core_url=service.find(CORE_URL_LINE)[1],
            database=f"sqlite:///{tmp_path / 'data' / 'core.db'}",
            key_interval_hours=EMBEDDED_KEY_INTERVAL_HOURS,
            secrets=Secrets(),
            processes=[service],
        )
        run.secrets.add("caller API key", full_key)
        run.secrets.add("verify API key", verify_key)
        await scenario(f"127.0.0.1:{port}", run, full_key, verify_key)
        async with (
            SessionClient.insecure(f"127.0.0.1:{port}", api_key=full_key) as client,
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", trust_env=False) as http,
        ):
            await edge_scenario(http, client, run)
            await check_scenario(channel, client, verify_key, run)
    scan(run, log_format)


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_core_on_postgresql_at_debug_logs_no_secret(
    tmp_path: Path, postgres_url: str, log_format: str
) -> None:
    keys, full_key, verify_key = api_keys_file(tmp_path)
    core_key = secrets.token_hex(24)
    core_port, port = free_port(), free_port()
    core_url = f"http://127.0.0.1:{core_port}"
    started_core = await ServiceProcess.run(
        SESSION_CORE,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(core_port),
        "--database",
        postgres_url,
        "--log-level",
        "debug",
        "--log-format",
        log_format,
        "--access-token-dynamic-signing-key-update-interval",
        str(SHORT_KEY_INTERVAL_HOURS),
        env={"SESSION_CORE_API_KEYS": core_key},
    )
    async with stopped_at_exit(started_core) as core:
        await wait_answering(core_url, core)
        started = await ServiceProcess.start(
            port,
            tmp_path / "data",
            *service_flags(log_format, keys),
            "--core-url",
            core_url,
            env={"SESSION_SERVICE_CORE_API_KEY": core_key},
        )
        async with stopped_at_exit(started) as service:
            await wait_serving(f"127.0.0.1:{port}")
            run = Run(
                core_url=core_url,
                database=postgres_url,
                key_interval_hours=SHORT_KEY_INTERVAL_HOURS,
                secrets=Secrets(),
                processes=[core, service],
            )
            run.secrets.add("caller API key", full_key)
            run.secrets.add("verify API key", verify_key)
            run.secrets.add("core API key", core_key)
            await scenario(f"127.0.0.1:{port}", run, full_key, verify_key)
    scan(run, log_format)


async def test_no_secret_in_error_details_when_the_core_answers_garbage(
    make_service: MakeService,
    sqlite_url: str,
    clock: ManualClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In-process, our own loggers at DEBUG: a core answering garbage, and requests built
    from tokens, give error details and log lines without any secret."""
    for own in ("session_service", "session_core"):
        caplog.set_level("DEBUG", logger=own)
    core_key = secrets.token_hex(20)
    core = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url, api_keys=(core_key,)),
        clock=clock,
    )
    proxy = FaultProxy(core.url)
    await proxy.start()
    keys, full_key, _ = api_keys_file(tmp_path)
    found = Secrets()
    found.add("core API key", core_key)
    found.add("caller API key", full_key)
    details: list[str] = []
    try:
        service = await make_service(
            core_url=proxy.url, core_api_key=core_key, api_keys_file=keys, log_level="debug"
        )
        async with SessionClient.insecure(service.address, api_key=full_key) as client:
            created = await client.create_session("alice", {"role": "admin"}, {"db": 1})
            found.add("access token", created.session.access_token)
            found.add("refresh token", created.refresh_token.token)
            failing: list[Callable[[], Awaitable[object]]] = [
                lambda: client.merge_into_access_token_payload(
                    created.session.session_handle, {"sub": created.refresh_token.token}
                ),
                lambda: client.regenerate_access_token(
                    created.session.access_token, {"exp": created.session.access_token}
                ),
                lambda: client.create_session("during-garbage"),
            ]
            for index, call in enumerate(failing):
                if index == len(failing) - 1:
                    proxy.set_fault(Fault.GARBAGE)
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await call()
                details.append(raised.value.details() or "")
            proxy.set_fault(Fault.NONE)
    finally:
        await proxy.stop()
        await core.stop()
    assert any(r.levelname == "DEBUG" for r in caplog.records)  # the scenario really logged
    text = caplog.text + "\n".join(details)
    assert [what for needle, what in found.needles.items() if needle in text] == []
