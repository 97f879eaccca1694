"""Claims the service fetches, against the unmodified supertokens-python 0.14.0 on the same
inputs: when each fetches (``fetch_value`` counted per claim), the status and failure
reasons, whether a new access token came back, the claims in it and in the session, and what
the core stores afterwards. Both use one real core process (SQLite) and the wall clock; the
inputs are ``claims_parity_cases.py``."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from session_client import (
    SessionClient,
    SessionStatus,
    excludes,
    excludes_all,
    has_value,
    includes,
    includes_all,
)
from session_client.types import ClaimValidationError

from session_service.server import start_service
from session_service.settings import Settings
from testkit.processes import core_process
from testkit.sdk_venv import ROOT, sdk_python
from tests.sdk import claims_parity_cases as cases
from tests.sdk.claims_parity_observe import jwt_payload, materialise, normalise, now_ms, reasons

DRIVER = "tests.sdk.sdk_claims_driver"
KEYS = {c["key"] for c in cases.CLAIMS}
BUILDERS = {
    "has_value": has_value,
    "includes": includes,
    "excludes": excludes,
    "includes_all": includes_all,
    "excludes_all": excludes_all,
}


@pytest.fixture
def core_url(sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    with core_process(sqlite_url, tmp_path) as url:
        yield url


@pytest.fixture
async def client(core_url: str) -> AsyncIterator[SessionClient]:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        core_url=core_url,
        claims_module="tests.sdk.claims_parity_cases:claims",
        health_check_interval_seconds=0.05,
    )
    service = await start_service(settings)  # the wall clock, like the SDK
    try:
        async with SessionClient.insecure(service.address) as session_client:
            yield session_client
    finally:
        await service.stop(grace=1.0)
    assert service.servicer.internal_errors == 0


def _status(status: SessionStatus, invalid: tuple[ClaimValidationError, ...]) -> dict[str, Any]:
    observed: dict[str, Any] = {"status": status.name}
    if invalid:
        observed["invalid"] = reasons(invalid)
    return observed


async def observe(client: SessionClient, index: int, scenario: dict[str, Any]) -> dict[str, Any]:
    """What the driver observes of the SDK, observed of the service."""
    start = now_ms()
    user_id = f"service-claims-{index}"
    created = await client.create_session(user_id, materialise(scenario["payload"], start))
    session_handle = created.session.session_handle
    handle = "no-such-handle" if scenario.get("unknown_handle") else session_handle
    validators = [
        BUILDERS[spec["kind"]](spec["key"], spec["value"], max_age_seconds=spec["max_age"])
        for spec in scenario.get("validators", [])
    ]
    before = Counter(cases.fetches)
    function = scenario["function"]
    obs: dict[str, Any]
    if function == "get_session":
        got = await client.get_session(
            created.session.access_token,
            claim_validators=validators,
            override_global_claim_validators=True,
        )
        assert got.session is not None
        obs = _status(got.status, got.invalid_claims)
        obs["new_token"] = got.new_access_token is not None
        obs["token_claims"] = normalise(jwt_payload(got.session.access_token), KEYS, start)
        obs["session_claims"] = normalise(got.session.access_token_payload, KEYS, start)
    elif function == "validate_claims_for_session_handle":
        checked = await client.validate_claims_for_session_handle(
            handle, validators, override_global_claim_validators=True
        )
        obs = _status(checked.status, checked.invalid_claims)
    elif function == "validate_claims_in_jwt_payload":
        checked = await client.validate_claims_in_jwt_payload(
            user_id,
            jwt_payload(created.session.access_token),
            validators,
            override_global_claim_validators=True,
        )
        obs = _status(checked.status, checked.invalid_claims)
    else:
        done = await client.fetch_and_set_claim(handle, scenario["claim"])
        obs = {"status": done.status.name}
    obs["fetches"] = dict(cases.fetches - before)
    info = await client.get_session_information(session_handle)
    assert info.info is not None
    obs["stored"] = normalise(info.info.custom_claims_in_access_token_payload, KEYS, start)
    return obs


def _run_sdk(core_url: str) -> dict[str, dict[str, Any]]:
    completed = subprocess.run(
        [str(sdk_python()), "-m", DRIVER, core_url],
        cwd=ROOT,
        input=json.dumps({"claims": cases.CLAIMS, "scenarios": cases.SCENARIOS}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report: dict[str, dict[str, Any]] = json.loads(completed.stdout.strip().splitlines()[-1])
    assert {name: obs["error"] for name, obs in report.items() if "error" in obs} == {}
    return report


async def test_claims_are_fetched_and_merged_as_the_sdk_does(
    core_url: str, client: SessionClient
) -> None:
    sdk = _run_sdk(core_url)
    service = {
        scenario["name"]: await observe(client, index, scenario)
        for index, scenario in enumerate(cases.SCENARIOS)
    }

    assert set(sdk) == {scenario["name"] for scenario in cases.SCENARIOS}
    for name, observed in sdk.items():
        assert service[name] == observed, name
    # The scenarios do exercise both sides of every decision.
    assert sdk["missing"]["fetches"] == {"flag": 1}
    assert sdk["missing"]["new_token"] is True
    assert sdk["fresh within max age"]["fetches"] == {}
    assert sdk["fresh within max age"]["new_token"] is False
    assert sdk["older than max age"]["token_claims"]["flag"] == {"v": True, "fetched": True}
    assert sdk["old without max age"]["fetches"] == {}
    assert sdk["default max age"]["fetches"] == {"aged": 1}
    assert sdk["own max age beats the default"]["fetches"] == {}
    assert sdk["nothing found"] == {
        "status": "INVALID_CLAIMS",
        "invalid": [
            [
                "plan",
                {"message": "value does not exist", "expectedValue": "pro", "actualValue": None},
            ]
        ],
        "new_token": False,
        "token_claims": {},
        "session_claims": {},
        "fetches": {"plan": 1},
        "stored": {},
    }
    assert sdk["fetched a wrong value"]["status"] == "INVALID_CLAIMS"
    assert sdk["fetched a wrong value"]["new_token"] is True
    assert sdk["array claim, one fetch for two validators"]["fetches"] == {"roles": 1}
    assert sdk["by handle: missing"]["stored"]["roles"] == {
        "v": ["admin", "user"],
        "fetched": True,
    }
    assert sdk["by handle: unknown handle"]["status"] == "SESSION_DOES_NOT_EXIST"
    assert sdk["jwt payload: never fetched"]["fetches"] == {}
    assert sdk["fetch and set"]["stored"] == {
        "keep": 1,
        "roles": {"v": ["admin", "user"], "fetched": True},
    }
    assert sdk["fetch and set: unknown handle"] == {
        "status": "SESSION_DOES_NOT_EXIST",
        "fetches": {},
        "stored": {},
    }
