"""Metrics of the gateways, read from the service's real ``/metrics``: the HTTP edge's
requests by route, HTTP status and session status with their latency, and Envoy's Check by
gRPC code and the HTTP status of its answer (the whole decision and the fast path)."""

from __future__ import annotations

import json

import grpc
import httpx
from session_client import SessionClient

from testkit.ext_authz import check_call, check_request
from tests.service.conftest import MakeService
from tests.service.harness import scrape, value

REQUESTS = "session_service_http_requests_total"
SECONDS = "session_service_http_request_duration_seconds"


async def test_edge_requests_by_route_status_and_session_status(
    make_service: MakeService,
) -> None:
    service = await make_service(metrics_port=0, http_port=0, anti_csrf="VIA_TOKEN")
    async with (
        grpc.aio.insecure_channel(service.address) as channel,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{service.http_port}", timeout=10, trust_env=False
        ) as http,
    ):
        created = await SessionClient(channel).create_session("alice")
        cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
        for _ in range(3):
            assert (await http.get("/verify", headers=cookie)).status_code == 200
        assert (await http.post("/verify", headers=cookie)).status_code == 401
        optional = await http.get("/verify", params={"session_required": "false"})
        assert optional.status_code == 200
        bad = await http.get("/verify", params={"claim_validators": "["})
        assert bad.status_code == 400
        validators = json.dumps([{"has_value": {"key": "role", "value": "admin"}}])
        claim = await http.get("/verify", params={"claim_validators": validators}, headers=cookie)
        assert claim.status_code == 403
        refreshed = await http.post(
            "/auth/session/refresh",
            headers={"authorization": f"Bearer {created.refresh_token.token}"},
        )
        assert refreshed.status_code == 200
        assert (await http.post("/auth/signout")).status_code == 200
        assert (await http.get("/auth/jwt/jwks.json")).status_code == 200
        assert (await http.get("/auth/.well-known/openid-configuration")).status_code == 200
        assert (await http.get("/elsewhere")).status_code == 404

        call = check_call(channel)
        for _ in range(3):  # the whole decision, then its kept answer
            allowed = await call(check_request(cookie), timeout=10)
            assert allowed.HasField("ok_response")
        denied = await call(check_request({}), timeout=10)
        assert denied.denied_response.status.code == 401
        refused = await call(check_request(cookie, claim_validators="["), timeout=10)
        assert refused.denied_response.status.code == 400

    samples = await scrape(f"http://127.0.0.1:{service.metrics_port}/metrics")

    def count(route: str, code: str, status: str) -> float | None:
        return value(samples, REQUESTS, route=route, code=code, status=status)

    assert count("verify", "200", "OK") == 3
    assert count("verify", "401", "TRY_REFRESH_TOKEN") == 1
    assert count("verify", "200", "NO_SESSION") == 1
    assert count("verify", "400", "") == 1
    assert count("verify", "403", "INVALID_CLAIMS") == 1
    assert count("refresh", "200", "OK") == 1
    assert count("signout", "200", "OK") == 1
    assert count("jwks", "200", "OK") == 1
    assert count("openid", "200", "OK") == 1
    routes = {dict(labels)["route"] for name, labels in samples if name == REQUESTS}
    assert routes == {"verify", "refresh", "signout", "jwks", "openid"}
    ok = {"route": "verify", "code": "200", "status": "OK"}
    assert value(samples, f"{SECONDS}_count", **ok) == 3
    assert value(samples, f"{SECONDS}_bucket", **ok, le="+Inf") == 3
    assert (value(samples, f"{SECONDS}_sum", **ok) or 0) > 0

    rpcs = "session_service_rpcs_total"
    assert value(samples, rpcs, method="Check", code="OK", status="200") == 3
    assert value(samples, rpcs, method="Check", code="OK", status="401") == 1
    assert value(samples, rpcs, method="Check", code="OK", status="400") == 1
