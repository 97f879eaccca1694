"""The unmodified supertokens-python 0.14.0 SDK, in its own virtual environment, as a
client of our core (a real ``session-core serve`` process) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.processes import core_process
from testkit.sdk_venv import ROOT, sdk_python


@pytest.fixture
def core_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with core_process(database_url, tmp_path) as url:
        yield url


def _run_driver(core_url: str, anti_csrf: str) -> dict[str, dict[str, Any]]:
    completed = subprocess.run(
        [str(sdk_python()), "-m", "tests.sdk.sdk_driver", core_url, anti_csrf],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report: dict[str, dict[str, Any]] = json.loads(completed.stdout.strip().splitlines()[-1])
    errors = {name: obs["error"] for name, obs in report.items() if "error" in obs}
    assert errors == {}
    return report


def test_sdk_without_anti_csrf(core_url: str) -> None:
    report = _run_driver(core_url, "NONE")

    create = report["scenario_create_and_get_locally"]
    assert create["header"]["version"] == "3"
    assert create["header"]["alg"] == "RS256"
    assert create["header"]["kid"].startswith("d-")
    assert create["payload_keys"] == sorted(
        [
            "sub",
            "exp",
            "iat",
            "sessionHandle",
            "refreshTokenHash1",
            "parentRefreshTokenHash1",
            "antiCsrfToken",
            "iss",
            "role",
        ]
    )
    assert create["get_user_id"] == "user-create"
    assert create["get_handle_matches"] is True
    assert create["get_role"] == "admin"
    assert create["get_called_core"] is False
    assert create["get_updated_tokens"] is False
    assert create["check_database_called_core"] is True
    assert create["check_database_user_id"] == "user-create"

    refresh = report["scenario_refresh_and_promotion"]
    assert refresh["refresh_new_access_token"] is True
    assert refresh["refresh_new_refresh_token"] is True
    assert refresh["refresh_same_handle"] is True
    assert refresh["refreshed_parent_hash_set"] is True
    assert refresh["first_use_called_core"] is True
    assert refresh["first_use_new_token"] is True
    assert refresh["promoted_parent_hash"] is None
    assert refresh["second_use_called_core"] is False
    assert refresh["second_use_new_token"] is False
    assert refresh["refresh_after_promotion"] is True

    theft = report["scenario_theft"]
    assert theft["theft"] == "TokenTheftError"
    assert theft["theft_handle_matches"] is True
    assert theft["theft_user_id"] == "user-theft"

    revoke = report["scenario_revoke"]
    assert revoke["revoke_result"] is True
    assert revoke["revoke_again_result"] is False
    assert revoke["revoked_get_local"] == "OK"  # valid until exp without check_database
    assert revoke["revoked_get_check_database"] == "UnauthorisedError"
    assert revoke["revoked_refresh"] == "UnauthorisedError"
    assert revoke["listed_all"] is True
    assert revoke["revoke_multiple"] is True
    assert revoke["revoke_all"] is True
    assert revoke["listed_after"] == []

    payload = report["scenario_payload_and_data"]
    assert payload["merge_by_handle"] is True
    assert payload["info_claims"] == {"keep": 1, "added": "x", "iss": "http://localhost:3001/auth"}
    assert payload["info_user_id"] == "user-payload"
    assert payload["info_expiry_after_created"] is True
    assert payload["update_data"] is True
    assert payload["info_data"] == {"b": [1, 2]}
    assert payload["regenerated_payload_fresh"] is True
    assert payload["regenerate_same_handle"] is True
    assert payload["regenerate_payload"] == {"only": "this"}
    assert payload["merge_unknown_handle"] is False
    assert payload["update_unknown_handle"] is False
    assert payload["info_unknown_handle"] is None

    jwks = report["scenario_jwks_and_jwt"]
    assert jwks["jwks_count"] == 2
    assert jwks["jwks_has_session_kid"] is True
    assert jwks["jwks_first_is_dynamic"] is True
    assert jwks["jwt_created"] is True
    assert jwks["jwt_kid_in_jwks"] is True
    assert jwks["jwt_custom"] == "claim"


def test_sdk_with_anti_csrf_via_token(core_url: str) -> None:
    csrf = _run_driver(core_url, "VIA_TOKEN")["scenario_anti_csrf"]
    assert csrf["anti_csrf_present"] is True
    assert csrf["csrf_right"] == "OK"
    assert csrf["csrf_wrong"] == "TryRefreshTokenError"
    assert csrf["csrf_refresh_missing"] == "UnauthorisedError"
    assert csrf["csrf_refresh_right"] == "OK"
