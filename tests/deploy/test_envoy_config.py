"""deploy/envoy/ and deploy/istio/: every field name of the Envoy configuration (the
bootstrap, and the Envoy parts of Istio's EnvoyFilter) is a field of Envoy's generated API
(xds-protos, in testkit/xds_venv.py's environment; envoy_api_check.py walks the messages and
each ``typed_config``'s ``@type``), and what the files tell the service (ports, health check
name, per-route context_extensions, the provider's name) is what the service reads.

Istio's own fields (MeshConfig.extensionProviders.envoyExtAuthzGrpc, AuthorizationPolicy,
EnvoyFilter's match) are not in xds-protos and no package of Istio's API is installable here:
only their consistency is checked; docs/gateways.md says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from session_service.domain.http_sessions import ROUTE_OPTION_NAMES, route_options
from session_service.settings import Settings
from session_service.transport.ext_authz import AUTHORIZATION_SERVICE
from testkit.venvs import run_json
from testkit.xds_venv import xds_python
from tests.deploy.manifests import ROOT

pytestmark = pytest.mark.process

ENVOY = ROOT / "deploy" / "envoy" / "envoy.yaml"
ISTIO = ROOT / "deploy" / "istio"
CHECKER = Path(__file__).with_name("envoy_api_check.py")
EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz"
PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"
# What an EnvoyFilter patch value is, by its applyTo.
PATCHED = {
    "HTTP_ROUTE": "envoy.config.route.v3.Route",
    "HTTP_FILTER": "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
}


def check_against_envoy_api(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = run_json(xds_python(), CHECKER, jobs, timeout_seconds=300)
    return result


@pytest.fixture(scope="module")
def bootstrap() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ENVOY.read_text())
    return loaded


@pytest.fixture(scope="module")
def istio() -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(ISTIO.glob("*.yaml"))}


def envoy_filter_jobs(istio: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    patches = istio["envoy-filter.yaml"]["spec"]["configPatches"]
    return [
        {
            "label": f"envoy-filter.yaml configPatches[{index}]",
            "type": PATCHED[patch["applyTo"]],
            "value": patch["patch"]["value"],
        }
        for index, patch in enumerate(patches)
    ]


def test_every_field_is_in_envoys_generated_api(
    bootstrap: dict[str, Any], istio: dict[str, dict[str, Any]]
) -> None:
    jobs = [
        {"label": "envoy.yaml", "type": "envoy.config.bootstrap.v3.Bootstrap", "value": bootstrap}
    ]
    result = check_against_envoy_api(jobs + envoy_filter_jobs(istio))
    assert result["errors"] == []
    assert set(result["types"]) == {
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
        "envoy.extensions.filters.http.router.v3.Router",
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    }


def test_the_check_finds_a_misspelled_field_and_a_bad_enum_name(bootstrap: dict[str, Any]) -> None:
    text = json.dumps(bootstrap)
    misspelled = json.loads(text.replace('"check_settings"', '"check_setting"', 1))
    bad_enum = json.loads(text.replace('"ServiceUnavailable"', '"Unavailable"', 1))
    result = check_against_envoy_api(
        [
            {"label": "a", "type": "envoy.config.bootstrap.v3.Bootstrap", "value": misspelled},
            {"label": "b", "type": "envoy.config.bootstrap.v3.Bootstrap", "value": bad_enum},
        ]
    )
    first, second = result["errors"]
    assert first.startswith("a.") and "has no field 'check_setting'" in first
    assert second.startswith("b:") and "Unavailable" in second


def _routes(bootstrap: dict[str, Any]) -> list[dict[str, Any]]:
    (listener,) = bootstrap["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    routes: list[dict[str, Any]] = manager["typed_config"]["route_config"]["virtual_hosts"][0][
        "routes"
    ]
    return routes


def _clusters(bootstrap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}


def _port(cluster: dict[str, Any]) -> int:
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    port: int = endpoint["address"]["socket_address"]["port_value"]
    return port


def test_envoy_asks_the_grpc_port_and_routes_the_session_api_to_the_http_edge(
    bootstrap: dict[str, Any],
) -> None:
    (listener,) = bootstrap["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    filters = manager["typed_config"]["http_filters"]
    assert [f["name"] for f in filters] == [EXT_AUTHZ_FILTER, "envoy.filters.http.router"]
    ext_authz = filters[0]["typed_config"]
    assert "with_request_body" not in ext_authz  # the decision reads no body
    assert ext_authz["failure_mode_allow"] is False
    assert ext_authz["transport_api_version"] == "V3"
    clusters = _clusters(bootstrap)
    grpc_cluster = clusters[ext_authz["grpc_service"]["envoy_grpc"]["cluster_name"]]
    assert _port(grpc_cluster) == Settings().port
    (health_check,) = grpc_cluster["health_checks"]
    assert health_check["grpc_health_check"]["service_name"] == AUTHORIZATION_SERVICE
    assert "http2_protocol_options" in str(grpc_cluster["typed_extension_protocol_options"])

    auth_route = next(r for r in _routes(bootstrap) if r["match"].get("prefix") == "/auth/")
    assert auth_route["typed_per_filter_config"][EXT_AUTHZ_FILTER]["disabled"] is True
    edge = clusters[auth_route["route"]["cluster"]]
    assert edge is not grpc_cluster and _port(edge) != _port(grpc_cluster)


def _context_extensions(per_route: dict[str, Any]) -> dict[str, str]:
    assert per_route["@type"] == PER_ROUTE
    extensions: dict[str, str] = per_route.get("check_settings", {}).get("context_extensions", {})
    return extensions


def test_every_context_extension_is_a_route_option_the_service_accepts(
    bootstrap: dict[str, Any], istio: dict[str, dict[str, Any]]
) -> None:
    found = [
        _context_extensions(route["typed_per_filter_config"][EXT_AUTHZ_FILTER])
        for route in _routes(bootstrap)
        if EXT_AUTHZ_FILTER in route.get("typed_per_filter_config", {})
    ]
    for patch in istio["envoy-filter.yaml"]["spec"]["configPatches"]:
        per_route = patch["patch"]["value"].get("typed_per_filter_config", {})
        if EXT_AUTHZ_FILTER in per_route:
            found.append(_context_extensions(per_route[EXT_AUTHZ_FILTER]))
    extensions = [e for e in found if e]
    assert len(extensions) == 3
    for values in extensions:
        assert set(values) <= set(ROUTE_OPTION_NAMES)
        route_options(values)  # raises on a value the service would deny with 400
    assert {"session_required", "check_database", "claim_validators"} <= {
        key for values in extensions for key in values
    }


def test_istio_policy_names_the_mesh_provider_that_points_at_the_grpc_port(
    istio: dict[str, dict[str, Any]],
) -> None:
    mesh = istio["mesh-config.yaml"]["spec"]["meshConfig"]
    (provider,) = mesh["extensionProviders"]
    grpc_provider = provider["envoyExtAuthzGrpc"]
    assert grpc_provider["port"] == Settings().port
    assert grpc_provider["service"].startswith("session-service.")
    assert grpc_provider["failOpen"] is False
    policy = istio["authorization-policy.yaml"]
    assert policy["kind"] == "AuthorizationPolicy"
    assert policy["spec"]["action"] == "CUSTOM"
    assert policy["spec"]["provider"]["name"] == provider["name"]
    assert policy["spec"]["rules"][0]["to"][0]["operation"]["notPaths"] == ["/auth/*"]
    envoy_filter = istio["envoy-filter.yaml"]
    assert (
        envoy_filter["spec"]["workloadSelector"]["labels"]
        == policy["spec"]["selector"]["matchLabels"]
    )
