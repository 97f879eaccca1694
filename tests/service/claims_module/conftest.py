"""A service with the claims of ``tests/service/fetched_claims.py`` (``--claims-module``), whose
``fetch_value`` functions count their calls, reset around every test."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from session_client import SessionClient

from session_service.server import RunningService
from tests.service import fetched_claims
from tests.service.conftest import MakeService

CLAIMS = "tests.service.fetched_claims"
ISSUER = "http://localhost:3001/auth"


def front_token_payload(front_token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(front_token))
    return decoded


@pytest.fixture(autouse=True)
def _fresh_claims() -> Iterator[None]:
    fetched_claims.reset()
    yield
    fetched_claims.reset()


@pytest.fixture
async def claims_service(make_service: MakeService) -> RunningService:
    return await make_service(claims_module=CLAIMS)


@pytest.fixture
async def claims_client(claims_service: RunningService) -> AsyncIterator[SessionClient]:
    async with SessionClient.insecure(claims_service.address) as client:
        yield client
