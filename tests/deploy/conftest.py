"""The Dockerfile's stages and pyproject.toml, read once per module."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.deploy.manifests import ROOT, Stage, read_dockerfile


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_dockerfile(ROOT / "Dockerfile")[1]
