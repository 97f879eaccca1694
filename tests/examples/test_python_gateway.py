"""examples/python-gateway end to end over real HTTP: uvicorn on a real socket, httpx as the
browser (its cookie jar honours Path, Expires and clearing), the real service (anti-CSRF
VIA_TOKEN) and core behind it. Every journey runs in cookie mode and in header mode."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from session_client import SessionClient, SessionStatus
from session_client.http import HttpConfig

from session_service.server import RunningService
from tests.service.conftest import MakeService
from tests.service.harness import free_port

GATEWAY = Path(__file__).resolve().parents[2] / "examples" / "python-gateway" / "gateway.py"


def _load_gateway() -> ModuleType:
    spec = importlib.util.spec_from_file_location("python_gateway", GATEWAY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gateway = _load_gateway()


@pytest.fixture
async def service(make_service: MakeService) -> RunningService:
    return await make_service(anti_csrf="VIA_TOKEN")


@pytest.fixture
async def base_url(service: RunningService) -> AsyncIterator[str]:
    """The gateway served by uvicorn in-process. The socket listens before uvicorn starts,
    so early connections wait in the backlog instead of needing a readiness poll."""
    app = gateway.create_app(service.address, HttpConfig(anti_csrf="VIA_TOKEN"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        sock.close()


@dataclass
class Browser:
    """A frontend as SuperTokens' SDK behaves: in cookie mode the jar carries the tokens; in
    header mode it keeps st-access-token / st-refresh-token and sends them as Bearer. It
    keeps the anti-csrf and front-token headers it is given."""

    http: httpx.AsyncClient
    mode: str
    access: str | None = None
    refresh_token: str | None = None
    anti_csrf: str | None = None
    front: dict[str, Any] | None = field(default=None)

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        with_anti_csrf: bool = True,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if self.mode == "header" and token:
            headers["authorization"] = f"Bearer {token}"
        if with_anti_csrf and self.anti_csrf:
            headers["anti-csrf"] = self.anti_csrf
        response = await self.http.request(method, path, headers=headers, json=body)
        self._remember(response)
        return response

    def _remember(self, response: httpx.Response) -> None:
        if "st-access-token" in response.headers:
            self.access = response.headers["st-access-token"] or None
        if "st-refresh-token" in response.headers:
            self.refresh_token = response.headers["st-refresh-token"] or None
        if "anti-csrf" in response.headers:
            self.anti_csrf = response.headers["anti-csrf"]
        front = response.headers.get("front-token")
        if front == "remove":
            self.front, self.anti_csrf = None, None
        elif front is not None:
            self.front = json.loads(base64.b64decode(front))

    async def sign_in(self, user_id: str, roles: list[str]) -> httpx.Response:
        headers = {"st-auth-mode": self.mode}
        body = {"userId": user_id, "roles": roles}
        response = await self.http.post("/auth/signin", headers=headers, json=body)
        self._remember(response)
        return response

    async def protected(self, path: str = "/protected", method: str = "GET") -> httpx.Response:
        return await self.call(method, path, token=self.access)

    async def refresh(
        self, refresh_token: str | None = None, anti_csrf: str | None = None
    ) -> httpx.Response:
        """The refresh API; with ``refresh_token`` (and the ``anti_csrf`` issued with it),
        a replay of captured tokens instead of the current ones."""
        if self.mode == "cookie" and refresh_token is not None:
            # Replaying a captured cookie: send it as a browser would, instead of the jar's.
            async with httpx.AsyncClient(base_url=str(self.http.base_url)) as other:
                headers = {"cookie": f"sRefreshToken={refresh_token}"}
                if anti_csrf:
                    headers["anti-csrf"] = anti_csrf
                response = await other.post("/auth/session/refresh", headers=headers)
            self._remember(response)
            return response
        token = refresh_token or self.refresh_token
        return await self.call("POST", "/auth/session/refresh", token=token)

    def current_refresh_token(self, response: httpx.Response) -> str:
        if self.mode == "header":
            return response.headers["st-refresh-token"]
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("sRefreshToken=")
        )
        return cookie.split(";")[0].removeprefix("sRefreshToken=")  # still URL-encoded

    def holds_tokens(self) -> bool:
        if self.mode == "cookie":
            return any(c.name in ("sAccessToken", "sRefreshToken") for c in self.http.cookies.jar)
        return self.access is not None or self.refresh_token is not None


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client


MODES = ["cookie", "header"]


@pytest.mark.parametrize("mode", MODES)
async def test_sign_in_protected_refresh_and_theft(
    http: httpx.AsyncClient, service: RunningService, mode: str
) -> None:
    browser = Browser(http, mode)
    user = f"user-{uuid.uuid4().hex[:8]}"
    signed_in = await browser.sign_in(user, ["user"])
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json() == {"status": "OK", "userId": user}
    set_cookies = signed_in.headers.get_list("set-cookie")
    if mode == "cookie":
        assert [c.split("=")[0] for c in set_cookies] == ["sAccessToken", "sRefreshToken"]
        assert "; Path=/;" in set_cookies[0] and "; HttpOnly; SameSite=Lax" in set_cookies[0]
        assert "; Path=/auth/session/refresh;" in set_cookies[1]
        assert "st-access-token" not in signed_in.headers
        assert browser.anti_csrf  # VIA_TOKEN, cookie mode
    else:
        assert set_cookies == []
        assert browser.access and browser.refresh_token
        assert "anti-csrf" not in signed_in.headers  # headers need no anti-CSRF token
    assert browser.front is not None and browser.front["uid"] == user
    assert browser.front["up"]["st-role"]["v"] == ["user"]
    exposed = signed_in.headers["access-control-expose-headers"]
    assert "front-token" in exposed

    me = await browser.protected()
    assert me.status_code == 200, me.text
    assert me.json()["userId"] == user and me.json()["roles"] == ["user"]
    handle = me.json()["sessionHandle"]
    assert me.headers.get_list("set-cookie") == []  # a plain verification sets nothing

    posted = await browser.protected(method="POST")
    assert posted.status_code == 200
    if mode == "cookie":
        no_csrf = await browser.call("POST", "/protected", with_anti_csrf=False)
        assert (no_csrf.status_code, no_csrf.json()) == (401, {"message": "try refresh token"})

    admin = await browser.protected("/protected/admin")
    assert admin.status_code == 403
    assert admin.json() == {
        "message": "invalid claim",
        "claimValidationErrors": [
            {
                "id": "st-role",
                "reason": {
                    "message": "wrong value",
                    "expectedToInclude": "admin",
                    "actualValue": ["user"],
                },
            }
        ],
    }

    r0, csrf0 = browser.current_refresh_token(signed_in), browser.anti_csrf
    refreshed = await browser.refresh()
    assert refreshed.status_code == 200, refreshed.text
    r1 = browser.current_refresh_token(refreshed)
    assert r1 != r0
    # The new access token's first use promotes the session (a new access token again).
    promoted = await browser.protected()
    assert promoted.status_code == 200
    assert promoted.json()["sessionHandle"] == handle
    if mode == "cookie":
        assert [c.split("=")[0] for c in promoted.headers.get_list("set-cookie")] == [
            "sAccessToken"
        ]
    else:
        assert promoted.headers["st-access-token"]

    theft = await browser.refresh(r0, csrf0)
    assert (theft.status_code, theft.json()) == (401, {"message": "token theft detected"})
    assert theft.headers["front-token"] == "remove"
    cleared = theft.headers.get_list("set-cookie")
    assert sorted(c.split(";")[0] for c in cleared) == ["sAccessToken=", "sRefreshToken="]
    assert all("Expires=Thu, 01 Jan 1970 00:00:00 GMT" in c for c in cleared)
    assert theft.headers["st-access-token"] == "" and theft.headers["st-refresh-token"] == ""

    async with SessionClient.insecure(service.address) as client:
        assert (await client.get_session_information(handle)).status is (
            SessionStatus.SESSION_DOES_NOT_EXIST
        )
    # The victim's next refresh fails and clears its tokens (cookies by Path, from the jar).
    legit = await browser.refresh(r1 if mode == "header" else None)
    assert (legit.status_code, legit.json()) == (401, {"message": "unauthorised"})
    assert not browser.holds_tokens()


@pytest.mark.parametrize("mode", MODES)
async def test_sign_out_clears_and_revokes(http: httpx.AsyncClient, mode: str) -> None:
    browser = Browser(http, mode)
    assert (await browser.sign_in("admin-user", ["admin", "user"])).status_code == 200
    assert (await browser.protected("/protected/admin")).status_code == 200
    old_access, old_refresh = browser.access, browser.refresh_token
    if mode == "cookie":
        old_access = http.cookies.get("sAccessToken")

    signed_out = await browser.call("POST", "/auth/signout", token=browser.access)
    assert (signed_out.status_code, signed_out.json()) == (200, {"status": "OK"})
    assert signed_out.headers["front-token"] == "remove"
    assert not browser.holds_tokens()

    after = await browser.protected()
    assert (after.status_code, after.json()) == (401, {"message": "unauthorised"})
    # The old access token still verifies locally until it expires (SDK semantics), but a
    # route that asks the core sees the revocation and clears the client.
    replayed = await http.get(
        "/protected/strict",
        headers={"authorization": f"Bearer {old_access}"}
        if mode == "header"
        else {"cookie": f"sAccessToken={old_access}"},
    )
    assert (replayed.status_code, replayed.json()) == (401, {"message": "unauthorised"})
    assert replayed.headers["front-token"] == "remove"
    if mode == "header":
        stale = await browser.refresh(old_refresh)
        assert stale.status_code == 401


async def test_bad_sign_in_body_and_missing_refresh_token(http: httpx.AsyncClient) -> None:
    for body in (None, {"userId": ""}, {"userId": "u", "roles": "admin"}, [1]):
        response = await http.post("/auth/signin", json=body)
        assert response.status_code == 400, body
    garbage = await http.post("/auth/signin", content=b"{", headers={"content-type": "x"})
    assert garbage.status_code == 400
    missing = await http.post("/auth/session/refresh")
    assert (missing.status_code, missing.json()) == (401, {"message": "unauthorised"})
    assert missing.headers.get_list("set-cookie") == []


async def test_the_example_runs_as_a_program(service: RunningService) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SESSION_SERVICE_ADDRESS": service.address,
        "PORT": str(port),
        "ANTI_CSRF": "VIA_TOKEN",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(GATEWAY),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while b"Uvicorn running on" not in (line := await process.stderr.readline()):
                assert line, b"".join(seen).decode(errors="replace")
                seen.append(line)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            browser = Browser(http, "cookie")
            assert (await browser.sign_in("program-user", [])).status_code == 200
            assert (await browser.protected()).json()["userId"] == "program-user"
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = await process.stderr.read()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert b"Finished server process" in rest
    assert process.returncode == -signal.SIGTERM
