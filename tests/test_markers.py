"""The markers tests/conftest.py applies (``process``, ``sdk``, ``postgres``) name the tests
they should, so ``-m "not slow and not process"`` is an honest fast subset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.markers import uses

TESTS = Path(__file__).resolve().parent
PYTEST = (sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider")
OPENING = "tests/core/storage/test_opening.py"
FILES = ("tests/service/test_cli.py", OPENING)


def test_process_starters_are_found_directly_through_helpers_and_fixtures() -> None:
    cli = uses(TESTS / "service" / "test_cli.py").process
    # running_service (imported), asyncio.create_subprocess_exec (direct)
    assert {
        "test_serve_with_the_embedded_core_then_sigterm",
        "test_python_dash_m_reports_a_bad_flag_by_name",
    } <= cli
    lifecycle = uses(TESTS / "core" / "test_lifecycle.py").process
    assert "test_cli_serves_until_sigterm" in lifecycle  # through the module's _serve
    assert "test_stop_closes_the_port" not in lifecycle  # an in-process core
    packaging = uses(TESTS / "test_packaging.py").process
    assert {"clone", "wheel", "installed"} <= packaging  # fixtures that run git and pip
    assert "test_build_requirements_pin_the_generator_like_the_runtime" not in packaging
    assert uses(TESTS / "service" / "test_get_session.py").process == frozenset()


def test_sdk_users_are_found_outside_tests_sdk_too() -> None:
    forgery = uses(TESTS / "service" / "test_forgery.py")
    assert "test_no_forged_access_token_is_accepted" in forgery.sdk  # the SDK's parse oracle
    assert "test_no_forged_access_token_is_accepted" in forgery.process
    assert "test_core_refuses_every_forged_token" not in forgery.sdk


def test_the_fast_subset_leaves_out_every_marked_test() -> None:
    def collected(expression: str) -> set[str]:
        result = subprocess.run(
            [*PYTEST, "-m", expression, *FILES],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            cwd=TESTS.parent,
        )
        return {line for line in result.stdout.splitlines() if "::" in line}

    fast = collected("not slow and not process and not postgres")
    assert fast
    assert not any("test_cli.py" in test or "[postgresql]" in test for test in fast)
    assert f"{OPENING}::test_postgres_pool_size_keyword" in collected("postgres")
    assert any(test.endswith("[sqlite]") for test in fast)
