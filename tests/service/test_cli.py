"""The ``session-service`` command as a user runs it: a real subprocess with the embedded
core, health over gRPC, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import signal
import sys
from pathlib import Path

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_common.config_loading import flag_of
from session_service.settings import Settings
from tests.service.harness import free_port
from tests.service.serve_process import running_service, wait_serving

SESSION_SERVICE = Path(sys.executable).with_name("session-service")


async def test_serve_with_the_embedded_core_then_sigterm(tmp_path: Path) -> None:
    port = free_port()
    async with running_service(port, tmp_path / "data", "--grace-period-seconds", "5") as served:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = SessionClient(channel)
            created = await client.create_session("cli-user", {"role": "admin"})
            verified = await client.get_session(created.session.access_token)
            assert verified.status is SessionStatus.OK
            assert verified.session is not None
            assert verified.session.access_token_payload["role"] == "admin"
        served.process.send_signal(signal.SIGTERM)
        assert await served.exit_code() == 0, served.log
    assert (tmp_path / "data" / "core.db").exists()
    assert created.session.access_token not in served.log
    assert created.refresh_token.token not in served.log
    assert "beyond loopback" not in served.log  # 127.0.0.1 needs no warning


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


async def test_a_port_in_use_is_one_line_and_status_2(tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running_service(port, tmp_path / "data", "--log-level", "warning") as served:
            assert await served.exit_code() == 2, served.log
    finally:
        server.close()
        await server.wait_closed()
    assert len(served.lines) == 1
    assert served.lines[0].startswith(f"session-service: cannot listen on 127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        (("--api-keys-file", ""), {}, "--api-keys-file"),
        (("--tls-cert-file", " ", "--tls-key-file", "key.pem"), {}, "--tls-cert-file"),
        ((), {"SESSION_SERVICE_API_KEYS_FILE": ""}, "SESSION_SERVICE_API_KEYS_FILE"),
        ((), {"SESSION_SERVICE_TLS_CERT_FILE": " "}, "SESSION_SERVICE_TLS_CERT_FILE"),
        (
            ("--core-url", "http://127.0.0.1:9"),
            {"SESSION_SERVICE_CORE_API_KEY": ""},
            "CORE_API_KEY",
        ),
    ],
)
async def test_an_empty_security_value_stops_the_start(
    tmp_path: Path, flags: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    """Empty used to mean "off": plaintext, no caller authentication, no core API key."""
    async with running_service(free_port(), tmp_path / "data", *flags, env=env) as served:
        assert await served.exit_code(within_seconds=30) == 2, served.log
    assert len(served.lines) == 1, served.log
    assert re.fullmatch(rf"session-service: \S*{named} is empty: .*\n", served.lines[0])


async def test_beyond_loopback_without_auth_or_tls_warns_at_start(tmp_path: Path) -> None:
    port = free_port()
    flags = ("--host", "0.0.0.0", "--log-format", "json")
    async with running_service(port, tmp_path / "data", *flags) as served:
        await wait_serving(f"127.0.0.1:{port}")
        served.process.send_signal(signal.SIGTERM)
        assert await served.exit_code() == 0, served.log
    warnings = [
        entry["message"]
        for entry in map(json.loads, served.lines)
        if entry["level"] == "warning" and "beyond loopback" in entry["message"]
    ]
    assert len(warnings) == 1, served.log
    assert "without caller authentication" in warnings[0] and "without TLS" in warnings[0]


async def test_help_lists_the_service_flags_then_the_gateway_group() -> None:
    """``serve --help`` as a user reads it: the service's own flags first (usage line and
    options), the HTTP edge's in a group of their own after them; every flag listed once."""
    process = await asyncio.create_subprocess_exec(
        SESSION_SERVICE, "serve", "--help", stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(30):
        stdout, _ = await process.communicate()
    assert process.returncode == 0
    text = stdout.decode()
    usage, _, listing = text.partition("\noptions:\n")
    assert usage.index("--host") < usage.index("--port") < usage.index("--http-port")
    options, _, gateway = listing.partition("\nHTTP edge and gateways")
    assert gateway, text
    service_flags = set(re.findall(r"^  (--[a-z-]+)", options, re.MULTILINE))
    gateway_flags = set(re.findall(r"^  (--[a-z-]+)", gateway, re.MULTILINE))
    assert {"--host", "--port", "--core-url", "--api-base-path", "--anti-csrf"} <= service_flags
    assert {"--http-port", "--http-host", "--cookie-secure", "--upstream-payload-header"} <= (
        gateway_flags
    )
    assert not service_flags & gateway_flags
    # Every setting has its flag, none lost to the grouping.
    declared = {flag_of(f.name) for f in dataclasses.fields(Settings)}
    assert service_flags | gateway_flags == declared
