"""Removals as the unmodified supertokens-python 0.14.0 makes them, against a core: runs
inside the SDK's own virtual environment as ``python -m tests.core.sdk_revocations
<core-url>`` and prints one JSON object, the handles each removal revoked.

Token theft: ``refresh_session_without_request_response`` raises ``TokenTheftError``; what
the SDK's default theft handler (``default_token_theft_detected_callback``) does with it is
``revoke_session(session_handle)``, called here the same way.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from supertokens_python.recipe.session import asyncio as st
from supertokens_python.recipe.session.exceptions import TokenTheftError

from tests.sdk.sdk_app import init_sdk


async def _new(user_id: str) -> Any:
    return await st.create_new_session_without_request_response(user_id, disable_anti_csrf=True)


async def main(core_url: str) -> None:
    init_sdk(core_url)
    one, multi_a, multi_b, user_a, user_b, victim = [
        await _new(user) for user in ("one", "multi", "multi", "user", "user", "victim")
    ]
    observed: dict[str, Any] = {
        "revoke_session": [one.get_handle()] if await st.revoke_session(one.get_handle()) else [],
        "revoke_multiple_sessions": await st.revoke_multiple_sessions(
            [multi_a.get_handle(), multi_b.get_handle()]
        ),
        "revoke_all_sessions_for_user": await st.revoke_all_sessions_for_user("user"),
        "expected": {
            "one": one.get_handle(),
            "multi": [multi_a.get_handle(), multi_b.get_handle()],
            "user": sorted([user_a.get_handle(), user_b.get_handle()]),
            "victim": victim.get_handle(),
        },
    }
    first_refresh = victim.get_all_session_tokens_dangerously()["refreshToken"]
    child = await st.refresh_session_without_request_response(first_refresh, True)
    # The child's access token carries its parent's hash: verifying it promotes the child.
    await st.get_session_without_request_response(
        child.get_all_session_tokens_dangerously()["accessToken"], anti_csrf_check=False
    )
    try:
        await st.refresh_session_without_request_response(first_refresh, True)
        observed["theft"] = None
    except TokenTheftError as theft:
        revoked = await st.revoke_session(theft.session_handle)
        observed["theft"] = [theft.session_handle] if revoked else []
    print(json.dumps(observed))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
