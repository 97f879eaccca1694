"""deploy/kubernetes/: the kustomization, the service's deployment (probes, ports, user, caller
API keys from a mounted secret), its Service and autoscaler, and the core's deployment on an
external PostgreSQL with the shared API key."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from session_service.settings import load_settings
from session_service.transport.auth import ApiKeysError, parse_api_keys
from session_service.transport.health import LIVENESS_SERVICE, SERVICE_NAME
from tests.deploy.manifests import KUBERNETES, Stage, callers_must_authenticate, check_env_names


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text()):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = document
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    pod = deployment["spec"]["template"]["spec"]
    # Service links would add SESSION_CORE_SERVICE_HOST, SESSION_SERVICE_PORT=tcp://... and
    # more for the Services named session-core and session-service: unknown settings.
    assert pod["enableServiceLinks"] is False
    containers = pod["containers"]
    assert len(containers) == 1
    only: dict[str, Any] = containers[0]
    return only


def env_values(spec: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "<secret>") for item in spec["env"]}


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk - {"secret.example.yaml"}


def test_service_deployment_probes_ports_and_user(
    manifests: dict[tuple[str, str], dict[str, Any]], stages: list[Stage]
) -> None:
    deployment = manifests[("Deployment", "session-service")]
    spec = container(deployment)
    env = env_values(spec)
    check_env_names(env)
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert ports == {
        "grpc": int(env["SESSION_SERVICE_PORT"]),
        "metrics": int(env["SESSION_SERVICE_METRICS_PORT"]),
    }
    readiness, liveness = spec["readinessProbe"], spec["livenessProbe"]
    assert readiness["grpc"]["port"] == ports["grpc"]
    assert readiness["grpc"].get("service", "") in ("", SERVICE_NAME)
    assert liveness["grpc"] == {"port": ports["grpc"], "service": LIVENESS_SERVICE}

    pod = deployment["spec"]["template"]["spec"]
    runtime_user = stages[-1].args("USER")[0].split(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert [
        str(pod["securityContext"]["runAsUser"]),
        str(pod["securityContext"]["runAsGroup"]),
    ] == (runtime_user)
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True

    grace = float(env["SESSION_SERVICE_GRACE_PERIOD_SECONDS"])
    pause = spec["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > grace + pause
    # Every value is one the service accepts (load_settings raises SettingsError otherwise).
    settings = load_settings(env={k: v for k, v in env.items() if v != "<secret>"})
    assert settings.max_connection_age_seconds is not None
    assert "cpu" in spec["resources"]["requests"]  # the HPA's utilization needs a request
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(ports["metrics"])


def test_service_selects_the_pods_and_names_their_ports(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    for name in ("session-service", "session-core"):
        deployment = manifests[("Deployment", name)]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        service = manifests[("Service", name)]
        assert service["spec"]["selector"].items() <= labels.items()
        port_names = {p["name"] for p in container(deployment)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
        budget = manifests[("PodDisruptionBudget", name)]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budget["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]


def test_autoscaler_scales_the_service_deployment(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    hpa = manifests[("HorizontalPodAutoscaler", "session-service")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "session-service",
    }
    deployment = manifests[("Deployment", "session-service")]
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]
    assert hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_core_deployment_uses_an_external_postgresql_and_the_shared_api_key(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    core = container(manifests[("Deployment", "session-core")])
    assert core["command"] == ["session-core", "serve"]
    env = env_values(core)
    check_env_names(env)
    refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in core["env"]
        if "valueFrom" in item
    }
    assert set(refs) == {"SESSION_CORE_DATABASE", "SESSION_CORE_API_KEYS"}
    assert core["readinessProbe"]["httpGet"]["path"] == "/hello"
    assert "tcpSocket" in core["livenessProbe"]  # a database outage must not restart cores
    core_port = int(env["SESSION_CORE_PORT"])
    assert {p["containerPort"] for p in core["ports"]} == {core_port}

    service = container(manifests[("Deployment", "session-service")])
    service_env = env_values(service)
    core_service = manifests[("Service", "session-core")]
    assert service_env["SESSION_SERVICE_CORE_URL"] == (
        f"http://{core_service['metadata']['name']}:{core_service['spec']['ports'][0]['port']}"
    )
    service_refs = [i["valueFrom"]["secretKeyRef"] for i in service["env"] if "valueFrom" in i]
    assert service_refs == [refs["SESSION_CORE_API_KEYS"]]  # the same key on both sides

    examples = example_secrets()
    for ref in refs.values():
        assert ref["key"] in examples[ref["name"]]["stringData"]


def example_secrets() -> dict[str, dict[str, Any]]:
    documents = yaml.safe_load_all((KUBERNETES / "secret.example.yaml").read_text())
    return {document["metadata"]["name"]: document for document in documents}


def test_service_deployment_requires_caller_api_keys_from_a_mounted_secret(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    deployment = manifests[("Deployment", "session-service")]
    pod = deployment["spec"]["template"]["spec"]
    spec = container(deployment)
    env = env_values(spec)
    settings = callers_must_authenticate({k: v for k, v in env.items() if v != "<secret>"})
    assert settings.api_keys_file is not None
    directory, file_name = str(settings.api_keys_file.parent), settings.api_keys_file.name
    (mount,) = [m for m in spec["volumeMounts"] if m["mountPath"] == directory]
    # A subPath mount never sees the kubelet's updates: rotated keys would not arrive.
    assert "subPath" not in mount and mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secret = volume["secret"]
    assert secret["items"] == [{"key": file_name, "path": file_name}]
    # Readable by the service's group only (fsGroup), not by every user in the container.
    assert secret["defaultMode"] == 0o440
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]

    example = example_secrets()[secret["secretName"]]
    # The example's placeholders are not keys: applied unedited, the service will not start.
    with pytest.raises(ApiKeysError):
        parse_api_keys(example["stringData"][file_name])
    assert "openssl rand" in (KUBERNETES / "secret.example.yaml").read_text()
