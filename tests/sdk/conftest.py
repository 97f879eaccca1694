"""Fixtures of the SDK-against-service parity tests: the service's end-to-end fixtures (a real
core with a ``ManualClock``, the real service on it) and ``sdk``, an oracle process running
the unmodified supertokens-python 0.14.0 against the same core."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sdk.parity import SdkOracle
from tests.service.conftest import (  # noqa: F401 (fixtures)
    channel,
    client,
    clock,
    core,
    core_url,
    make_service,
    proxy,
    service,
)


@pytest.fixture
async def sdk(core_url: str) -> AsyncIterator[SdkOracle]:  # noqa: F811 (the fixture)
    oracle = await SdkOracle.start(core_url)
    yield oracle
    await oracle.close()
