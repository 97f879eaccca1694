"""The official frontend SDK, unchanged, in a real browser: supertokens-website 16.0.10 (FDI
1.16, that of supertokens-python 0.14.0) bundled by esbuild into a page served through the
nginx set-up of deploy/nginx, in Debian's headless Chromium driven by playwright-core
(tests/browser/drive.js). Sign-in, a protected call, a claim failure, expiry — the SDK's
fetch interceptor meets the 401, refreshes through nginx and the edge by itself, and repeats
the call —, sign-out. In cookie mode and in header mode (``tokenTransferMethod``).

The service's clock is the test's: when the page asks, the test moves it past the access
token's validity, so the token has expired for the service the way waiting would make it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from session_common.clock import ManualClock
from tests.gateways.peers import (
    BROWSER,
    Stack,
    browser_tools,
    bundle_page,
    chromium_binary,
    running_stack,
)
from tests.service.conftest import MakeService

VALIDITY_MS = 3600 * 1000  # the core's default access-token validity
SESSION_COOKIES = {
    "sAccessToken",
    "sRefreshToken",
    "sFrontToken",
    "st-access-token",
    "st-refresh-token",
}


@pytest.fixture
async def stack(
    make_service: MakeService, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with running_stack(make_service, clock, tmp_path) as running:
        running.upstream.bundle = await bundle_page(tmp_path)
        yield running


async def drive(stack: Stack, mode: str) -> dict[str, dict[str, Any]]:
    """Runs tests/browser/drive.js against the page in ``mode``; answers its waits; returns
    its steps by name."""
    node, chromium = browser_tools(), chromium_binary()
    process = await asyncio.create_subprocess_exec(
        node, str(BROWSER / "drive.js"), chromium, f"{stack.nginx.url}/?mode={mode}",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=BROWSER,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    steps: dict[str, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(90):
            while line := await process.stdout.readline():
                record = json.loads(line)
                if record.get("wait") == "expire":
                    stack.clock.advance(VALIDITY_MS + 1000)
                    process.stdin.write(b"ok\n")
                    await process.stdin.drain()
                else:
                    steps[record["step"]] = record
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert process.returncode == 0, f"drive.js: {stderr}\nsteps: {json.dumps(steps)}"
    return steps


def calls(step: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The requests of a step the page made to the API (the page's own files aside)."""
    return [(c["method"], c["path"], c["status"]) for c in step["network"]]


@pytest.mark.parametrize("mode", ["cookie", "header"])
async def test_the_frontend_sdk_signs_in_refreshes_by_itself_and_signs_out(
    stack: Stack, mode: str
) -> None:
    steps = await drive(stack, mode)

    signed_in = steps["sign-in"]
    assert signed_in["result"] == {"status": 200, "body": {"status": "OK", "userId": "alice"}}
    # Before its first call the SDK tries a refresh in case a session it cannot see exists
    # (httpOnly cookies only); with none, the edge answers 401 and the call goes ahead.
    *tries, sign_in_call = calls(signed_in)
    assert sign_in_call == ("POST", "/auth/signin", 200)
    assert set(tries) <= {("POST", "/auth/session/refresh", 401)}
    # Cookie mode: the service's cookies; header mode: the SDK keeps the tokens itself (in
    # cookies of the page's own). Both keep the front token.
    expected = {"sAccessToken", "sRefreshToken", "sFrontToken"}
    if mode == "header":
        expected = {"st-access-token", "st-refresh-token", "sFrontToken"}
    assert set(signed_in["cookies"]) & SESSION_COOKIES == expected
    assert steps["session"]["result"] == {"exists": True, "userId": "alice"}

    protected = steps["protected"]
    assert protected["result"] == {
        "status": 200,
        "body": {"path": "/api/hello", "userIds": ["alice"]},
    }
    admin = steps["admin"]
    assert admin["result"]["status"] == 403
    assert admin["result"]["body"]["message"] == "invalid claim"
    assert calls(admin) == [("GET", "/api/admin/report", 403)]  # no refresh for a claim

    # Past the access token's validity: the SDK's interceptor gets the 401, refreshes, and
    # sends the call again, which succeeds; the caller sees only the success.
    again = steps["protected after expiry"]
    assert again["result"] == {"status": 200, "body": {"path": "/api/hello", "userIds": ["alice"]}}
    assert calls(again) == [
        ("POST", "/api/hello", 401),
        ("POST", "/auth/session/refresh", 200),
        ("POST", "/api/hello", 200),
    ]

    signed_out = steps["sign-out"]
    assert signed_out["result"] == {"exists": False}
    assert calls(signed_out) == [("POST", "/auth/signout", 200)]
    assert set(signed_out["cookies"]) & SESSION_COOKIES == set()
    after = steps["protected after sign-out"]
    assert after["result"] == {"status": 401, "body": {"message": "unauthorised"}}

    # What the application behind nginx was sent: the session's user on each allowed call
    # (the refreshed one included), the posted body, nothing for refused calls.
    seen = [(s["method"], s["path"], s["body"]) for s in stack.upstream.seen]
    assert seen == [("GET", "/api/hello", ""), ("POST", "/api/hello", '{"n":1}')]
    assert [stack.upstream.headers(i, "x-session-user-id") for i in range(2)] == [["alice"]] * 2
