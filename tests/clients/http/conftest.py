"""A client of a service that issues anti-CSRF tokens (``--anti-csrf VIA_TOKEN``) and, as
the SDK, verifies a revoked session's token locally until it expires (no revocation feed:
docs/revocation.md)."""

from __future__ import annotations

import pytest
from session_client import SessionClient

from tests.service.conftest import MakeService


@pytest.fixture
async def via_token(make_service: MakeService) -> SessionClient:
    service = await make_service(anti_csrf="VIA_TOKEN", revocation_feed=False)
    return SessionClient.insecure(service.address)
