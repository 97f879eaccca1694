"""The application's sign-in endpoint behind nginx: ``POST /auth/signin`` creates a session
with the service's CreateSession and sets its tokens as SuperTokens' backend SDK does
(``session_client.http``); everything else under ``/auth/`` (refresh, sign-out, JWKS) is the
service's HTTP edge. deploy/nginx/session.conf.template routes ``= /auth/signin`` here.

    POST /auth/signin  {"userId": "...", "roles"?: [...]}   st-auth-mode: cookie | header

Sign-in trusts the posted user id: checking credentials is the application's job, and this
is where it would go. The HTTP settings (``ANTI_CSRF``, ``COOKIE_SECURE``) must match the
service's, since the edge reads the tokens this endpoint sets.

Run it with the checkout's ``.venv/bin/python`` (it needs ``session_client``). Environment:
SESSION_SERVICE_ADDRESS (default 127.0.0.1:50051), HOST (127.0.0.1),
PORT (3002), ANTI_CSRF (NONE | VIA_TOKEN | VIA_CUSTOM_HEADER), COOKIE_SECURE ("true").
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any, cast

from aiohttp import web
from session_client import SessionClient
from session_client.http import AntiCsrf, HttpConfig, HttpRequest, HttpSessions

SESSIONS = web.AppKey("sessions", HttpSessions)


def create_app(service_address: str, config: HttpConfig) -> web.Application:
    """The sign-in app; it connects to the service at ``service_address`` when it starts."""

    async def connect(app: web.Application) -> AsyncIterator[None]:
        async with SessionClient.insecure(service_address) as client:
            async with asyncio.timeout(30):
                await client.wait_until_connected()
            app[SESSIONS] = HttpSessions(client, config)
            yield

    async def sign_in(request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        user_id = body.get("userId") if isinstance(body, dict) else None
        roles = body.get("roles", []) if isinstance(body, dict) else None
        if not isinstance(user_id, str) or not user_id or not _is_str_list(roles):
            message = 'expected {"userId": string, "roles"?: [string]}'
            return web.json_response({"message": message}, status=400)
        # Roles travel as the SDK's UserRoles claim: {"st-role": {"v": [...], "t": ms}}.
        payload = {"st-role": {"v": roles, "t": int(time.time() * 1000)}}
        created = await request.app[SESSIONS].create_new_session(
            HttpRequest(request.method, request.headers.items()), user_id, payload
        )
        response = web.json_response({"status": "OK", "userId": user_id})
        for name, value in created.response.header_items():
            response.headers.add(name, value)
        return response

    app = web.Application()
    app.cleanup_ctx.append(connect)
    app.router.add_post("/auth/signin", sign_in)
    return app


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def main() -> None:
    config = HttpConfig(  # validates ANTI_CSRF
        anti_csrf=cast(AntiCsrf, os.environ.get("ANTI_CSRF", "NONE")),
        cookie_secure=os.environ.get("COOKIE_SECURE") == "true",
    )
    app = create_app(os.environ.get("SESSION_SERVICE_ADDRESS", "127.0.0.1:50051"), config)
    host = os.environ.get("HOST", "127.0.0.1")
    web.run_app(app, host=host, port=int(os.environ.get("PORT", "3002")), print=None)


if __name__ == "__main__":
    main()
