"""The real peers of the gateway tests: Debian's nginx with deploy/nginx/session.conf.template,
the application behind it (records what it was sent), the sign-in endpoint of deploy/nginx,
and Debian's headless Chromium driven by playwright-core (tests/browser).

A missing nginx or Chromium skips those tests with the reason, except under
``SESSION_TEST_REQUIRE_PEERS=1`` (``.ci/run``, which installs them: ``./dev missing-packages``),
where it fails them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from session_client.http import HttpConfig

from session_common.clock import ManualClock
from session_service.server import RunningService
from tests.service.conftest import MakeService
from tests.service.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "session.conf.template"
SIGN_IN = ROOT / "deploy" / "nginx" / "sign_in.py"
BROWSER = ROOT / "tests" / "browser"


def require(what: str, found: str | None, remedy: str) -> str:
    """``found``, or skip (fail under SESSION_TEST_REQUIRE_PEERS=1) saying what is missing."""
    if found is not None:
        return found
    message = f"{what} is missing: {remedy}"
    if os.environ.get("SESSION_TEST_REQUIRE_PEERS") == "1":
        pytest.fail(f"SESSION_TEST_REQUIRE_PEERS=1 but {message}", pytrace=False)
    pytest.skip(message)


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )
    return require("nginx", found, "apt-get install nginx-light (./dev missing-packages)")


def chromium_binary() -> str:
    found = next((p for p in ("/usr/bin/chromium",) if os.access(p, os.X_OK)), None)
    return require("Debian's chromium", found, "apt-get install chromium")


def browser_tools() -> str:
    """tests/browser's node_modules (``./dev test`` installs them), and node itself."""
    node = require("node", shutil.which("node"), "install Node.js >= 20 and npm")
    installed = (BROWSER / "node_modules" / ".installed").is_file()
    require(
        "tests/browser/node_modules",
        "yes" if installed else None,
        "run ./dev test (it installs tests/browser's npm packages)",
    )
    return node


def render(values: dict[str, str]) -> str:
    """The template with each ``${NAME}`` of ``values`` filled, as envsubst fills those it is
    given (other ``$`` words are nginx's own variables)."""
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


async def start_nginx(directory: Path, port: int, upstreams: dict[str, str]) -> Nginx:
    """nginx as any user: its pid file, logs and temporary files in ``directory``, the
    template as its one http-context file, listening on 127.0.0.1:``port``."""
    site = directory / "session.conf"
    site.write_text(render({**upstreams, "LISTEN": f"127.0.0.1:{port}"}))
    temp = " ".join(
        f"{kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    temp += f" uwsgi_temp_path {directory / 'uwsgi'}; scgi_temp_path {directory / 'scgi'};"
    user = "user root;\n" if os.geteuid() == 0 else ""  # a worker must reach its temp paths
    config = directory / "nginx.conf"
    config.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        "error_log stderr warn;\nevents { worker_connections 512; }\n"
        f"http {{\n  access_log off;\n  {temp}\n  include {site};\n}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        nginx_binary(), "-p", str(directory), "-c", str(config), "-e", "stderr",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    running = Nginx(process, f"http://127.0.0.1:{port}")
    await running.wait_listening(port)
    return running


@dataclass
class Nginx:
    process: asyncio.subprocess.Process
    url: str

    async def wait_listening(self, port: int) -> None:
        """Until nginx accepts connections, or fail with its stderr if it exited."""
        async with asyncio.timeout(20):
            while self.process.returncode is None:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.wait([asyncio.ensure_future(self.process.wait())], timeout=0.05)
                    continue
                writer.close()
                return
        assert self.process.stderr is not None
        raise AssertionError(f"nginx exited: {(await self.process.stderr.read()).decode()}")

    async def stop(self) -> str:
        """Stops nginx (SIGQUIT: finish, then exit) and returns what it logged."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGQUIT)
        assert self.process.stderr is not None
        log = (await self.process.stderr.read()).decode()
        await self.process.wait()
        return log


@dataclass
class Upstream:
    """The application nginx protects: answers every path with what it was sent, records it,
    and serves the browser page (``/``, ``/bundle.js``) when given a bundle."""

    bundle: Path | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/bundle.js", self._bundle)
        app.router.add_route("*", "/api/{rest:.*}", self._record)
        return app

    async def _record(self, request: web.Request) -> web.Response:
        body = await request.text()
        seen = {
            "method": request.method,
            "path": request.path_qs,
            "headers": [(name.lower(), value) for name, value in request.headers.items()],
            "body": body,
        }
        self.seen.append(seen)
        user_id = request.headers.getall("x-session-user-id", [])
        return web.json_response({"path": request.path, "userIds": user_id})

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(BROWSER / "index.html")

    async def _bundle(self, request: web.Request) -> web.FileResponse:
        assert self.bundle is not None
        return web.FileResponse(self.bundle)

    def headers(self, index: int, name: str) -> list[str]:
        return [value for key, value in self.seen[index]["headers"] if key == name]


def sign_in_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nginx_sign_in", SIGN_IN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on 127.0.0.1, a free port; yields its ``host:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()
        sock.close()


def sign_in_app(service_address: str, anti_csrf: str) -> web.Application:
    app: web.Application = sign_in_module().create_app(
        service_address,
        HttpConfig(anti_csrf=anti_csrf),  # type: ignore[arg-type]
    )
    return app


async def bundle_page(directory: Path) -> Path:
    """tests/browser/page.js and the SDK bundled by esbuild into ``directory``/bundle.js."""
    browser_tools()
    out = directory / "bundle.js"
    esbuild = BROWSER / "node_modules" / ".bin" / "esbuild"
    process = await asyncio.create_subprocess_exec(
        str(esbuild), str(BROWSER / "page.js"), "--bundle", "--format=iife",
        f"--outfile={out}", "--log-level=error", stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return out


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class Stack:
    nginx: Nginx
    upstream: Upstream
    service: RunningService
    clock: ManualClock


@asynccontextmanager
async def running_stack(
    make_service: MakeService, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Stack]:
    """The service (anti-CSRF VIA_TOKEN, with its HTTP edge), the application, the sign-in
    endpoint and nginx in front of them, on free ports. The service follows no revocation
    feed, so a revoked session's token verifies locally as with the SDK (the feed's own
    tests: tests/service/test_revocation_follower.py)."""
    service = await make_service(anti_csrf="VIA_TOKEN", http_port=0, revocation_feed=False)
    assert service.http_port is not None
    upstream = Upstream()
    async with (
        serving(upstream.app()) as app,
        serving(sign_in_app(service.address, "VIA_TOKEN")) as sign_in,
    ):
        edge = f"{service.host}:{service.http_port}"
        addresses = {"SESSION_EDGE": edge, "SIGN_IN_APP": sign_in, "APP": app}
        nginx = await start_nginx(tmp_path, free_port(), addresses)
        try:
            yield Stack(nginx, upstream, service, clock)
        finally:
            log = await nginx.stop()
    assert "[error]" not in log and "[emerg]" not in log, log
