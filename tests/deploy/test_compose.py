"""docker-compose.yml: the service, the core and PostgreSQL, settings the commands read, and
caller API keys from a secret file (the development keys say what they are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from session_service.transport.auth import Scope, parse_api_keys
from tests.deploy.manifests import (
    COMPOSE_DEVELOPMENT_KEYS,
    PINNED_IMAGE,
    ROOT,
    Stage,
    callers_must_authenticate,
    check_env_names,
    env_of,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


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
