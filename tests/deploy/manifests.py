"""Reading the deployment files as the tools that run them would: a small Dockerfile reader,
and the checks every deployment's service must pass (its settings are ones the commands
read, and callers must authenticate)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from session_core.config import ENV_PREFIX as CORE_ENV_PREFIX
from session_core.config import unknown_core_variables
from session_service.settings import ENV_PREFIX as SERVICE_ENV_PREFIX
from session_service.settings import Settings, load_settings, unknown_service_variables
from session_service.transport.listening import exposure_warning

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE_DEVELOPMENT_KEYS = ROOT / "deploy" / "compose" / "api-keys.development"
PINNED_IMAGE = re.compile(r"[a-z0-9./-]+:\d+\.\d+(\.\d+)?-[a-z0-9.-]+")


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


def check_env_names(env: dict[str, str]) -> None:
    """Every variable is a setting of the service or the core: none is one the commands
    would warn about at start as unknown (with the commands' own check)."""
    for name in env:
        assert name.startswith((SERVICE_ENV_PREFIX, CORE_ENV_PREFIX)), name
    assert unknown_service_variables(env) == []
    assert unknown_core_variables(env) == []
