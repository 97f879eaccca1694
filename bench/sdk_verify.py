"""Time supertokens-python 0.14.0's ``get_session_without_request_response`` on given tokens.

Runs inside the SDK's own virtual environment (testkit/sdk_venv.py), so it imports nothing
from this project. Usage: ``sdk_verify.py <core-url> <tokens.json>``, where the file holds
``{"warmup": token, "unseen": [tokens], "seen": token, "repeat": n}``. Prints one JSON line:
microseconds per call for tokens seen for the first time and for one token repeated (the SDK
keeps no verified-token cache, so the two should agree), and how many calls answered a session.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from supertokens_python import InputAppInfo, SupertokensConfig, init
from supertokens_python.recipe import session
from supertokens_python.recipe.session.asyncio import get_session_without_request_response


async def main(core_url: str, tokens: dict[str, Any]) -> None:
    init(
        app_info=InputAppInfo(
            app_name="bench",
            api_domain="http://localhost:3001",
            website_domain="http://localhost:3000",
        ),
        framework="fastapi",
        supertokens_config=SupertokensConfig(connection_uri=core_url),
        recipe_list=[session.init(anti_csrf="NONE")],
        mode="asgi",
        telemetry=False,
    )
    # The first call fetches the JWKS: outside the timed loops.
    await get_session_without_request_response(tokens["warmup"])
    answered = 0
    started = time.perf_counter()
    for token in tokens["unseen"]:
        answered += (await get_session_without_request_response(token)) is not None
    unseen_us = (time.perf_counter() - started) / len(tokens["unseen"]) * 1e6
    seen = tokens["seen"]
    started = time.perf_counter()
    for _ in range(tokens["repeat"]):
        answered += (await get_session_without_request_response(seen)) is not None
    seen_us = (time.perf_counter() - started) / tokens["repeat"] * 1e6
    calls = len(tokens["unseen"]) + tokens["repeat"]
    print(
        json.dumps(
            {"unseen_us": unseen_us, "seen_us": seen_us, "calls": calls, "answered": answered}
        )
    )


if __name__ == "__main__":
    with open(sys.argv[2]) as handle:
        asyncio.run(main(sys.argv[1], json.load(handle)))
