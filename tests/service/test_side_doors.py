"""No side door: ``session-service serve --api-keys-file …`` (one process, and ``--workers
2``) listens on nothing that creates a session, revokes sessions or signs a JWT for a caller
without credentials.

Every port is found from the kernel (the socket inodes the process tree holds, looked up in
/proc/net/tcp{,6}), not from the logs, so a port nobody thought of is probed too. Each one
gets the three requests over HTTP/1.1 (the core's CDI API, no ``api-key``) and over gRPC (no
``x-api-key``): each must be refused (401, UNAUTHENTICATED) or impossible (a port that does
not speak that API), and nothing may be created.
"""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import httpx
import pytest
from session_client import SessionClient

from session_proto.session.v1 import session_service_pb2 as pb
from session_proto.session.v1 import session_service_pb2_grpc as pb_grpc
from tests.reliability import STATS
from tests.service.harness import free_port
from tests.service.process_tree import TcpSocket, listening, listening_unix_sockets, tree
from tests.service.serve_process import running_service, wait_serving

FULL_KEY = "side-door-test-full-key-0123456789"
VICTIM = "victim-user"
PROBE_SECONDS = 5.0
# The core's CDI requests that mint, revoke and sign, well-formed so that only the missing
# credentials can stop them.
HTTP_PROBES = (
    (
        "/recipe/session",
        {
            "userId": "mallory",
            "userDataInJWT": {},
            "userDataInDatabase": {},
            "enableAntiCsrf": False,
            "useDynamicSigningKey": True,
        },
    ),
    ("/recipe/session/remove", {"userId": VICTIM}),
    (
        "/recipe/jwt",
        {
            "payload": {"sub": "mallory"},
            "validity": 60,
            "useStaticSigningKey": False,
            "algorithm": "RS256",
            "jwksDomain": "http://localhost:3001",
        },
    ),
)
HTTP_HEADERS = {"rid": "session", "cdi-version": "2.21"}


def url(sock: TcpSocket) -> str:
    host = f"[{sock.host}]" if ":" in sock.host else sock.host
    return f"http://{host}:{sock.port}"


async def probe_http(sock: TcpSocket) -> list[str]:
    """The outcome of each HTTP probe: the status code, or ``no HTTP`` when the port does
    not answer HTTP/1.1 at all."""
    outcomes = []
    async with httpx.AsyncClient(timeout=PROBE_SECONDS) as http:
        for path, body in HTTP_PROBES:
            try:
                response = await http.post(url(sock) + path, json=body, headers=HTTP_HEADERS)
            except httpx.TransportError:
                outcomes.append("no HTTP")
            else:
                outcomes.append(str(response.status_code))
    return outcomes


async def probe_grpc(sock: TcpSocket) -> list[str]:
    """The gRPC status of CreateSession, RevokeAllSessionsForUser and CreateJWT."""
    host = f"[{sock.host}]" if ":" in sock.host else sock.host
    async with grpc.aio.insecure_channel(f"{host}:{sock.port}") as channel:
        stub = pb_grpc.SessionServiceStub(channel)  # type: ignore[no-untyped-call]
        calls = (
            stub.CreateSession(pb.CreateSessionRequest(user_id="mallory"), timeout=PROBE_SECONDS),
            stub.RevokeAllSessionsForUser(
                pb.RevokeAllSessionsForUserRequest(user_id=VICTIM), timeout=PROBE_SECONDS
            ),
            stub.CreateJWT(pb.CreateJWTRequest(validity_seconds=60), timeout=PROBE_SECONDS),
        )
        outcomes = []
        for call in calls:
            try:
                await call
            except grpc.aio.AioRpcError as exc:
                outcomes.append(exc.code().name)
            else:
                outcomes.append("OK")
    return outcomes


async def answers_hello(sock: TcpSocket) -> bool:
    """The port is a session core (``GET /hello`` is open by design: it changes nothing)."""
    async with httpx.AsyncClient(timeout=PROBE_SECONDS) as http:
        try:
            response = await http.get(url(sock) + "/hello")
        except httpx.TransportError:
            return False
    return response.status_code == 200 and response.text.strip() == "Hello"


@pytest.mark.parametrize("workers", [1, 2])
async def test_no_port_of_the_process_tree_serves_a_caller_without_credentials(
    tmp_path: Path, workers: int
) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text(f"{FULL_KEY} full\n")
    port = free_port()
    flags = ("--api-keys-file", str(keys), "--workers", str(workers), "--metrics-port", "0")
    async with running_service(port, tmp_path / "data", *flags) as service:
        await wait_serving(f"127.0.0.1:{port}")
        async with SessionClient.insecure(f"127.0.0.1:{port}", api_key=FULL_KEY) as client:
            victim = await client.create_session(VICTIM)

            pids = tree(service.process.pid)
            assert len(pids) == (1 if workers == 1 else 2 + workers)
            assert listening_unix_sockets(pids) == []
            ports = sorted({(s.host, s.port): s for s in listening(pids)}.values(), key=str)
            outcomes = {s.port: (await probe_http(s), await probe_grpc(s)) for s in ports}
            cores = [s.port for s in ports if await answers_hello(s)]

            # The gRPC port, one core, one metrics endpoint per worker; nothing else.
            assert port in outcomes and len(cores) == 1
            assert len(outcomes) == 2 + workers, outcomes
            assert outcomes[port][1] == ["UNAUTHENTICATED"] * 3
            assert outcomes[cores[0]][0] == ["401"] * 3
            succeeded = [
                (probed, outcome)
                for probed, both in outcomes.items()
                for outcome in (*both[0], *both[1])
                if outcome == "OK" or outcome.startswith("2")
            ]
            assert succeeded == []
            # Nothing was created or revoked behind the service's back.
            mallory = await client.get_all_session_handles_for_user("mallory")
            assert mallory.session_handles == ()
            handles = await client.get_all_session_handles_for_user(VICTIM)
            assert handles.session_handles == (victim.session.session_handle,)
        STATS["listening ports probed without credentials"] += len(outcomes)
        STATS["requests without credentials that succeeded"] += len(succeeded)
        print(
            f"ports probed: {len(outcomes)}, requests: {6 * len(outcomes)}, "
            f"succeeded: {len(succeeded)}; outcomes by port: {outcomes}"
        )
        service.process.send_signal(signal.SIGTERM)
        assert await service.exit_code() == 0, service.log
