"""The Dockerfile, docker-compose.yml and deploy/kubernetes/ are checked by reading them (no
container engine or cluster runs on these machines): image stages, user, ports, probes,
that every setting they name is one the service or the core really reads, and that the
service in each requires callers to authenticate (API keys from a file; health stays open:
tests/service/test_operations.py runs the health check against the keys file the
Compose deployment mounts).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from session_core.config import ENV_PREFIX as CORE_ENV_PREFIX
from session_core.config import unknown_core_variables
from session_service.auth import ApiKeysError, Scope, parse_api_keys
from session_service.server import LIVENESS_SERVICE, SERVICE_NAME, exposure_warning
from session_service.settings import ENV_PREFIX as SERVICE_ENV_PREFIX
from session_service.settings import (
    SETTING_NAMES,
    Settings,
    load_settings,
    unknown_service_variables,
)

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE_DEVELOPMENT_KEYS = ROOT / "deploy" / "compose" / "api-keys.development"
PINNED_IMAGE = re.compile(r"[a-z0-9./-]+:\d+\.\d+(\.\d+)?-[a-z0-9.-]+")


# -- a small Dockerfile reader --------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for instr, args in self.instructions if instr == keyword]


def read_dockerfile(path: Path) -> tuple[list[tuple[str, str]], list[Stage]]:
    """(instructions before the first FROM, stages), continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    preamble: list[tuple[str, str]] = []
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            parts = args.split()
            assert len(parts) == 3 and parts[1].upper() == "AS", f"unnamed stage: {line}"
            stages.append(Stage(base=parts[0], name=parts[2]))
        elif stages:
            stages[-1].instructions.append((keyword, args))
        else:
            preamble.append((keyword, args))
    return preamble, stages


