"""Claims for the Go and Java clients' tests (their services import this file through
``--claims-module client_test_claims`` with this directory on PYTHONPATH).

``plan`` is whatever the caller put in user_context; ``roles`` counts its fetches in the
value itself, so a test can tell a fetch from a read."""

from __future__ import annotations

import itertools
from typing import Any

from session_service.domain.session_claims import PrimitiveArrayClaim, PrimitiveClaim

fetches = itertools.count(1)


async def fetch_plan(user_id: str, user_context: dict[str, Any]) -> Any:
    return user_context.get("plan")


async def fetch_roles(user_id: str, user_context: dict[str, Any]) -> list[str]:
    return ["admin", f"fetch-{next(fetches)}"]


claims = [
    PrimitiveClaim("plan", fetch_plan),
    PrimitiveArrayClaim("roles", fetch_roles, default_max_age_in_sec=300),
]
