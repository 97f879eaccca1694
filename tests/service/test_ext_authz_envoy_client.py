"""``Check`` called as Envoy calls it, by a client that shares no code with the service:
xds-protos' own generated stub and messages in an environment of their own
(testkit/xds_venv.py, envoy_check_client.py), against ``session-service serve`` in a
process of its own, with its core. Covers what Envoy's ext_authz filter acts on: the
gRPC status, OkHttpResponse's headers, removals and response headers with their append
actions, DeniedHttpResponse's HTTP status, headers and body; health and reflection; the API
key Envoy sends as ``initial_metadata``; and both copies of Envoy's API in one process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock, SystemClock
from session_core.app import RunningCore
from testkit.venvs import run_json
from testkit.xds_venv import xds_python
from tests.service.harness import free_port
from tests.service.serve_process import running_service, wait_serving

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("envoy_check_client.py")
SERVICE = "envoy.service.auth.v3.Authorization"
HOUR_MS = 3_600_000
API_KEY = "envoy-sidecar-key-0123456789"


@pytest.fixture
def clock() -> ManualClock:
    """The core's clock, two hours behind: the first session it issues has expired by the
    service's (real) clock; the test then moves it to now."""
    return ManualClock(SystemClock().now_ms() - 2 * HOUR_MS)


async def envoy(job: dict[str, Any]) -> dict[str, Any]:
    """The client's answer to ``job``; in a thread, since the core answers the service
    from this process's event loop."""
    return await asyncio.to_thread(_envoy, job)


