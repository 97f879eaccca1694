"""A missing nginx or Chromium skips the gateway tests with the reason, and fails them under
SESSION_TEST_REQUIRE_PEERS=1, which .ci/run sets after installing what
``./dev missing-packages`` lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateways.peers import require

ROOT = Path(__file__).resolve().parents[2]


def test_missing_is_a_skip_with_the_remedy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSION_TEST_REQUIRE_PEERS", raising=False)
    assert require("nginx", "/usr/sbin/nginx", "install it") == "/usr/sbin/nginx"
    with pytest.raises(pytest.skip.Exception, match="nginx is missing: apt-get install x"):
        require("nginx", None, "apt-get install x")


def test_missing_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_TEST_REQUIRE_PEERS", "1")
    with pytest.raises(pytest.fail.Exception, match="SESSION_TEST_REQUIRE_PEERS=1 but nginx"):
        require("nginx", None, "apt-get install x")


def test_ci_installs_and_requires_the_peers() -> None:
    dev = (ROOT / "dev").read_text()
    assert "echo nginx-light" in dev and "missing_packages chromium" in dev
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert any(line.startswith("export ") and "SESSION_TEST_REQUIRE_PEERS=1" in line for line in ci)
