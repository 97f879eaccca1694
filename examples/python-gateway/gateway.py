"""The example gateway: SuperTokens-style session endpoints on top of session-service, in
Starlette, with ``session_client.http`` doing what the SDK's request layer does.

    POST /auth/signin            {"userId": "...", "roles"?: [...]}  CreateSession
    POST /auth/session/refresh                                       RefreshSession
    POST /auth/signout                                               GetSession + RevokeSession
    GET  /protected              any session                          GetSession
    POST /protected              any session (anti-CSRF applies)      GetSession
    GET  /protected/admin        needs role "admin" (else 403)        GetSession + claim validator
    GET  /protected/strict       checks the core (sees revocations)   GetSession, check_database

Sign-in trusts the posted user id: checking credentials is the application's job.

Run it (environment): SESSION_SERVICE_ADDRESS (default 127.0.0.1:50051), HOST (127.0.0.1),
PORT (3001), ANTI_CSRF (NONE | VIA_TOKEN | VIA_CUSTOM_HEADER; match the service's
--anti-csrf, with NONE for VIA_CUSTOM_HEADER), COOKIE_SECURE ("true" behind https).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import uvicorn
from session_client import SessionClient, includes
from session_client.http import (
    DEFAULT_REFRESH_TOKEN_PATH,
    AntiCsrf,
    HttpConfig,
    HttpError,
    HttpRequest,
    HttpResult,
    HttpSessions,
    RequestSession,
    ResponseChanges,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ADMIN = includes("st-role", "admin")


def create_app(service_address: str, config: HttpConfig) -> Starlette:
    """The gateway; it connects to the service at ``service_address`` when it starts."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with SessionClient.insecure(service_address) as client:
            async with asyncio.timeout(30):
                await client.wait_until_connected()
            app.state.sessions = HttpSessions(client, config)
            yield

    def sessions_of(request: Request) -> HttpSessions:
        sessions: HttpSessions = request.app.state.sessions
        return sessions

    async def sign_in(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        user_id = body.get("userId") if isinstance(body, dict) else None
        roles = body.get("roles", []) if isinstance(body, dict) else None
        if not isinstance(user_id, str) or not user_id or not _is_str_list(roles):
            return JSONResponse({"message": 'expected {"userId": string, "roles"?: [string]}'}, 400)
        # Roles travel as the SDK's UserRoles claim: {"st-role": {"v": [...], "t": ms}}.
        payload = {"st-role": {"v": roles, "t": int(time.time() * 1000)}}
        created = await sessions_of(request).create_new_session(
            _http_request(request), user_id, payload
        )
        return _respond({"status": "OK", "userId": user_id}, created.response)

    async def refresh(request: Request) -> JSONResponse:
        result = await sessions_of(request).refresh_session(_http_request(request))
        return _respond({}, result.response) if result.ok else _error(result)

    async def sign_out(request: Request) -> JSONResponse:
        result = await sessions_of(request).sign_out(_http_request(request))
        return _respond({"status": "OK"}, result.response) if result.ok else _error(result)

    async def protected(request: Request) -> JSONResponse:
        return _with_session(await sessions_of(request).get_session(_http_request(request)))

    async def admin(request: Request) -> JSONResponse:
        sessions = sessions_of(request)
        result = await sessions.get_session(_http_request(request), claim_validators=[ADMIN])
        return _with_session(result)

    async def strict(request: Request) -> JSONResponse:
        sessions = sessions_of(request)
        result = await sessions.get_session(_http_request(request), check_database=True)
        return _with_session(result)

    routes = [
        Route("/auth/signin", sign_in, methods=["POST"]),
        Route(config.refresh_token_path, refresh, methods=["POST"]),
        Route("/auth/signout", sign_out, methods=["POST"]),
        Route("/protected", protected, methods=["GET", "POST"]),
        Route("/protected/admin", admin, methods=["GET"]),
        Route("/protected/strict", strict, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _http_request(request: Request) -> HttpRequest:
    # The Cookie header is parsed by session_client (SDK rules), not by Starlette.
    return HttpRequest(request.method, request.headers)


def _respond(body: Any, changes: ResponseChanges, status: int = 200) -> JSONResponse:
    response = JSONResponse(body, status)
    for name, value in changes.header_items():
        response.headers.append(name, value)
    return response


def _error(error: HttpError) -> JSONResponse:
    return _respond(error.body, error.response, error.http_status)


def _with_session(result: HttpResult[RequestSession]) -> JSONResponse:
    if not result.ok:
        return _error(result)
    session = result.value
    role_claim = session.access_token_payload.get("st-role")
    roles = role_claim.get("v", []) if isinstance(role_claim, dict) else []
    body = {"userId": session.user_id, "sessionHandle": session.session_handle, "roles": roles}
    return _respond(body, result.response)


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def main() -> None:
    config = HttpConfig(  # validates ANTI_CSRF
        refresh_token_path=DEFAULT_REFRESH_TOKEN_PATH,
        anti_csrf=cast(AntiCsrf, os.environ.get("ANTI_CSRF", "NONE")),
        cookie_secure=os.environ.get("COOKIE_SECURE") == "true",
    )
    app = create_app(os.environ.get("SESSION_SERVICE_ADDRESS", "127.0.0.1:50051"), config)
    host = os.environ.get("HOST", "127.0.0.1")
    uvicorn.run(app, host=host, port=int(os.environ.get("PORT", "3001")), log_level="info")


if __name__ == "__main__":
    main()