def _envoy(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = run_json(xds_python(), CLIENT, job, timeout_seconds=120)
    return result


@pytest.fixture
async def served(core: RunningCore, tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    flags = ("--core-url", core.url, "--anti-csrf", "VIA_CUSTOM_HEADER")
    async with running_service(port, tmp_path / "data", *flags):
        await wait_serving(f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}"


def cookie(token: str) -> dict[str, str]:
    return {"cookie": f"theme=dark; sAccessToken={token}"}


def route(headers: dict[str, str], **context_extensions: str) -> dict[str, Any]:
    return {"headers": headers, "context_extensions": context_extensions}


def by_name(headers: list[list[str]]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for name, value, action in headers:
        found.setdefault(name, []).append((value, action))
    return found


async def test_envoys_view_of_check(served: str, clock: ManualClock) -> None:
    async with grpc.aio.insecure_channel(served) as channel:
        client = SessionClient(channel)
        expired = (await client.create_session("u-expired")).access_token.token
        clock.set(SystemClock().now_ms())
        now = clock.now_ms()
        alive = (await client.create_session("u-1", {"plan": "pro"})).access_token.token
        user = await client.create_session("u-2", {"st-role": {"v": ["user"], "t": now}})
        created = await client.create_session("u-3")
        refreshed = await client.refresh_session(created.refresh_token.token)
        assert refreshed.status is SessionStatus.OK and refreshed.access_token is not None
        revoked = await client.create_session("u-4")
        await client.revoke_session(revoked.session.session_handle)

    admin = '[{"includes": {"key": "st-role", "value": "admin"}}]'
    calls: list[dict[str, Any]] = [
        {"headers": {**cookie(alive), "x-session-user-id": "admin", "x-session-handle": "h"}},
        {"method": "POST", "headers": {"authorization": f"Bearer {alive}"}},
        {"headers": {}},
        {"headers": cookie(expired)},
        {
            "headers": cookie(user.access_token.token),
            "context_extensions": {"claim_validators": admin},
        },
        {"method": "POST", "headers": cookie(alive)},
        {"method": "POST", "headers": {**cookie(alive), "rid": "session"}},
        {"headers": cookie(refreshed.access_token.token)},
        {
            "headers": {"x-session-user-id": "admin"},
            "context_extensions": {"session_required": "false"},
        },
        {
            "headers": cookie(revoked.access_token.token),
            "context_extensions": {"check_database": "true"},
        },
        {"headers": cookie(alive), "context_extensions": {"check_database": "sometimes"}},
    ]
    out = await envoy({"address": served, "calls": calls, "health": [SERVICE], "reflection": True})
    (ok, bearer, missing, stale, claim, no_rid, rid, promoted, optional, gone, bad) = out["calls"]

    assert ok["code"] == 0 and ok["kind"] == "ok_response"
    upstream = by_name(ok["headers"])
    assert upstream["x-session-user-id"] == [("u-1", "OVERWRITE_IF_EXISTS_OR_ADD")]
    assert set(ok["headers_to_remove"]) == {
        "x-session-user-id",
        "x-session-handle",
        "x-session-payload",
    }
    assert ok["response_headers_to_add"] == []
    assert bearer["code"] == 0 and by_name(bearer["headers"])["x-session-user-id"][0][0] == "u-1"

    assert (missing["code"], missing["kind"], missing["http_status"]) == (
        16,
        "denied_response",
        401,
    )
    assert json.loads(missing["body"]) == {"message": "unauthorised"}
    assert by_name(missing["headers"])["content-type"][0][0].startswith("application/json")
    assert (stale["code"], stale["http_status"]) == (16, 401)
    assert json.loads(stale["body"]) == {"message": "try refresh token"}
    assert (claim["code"], claim["http_status"]) == (7, 403)
    assert json.loads(claim["body"])["message"] == "invalid claim"
    assert json.loads(claim["body"])["claimValidationErrors"][0]["id"] == "st-role"

    # anti-CSRF VIA_CUSTOM_HEADER: a cookie request other than GET needs rid.
    assert (no_rid["code"], no_rid["http_status"]) == (16, 401)
    assert rid["code"] == 0

    assert promoted["code"] == 0, promoted
    added = by_name(promoted["response_headers_to_add"])
    assert added["front-token"][0][1] == "OVERWRITE_IF_EXISTS_OR_ADD"
    (set_cookie,) = added["set-cookie"]
    assert set_cookie[0].startswith("sAccessToken=") and set_cookie[1] == "APPEND_IF_EXISTS_OR_ADD"

    assert optional["code"] == 0 and optional["headers"] == []
    assert "x-session-user-id" in optional["headers_to_remove"]
    assert (gone["code"], gone["http_status"]) == (16, 401)
    cleared = sorted(v.split("=")[0] for v, action in by_name(gone["headers"])["set-cookie"])
    assert cleared == ["sAccessToken", "sRefreshToken"]
    assert (bad["code"], bad["http_status"]) == (3, 400)
    assert "check_database" in json.loads(bad["body"])["message"]

    assert out["health"] == {SERVICE: "SERVING"}
    assert SERVICE in out["reflection"]["services"]
    assert "envoy/service/auth/v3/external_auth.proto" in out["reflection"]["files"]


async def test_check_under_api_keys_takes_the_key_envoy_sends_as_initial_metadata(
    core: RunningCore, tmp_path: Path
) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text(f"{API_KEY} verify\n")
    port = free_port()
    flags = ("--core-url", core.url, "--api-keys-file", str(keys))
    async with running_service(port, tmp_path / "data", *flags):
        await wait_serving(f"127.0.0.1:{port}")
        job = {
            "address": f"127.0.0.1:{port}",
            "calls": [{"headers": {}}, {"headers": {}, "metadata": [["x-api-key", API_KEY]]}],
            "health": [SERVICE],
            "reflection": True,
            "metadata": [["x-api-key", API_KEY]],
        }
        out = await envoy(job)
    without, with_key = out["calls"]
    assert without == {"grpc_error": "UNAUTHENTICATED"}
    assert (with_key["code"], with_key["http_status"]) == (16, 401)  # answered: no session
    assert out["health"] == {SERVICE: "SERVING"}  # probes need no key
    assert SERVICE in out["reflection"]["services"]


async def test_xds_protos_and_the_services_copy_share_one_process() -> None:
    """The service's copy lives in a descriptor pool of its own: importing it next to
    xds-protos (which registers the same file names in the default pool) fails neither,
    and each reads the other's wire form."""
    out = (await envoy({"coexist": str(ROOT)}))["coexist"]
    assert out["theirs"] == {"status": {"code": 7, "message": "m"}, "deniedResponse": {"body": "b"}}
    assert out["ours"] == {"k": "v"}
    assert out["default_pool_status"] == "google.rpc.Status"
    assert out["private_module"] == "session_proto.xds.envoy.service.auth.v3.external_auth_pb2"
