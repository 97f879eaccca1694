"""The HTTP edge against the unmodified supertokens-python 0.14.0 answering the same
requests (``sdk_http_oracle``): for each step, a session of its own on each side (made by
the service on the one core both use), the same request to the edge and to the SDK, and the
answers compared: status, body, the token headers, ``Access-Control-Expose-Headers`` and
every cookie's attributes (token values stand for themselves: each side has its own)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import grpc
import httpx
import pytest
from session_client import SessionClient

from session_common.clock import ManualClock
from testkit.sdk_venv import ROOT, sdk_python
from tests.service.conftest import MakeService

JSON = dict[str, Any]
REFRESH = "/auth/session/refresh"
SIGN_OUT = "/auth/signout"
TOKEN_HEADERS = ("front-token", "st-access-token", "st-refresh-token", "anti-csrf")


class HttpOracle:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def ask(self, request: JSON) -> JSON:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write((json.dumps(request) + "\n").encode())
        await stdin.drain()
        line = await stdout.readline()
        assert line, f"the SDK oracle exited with {await self._process.wait()}"
        answer: JSON = json.loads(line)
        return answer


@pytest.fixture(params=["VIA_TOKEN", "VIA_CUSTOM_HEADER"])
def anti_csrf(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


@pytest.fixture
async def oracle(core_url: str, anti_csrf: str) -> AsyncIterator[HttpOracle]:
    python = await asyncio.to_thread(sdk_python)
    process = await asyncio.create_subprocess_exec(
        str(python),
        "-m",
        "tests.sdk.sdk_http_oracle",
        core_url,
        anti_csrf,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    yield HttpOracle(process)
    assert process.stdin is not None
    process.stdin.close()
    assert await process.wait() == 0


def _token(value: str) -> str:
    return value if value in ("", "remove") else "<token>"


def _answer(
    status: int, body: Any, headers: dict[str, str], cookies: list[JSON], user_id: str | None
) -> JSON:
    """An answer with token values masked and cookies by (name, path), the last one
    winning as in a browser."""
    by_key = {}
    for cookie in cookies:
        by_key[f"{cookie['name']} {cookie['path']}"] = {
            "value": _token(cookie["value"]),
            "expired": cookie["expired"],
            "domain": cookie["domain"],
            "secure": cookie["secure"],
            "httponly": cookie["httponly"],
            "samesite": cookie["samesite"].lower(),
        }
    exposed = headers.get("access-control-expose-headers")
    return {
        "status": status,
        "body": body,
        "user_id": user_id,
        "headers": {name: _token(headers[name]) for name in TOKEN_HEADERS if name in headers},
        "exposed": None if exposed is None else sorted({h.strip() for h in exposed.split(",")}),
        "cookies": by_key,
    }


def _set_cookie(line: str) -> JSON:
    name_value, *attributes = [part.strip() for part in line.split(";")]
    name, _, value = name_value.partition("=")
    cookie: JSON = {"name": name, "value": httpx.QueryParams(f"v={value}")["v"], "domain": None}
    cookie.update(secure=False, httponly=False, samesite="")
    for attribute in attributes:
        key, _, found = attribute.partition("=")
        if key == "Path":
            cookie["path"] = found
        elif key == "Expires":
            cookie["expired"] = parsedate_to_datetime(found).timestamp() == 0
        elif key == "Domain":
            cookie["domain"] = found
        elif key in ("Secure", "HttpOnly"):
            cookie[key.lower()] = True
        elif key == "SameSite":
            cookie["samesite"] = found
    return cookie


class Sides:
    """The same request to the edge and to the SDK."""

    def __init__(self, http: httpx.AsyncClient, oracle: HttpOracle, clock: ManualClock) -> None:
        self.http = http
        self.oracle = oracle
        self.clock = clock
        # The last raw answer of each side, to take tokens from.
        self.raw: dict[str, JSON] = {}

    async def ours(
        self, op: str, method: str, path: str, headers: dict[str, str], **options: Any
    ) -> JSON:
        if op == "verify":
            sent = {"x-original-method": method, "x-original-uri": path, **headers}
            params = {k: str(v).lower() for k, v in options.items()}
            response = await self.http.get("/verify", headers=sent, params=params)
        else:
            response = await self.http.request(method, path, headers=headers)
        self.http.cookies.clear()  # each request carries what the step gives, nothing kept
        cookies = [_set_cookie(line) for line in response.headers.get_list("set-cookie")]
        plain = {k.lower(): v for k, v in response.headers.items() if k.lower() != "set-cookie"}
        self.raw["ours"] = {"headers": plain, "cookies": cookies}
        body = response.json() if response.content else None
        return _answer(response.status_code, body, plain, cookies, plain.get("x-session-user-id"))

    async def sdk(
        self, op: str, method: str, path: str, headers: dict[str, str], **options: Any
    ) -> JSON:
        found = await self.oracle.ask(
            {
                "op": op,
                "now_ms": self.clock.now_ms(),
                "method": method,
                "path": path,
                "headers": list(headers.items()),
                "options": options,
            }
        )
        cookies = [{**c, "expired": c["expires"] == 0} for c in found["cookies"]]
        self.raw["sdk"] = {"headers": found["headers"], "cookies": cookies}
        return _answer(found["status"], found["body"], found["headers"], cookies, found["user_id"])

    def cookie(self, side: str, name: str) -> str:
        value: str = next(c["value"] for c in self.raw[side]["cookies"] if c["name"] == name)
        return value


async def test_the_edge_answers_as_the_sdk(
    make_service: MakeService, oracle: HttpOracle, clock: ManualClock, anti_csrf: str
) -> None:
    service = await make_service(http_port=0, anti_csrf=anti_csrf)
    async with (
        grpc.aio.insecure_channel(service.address) as channel,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{service.http_port}", trust_env=False
        ) as http,
    ):
        client = SessionClient(channel)
        sides = Sides(http, oracle, clock)
        compared = 0

        async def session() -> tuple[str, str, dict[str, str]]:
            created = await client.create_session("alice", {"k": "v"})
            csrf = (
                {"anti-csrf": created.anti_csrf_token or ""}
                if anti_csrf == "VIA_TOKEN"
                else {"rid": "session"}
            )
            return created.access_token.token, created.refresh_token.token, csrf

        async def same(op: str, method: str, path: str, headers: Any, **options: Any) -> None:
            """``headers`` is a function of a new session's (access, refresh, csrf) headers."""
            nonlocal compared
            answers = {}
            for side in ("ours", "sdk"):
                access, refresh, csrf = await session()
                sent = headers(access, refresh, csrf)
                ask = sides.ours if side == "ours" else sides.sdk
                answers[side] = await ask(op, method, path, sent, **options)
            assert answers["ours"] == answers["sdk"], (op, method, path)
            compared += 1

        await same("verify", "GET", "/api", lambda a, r, c: {"cookie": f"sAccessToken={a}"})
        await same("verify", "GET", "/api", lambda a, r, c: {"authorization": f"Bearer {a}"})
        await same("verify", "GET", "/api", lambda a, r, c: {})
        await same("verify", "PUT", "/api", lambda a, r, c: {"cookie": f"sAccessToken={a}"})
        await same("verify", "PUT", "/api", lambda a, r, c: {"cookie": f"sAccessToken={a}", **c})
        await same(
            "verify",
            "PUT",
            "/api",
            lambda a, r, c: {"cookie": f"sAccessToken={a}"},
            anti_csrf_check=False,
        )
        await same(
            "verify",
            "GET",
            "/api",
            lambda a, r, c: {"cookie": f"sAccessToken={a}", "authorization": "Bearer x.y.z"},
        )
        await same(
            "verify",
            "GET",
            "/api",
            lambda a, r, c: {"cookie": f"sAccessToken={a}; sIdRefreshToken=x"},
        )
        await same("verify", "GET", "/", lambda a, r, c: {}, session_required=False)
        await same("api", "POST", REFRESH, lambda a, r, c: {"cookie": f"sRefreshToken={r}", **c})
        await same("api", "POST", REFRESH, lambda a, r, c: {"cookie": f"sRefreshToken={r}"})
        await same("api", "POST", REFRESH, lambda a, r, c: {"authorization": f"Bearer {r}"})
        await same("api", "POST", REFRESH, lambda a, r, c: {})
        await same("api", "POST", REFRESH, lambda a, r, c: {"cookie": "sRefreshToken=garbage"})
        await same("api", "POST", SIGN_OUT, lambda a, r, c: {"cookie": f"sAccessToken={a}", **c})
        await same("api", "POST", SIGN_OUT, lambda a, r, c: {"authorization": f"Bearer {a}"})
        await same("api", "POST", SIGN_OUT, lambda a, r, c: {})

        # Refresh, the new token's first use (promotion), then the old refresh token: theft.
        answers = {}
        for side in ("ours", "sdk"):
            ask = sides.ours if side == "ours" else sides.sdk
            _, refresh, csrf = await session()
            first = {"cookie": f"sRefreshToken={refresh}", **csrf}
            await ask("api", "POST", REFRESH, first)
            new_access = sides.cookie(side, "sAccessToken")
            promoted = await ask("verify", "GET", "/api", {"cookie": f"sAccessToken={new_access}"})
            theft = await ask("api", "POST", REFRESH, first)
            revoked = await ask(
                "verify",
                "GET",
                "/api",
                {"cookie": f"sAccessToken={new_access}"},
                check_database=True,
            )
            answers[side] = [promoted, theft, revoked]
        assert answers["ours"] == answers["sdk"]
        assert answers["ours"][1]["body"] == {"message": "token theft detected"}

        # Expiry.
        access, _, _ = await session()
        clock.advance(3_601_000)
        expired = [
            await ask("verify", "GET", "/api", {"cookie": f"sAccessToken={access}"})
            for ask in (sides.ours, sides.sdk)
        ]
        assert expired[0] == expired[1] and expired[0]["body"] == {"message": "try refresh token"}
        assert compared == 17