def env_of(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.args("ENV"):
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            values[name] = value
    return values


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"use the exec form: {args}"
    parsed: list[str] = yaml.safe_load(args)
    return parsed


def callers_must_authenticate(env: dict[str, str]) -> Settings:
    """The service configured by ``env`` requires caller authentication: it would not warn at
    start that anyone who reaches its port can create, refresh and revoke sessions."""
    settings = load_settings(env=env)
    assert settings.api_keys_file is not None or settings.tls_client_ca_file is not None
    warning = exposure_warning(settings) or ""
    assert "without caller authentication" not in warning, warning
    return settings


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_dockerfile(ROOT / "Dockerfile")[1]


def test_dockerfile_builds_in_one_stage_and_runs_from_a_pinned_slim_image(
    stages: list[Stage], pyproject: dict[str, Any]
) -> None:
    assert [s.name for s in stages] == ["build", "runtime"]
    for stage in stages:
        assert PINNED_IMAGE.fullmatch(stage.base), f"{stage.base} is not pinned to a version"
        assert stage.base.startswith("python:3.11.")
    assert len({s.base for s in stages}) == 1, "both stages must use the same base image"
    build = stages[0]
    build_runs = " ".join(build.args("RUN"))
    # The package build generates the gRPC code (setup.py, grpcio-tools a build requirement):
    # no separate generation step, and no code generator in the image.
    assert "session_proto.generate" not in build_runs and "grpcio-tools" not in build_runs
    assert "grpcio-tools==1.85.1" in pyproject["build-system"]["requires"]
    copied = {source for args in build.args("COPY") for source in args.split()[:-1]}
    assert {"pyproject.toml", "setup.py", "protos/"} <= copied
    assert 'pip install ".[tracing]"' in build_runs
    assert "tracing" in pyproject["project"]["optional-dependencies"]


def test_runtime_stage_holds_only_the_installed_environment(stages: list[Stage]) -> None:
    runtime = stages[-1]
    copies = runtime.args("COPY")
    assert copies == ["--from=build /opt/venv /opt/venv"]
    runs = " ".join(runtime.args("RUN"))
    assert "pip" not in runs and "grpcio-tools" not in runs
    assert env_of(runtime)["PATH"].startswith("/opt/venv/bin:")


def test_runtime_runs_as_a_non_root_user_created_in_the_image(stages: list[Stage]) -> None:
    runtime = stages[-1]
    keywords = [keyword for keyword, _ in runtime.instructions]
    user = runtime.args("USER")
    assert len(user) == 1
    uid, _, gid = user[0].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert f"--uid {uid}" in " ".join(runtime.args("RUN"))
    assert f"--gid {gid}" in " ".join(runtime.args("RUN"))
    # Nothing runs as root after the switch.
    assert "RUN" not in keywords[keywords.index("USER") :]


def test_runtime_ports_health_check_and_command_match_the_service(
    stages: list[Stage], pyproject: dict[str, Any]
) -> None:
    runtime = stages[-1]
    env = env_of(runtime)
    exposed = {port for args in runtime.args("EXPOSE") for port in args.split()}
    assert exposed == {env["SESSION_SERVICE_PORT"], env["SESSION_SERVICE_METRICS_PORT"]}
    for name in env:
        if name.startswith(SERVICE_ENV_PREFIX):
            assert name.removeprefix(SERVICE_ENV_PREFIX).lower() in SETTING_NAMES, name
        elif name.startswith(CORE_ENV_PREFIX):
            assert name == "SESSION_CORE_DATA_DIR"  # read by session_core.config
    assert env["SESSION_SERVICE_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert env["SESSION_SERVICE_METRICS_HOST"] == "0.0.0.0"

    healthcheck = runtime.args("HEALTHCHECK")
    assert len(healthcheck) == 1
    options, _, command = healthcheck[0].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    scripts = pyproject["project"]["scripts"]
    assert exec_form(command.strip()) == ["session-service-healthcheck"]
    assert scripts["session-service-healthcheck"] == "session_service.healthcheck:main"
    cmd = runtime.args("CMD")
    assert len(cmd) == 1 and exec_form(cmd[0]) == ["session-service", "serve"]
    assert scripts["session-service"] == "session_service.cli:main"


def test_image_requires_caller_api_keys_from_a_mounted_file(stages: list[Stage]) -> None:
    """Run from the image as it is, the service reads its callers' keys where Docker and
    Compose mount a secret named api-keys, and does not start without them."""
    env = env_of(stages[-1])
    settings = callers_must_authenticate(
        {k: v for k, v in env.items() if k.startswith(SERVICE_ENV_PREFIX)}
    )
    assert settings.api_keys_file == Path("/run/secrets/api-keys")


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    build = read_dockerfile(ROOT / "Dockerfile")[1][0]
    copied = {source.rstrip("/") for args in build.args("COPY") for source in args.split()[:-1]}
    assert copied == admitted


# -- docker-compose.yml ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def check_env_names(env: dict[str, str]) -> None:
    """Every variable is a setting of the service or the core: none is one the commands
    would warn about at start as unknown (with the commands' own check)."""
    for name in env:
        assert name.startswith((SERVICE_ENV_PREFIX, CORE_ENV_PREFIX)), name
    assert unknown_service_variables(env) == []
    assert unknown_core_variables(env) == []


def test_compose_runs_the_service_the_core_and_postgresql(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "core", "service"}
    assert PINNED_IMAGE.fullmatch(services["postgres"]["image"])
    assert "healthcheck" in services["postgres"]
    for name in ("core", "service"):
        assert services[name]["build"] == "."
        check_env_names(services[name]["environment"])
    core, service = services["core"], services["service"]
    assert core["command"] == ["session-core", "serve"]
    assert core["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert core["environment"]["SESSION_CORE_DATABASE"].startswith("postgresql://")
    assert "@postgres:5432/" in core["environment"]["SESSION_CORE_DATABASE"]
    assert "/hello" in " ".join(core["healthcheck"]["test"])
    assert service["depends_on"] == {"core": {"condition": "service_healthy"}}
    core_port = core["environment"]["SESSION_CORE_PORT"]
    assert service["environment"]["SESSION_SERVICE_CORE_URL"] == f"http://core:{core_port}"
    assert service["environment"]["SESSION_SERVICE_CORE_API_KEY"] == "${SESSION_CORE_API_KEY}"
    assert sorted(service["ports"]) == ["50051:50051", "9464:9464"]


def test_compose_service_requires_caller_api_keys_from_a_secret_file(
    compose: dict[str, Any], stages: list[Stage]
) -> None:
    service = compose["services"]["service"]
    env = service["environment"]
    settings = callers_must_authenticate(env)
    # The file is a Compose secret, mounted at /run/secrets/<name> (the image's default).
    (name,) = service["secrets"]
    assert settings.api_keys_file == Path(f"/run/secrets/{name}")
    assert str(settings.api_keys_file) == env_of(stages[-1])["SESSION_SERVICE_API_KEYS_FILE"]
    # Required, like the passwords: no file is used unless the operator names one.
    assert compose["secrets"][name]["file"].startswith("${API_KEYS_FILE:?")
    # The image's HEALTHCHECK (session-service-healthcheck, which sends no key) stays.
    assert "healthcheck" not in service


def test_compose_development_keys_are_marked_and_valid() -> None:
    text = COMPOSE_DEVELOPMENT_KEYS.read_text()
    assert text.startswith("# DEVELOPMENT ONLY.")
    assert "openssl rand" in text  # how to make a real one
    scopes = {entry.scope for entry in parse_api_keys(text)}
    assert scopes == {Scope.FULL, Scope.VERIFY}
    keys = [line.split()[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert all(key.startswith("development-only-") for key in keys)


# -- deploy/kubernetes/ ---------------------------------------------------------------------


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
