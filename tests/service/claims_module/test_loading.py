"""Loading the claims module: a module, or a function of it, gives the claims; one that
cannot be used stops startup with one line naming the setting."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_service.domain.api import ClaimValidatorKind, ClaimValidatorSpec
from session_service.settings import SettingsError
from tests.service.claims_module.conftest import CLAIMS
from tests.service.conftest import MakeService
from tests.service.fetched_claims import fetch_calls


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"claims_module": "tests.service.no_such_claims"}, "cannot import claims module"),
        ({"claims_module": f"{CLAIMS}:nothing_here"}, "has no 'nothing_here'"),
        ({"claims_module": f"{CLAIMS}:SECRET"}, "must be a list of claims"),
        ({"claims_module": f"{CLAIMS}:DEFAULT_VALUES"}, "must be a list of claims"),
        ({"claims_module": f"{CLAIMS}:reset"}, "must be a list of claims"),  # returns None
        ({"claims_module": f"{CLAIMS}:fetch_calls"}, "must be a list of claims"),
        (
            {
                "claims_module": CLAIMS,
                "required_claim_validators": (
                    ClaimValidatorSpec(kind=ClaimValidatorKind.INCLUDES, key="tier", value="x"),
                ),
            },
            "required_claim_validators[0]: includes does not apply to primitive claim 'tier'",
        ),
    ],
)
async def test_an_unusable_claims_module_stops_startup(
    make_service: MakeService, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        await make_service(**settings)
    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)


async def test_a_function_of_the_module_may_give_the_claims(make_service: MakeService) -> None:
    service = await make_service(claims_module=f"{CLAIMS}:only_verified")
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("quinn")
        handle = created.session.session_handle
        assert (await client.fetch_and_set_claim(handle, "verified")).status is SessionStatus.OK
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.fetch_and_set_claim(handle, "roles")  # in the module, not in the list
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert fetch_calls == {"verified": 1}


async def test_the_command_reports_a_bad_claims_module_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken_claims.py").write_text("raise RuntimeError('no roles table\\nat all')\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "session_service",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PYTHONPATH": str(tmp_path),
            "SESSION_SERVICE_CLAIMS_MODULE": "broken_claims",
        },
    )
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert stderr.decode().splitlines() == [
        "session-service: --claims-module: cannot import claims module 'broken_claims': "
        "RuntimeError: no roles table at all"
    ]
