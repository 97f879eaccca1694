"""The SDK oracle (``sdk_oracle.py``, in the SDK's own environment) seen from a test, and the
service's answers put in the oracle's shape, so a parity test compares like with like."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from session_client import (
    GetSessionResult,
    excludes,
    excludes_all,
    has_value,
    includes,
    includes_all,
)
from session_client._pb.session.v1 import session_service_pb2 as client_pb

from testkit.sdk_venv import ROOT, sdk_python

JSON = dict[str, Any]


class SdkOracle:
    """One oracle process: supertokens-python 0.14.0 initialised against one core."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(cls, core_url: str, *, use_dynamic_key: bool = True) -> SdkOracle:
        python = await asyncio.to_thread(sdk_python)
        process = await asyncio.create_subprocess_exec(
            str(python),
            "-m",
            "tests.sdk.sdk_oracle",
            core_url,
            "true" if use_dynamic_key else "false",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        return cls(process)

    async def ask(self, op: str, *, now_ms: int | None, **arguments: Any) -> JSON:
        """The SDK's outcome of ``op``; ``now_ms`` is the instant its clock reads."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write((json.dumps({"op": op, "now_ms": now_ms, **arguments}) + "\n").encode())
        await stdin.drain()
        line = await stdout.readline()
        assert line, f"the SDK oracle exited with {await self._process.wait()}"
        answer: JSON = json.loads(line)
        return answer

    async def close(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.close()
        assert await self._process.wait() == 0


def validator(spec: JSON) -> client_pb.ClaimValidator:
    """The gRPC validator for a spec the oracle also understands: ``{"kind", "key",
    "value" | "values", "max_age", "id"}``."""
    kind, key = spec["kind"], spec["key"]
    options = {"max_age_seconds": spec.get("max_age"), "id": spec.get("id")}
    single = {"has_value": has_value, "includes": includes, "excludes": excludes}
    if kind in single:
        return single[kind](key, spec["value"], **options)
    many = {"includes_all": includes_all, "excludes_all": excludes_all}
    return many[kind](key, spec["values"], **options)


def claim_outcome(status: str, invalid_claims: Any) -> JSON:
    """A claim validation outcome as the oracle reports one."""
    if status != "INVALID_CLAIMS":
        return {"status": status}
    return {
        "status": status,
        "invalid_claims": [{"id": e.id, "reason": e.reason} for e in invalid_claims],
    }


def get_session_claims_outcome(result: GetSessionResult) -> JSON:
    return claim_outcome(result.status.name, result.invalid_claims)
