"""The Dockerfile: one build stage, a pinned slim runtime image holding only the installed
environment, a non-root user, the service's ports, health check and command, caller API
keys from a mounted file; and a .dockerignore that admits only what the build copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from session_core.config import ENV_PREFIX as CORE_ENV_PREFIX
from session_service.settings import ENV_PREFIX as SERVICE_ENV_PREFIX
from session_service.settings import SETTING_NAMES
from tests.deploy.manifests import (
    PINNED_IMAGE,
    ROOT,
    Stage,
    callers_must_authenticate,
    env_of,
    exec_form,
    read_dockerfile,
)


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
