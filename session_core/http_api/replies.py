"""The core's answers, as the SuperTokens core writes them (``webserver/WebserverAPI.java``):
JSON with status 200 and a trailing newline (its ``println``), including the outcomes
UNAUTHORISED, TRY_REFRESH_TOKEN and TOKEN_THEFT_DETECTED; errors as plain text with the
status code (400 with the input's fault, 401 ``Invalid API key``, 404 ``Not found``, 405
``Method not supported``, 500 ``Internal Error``)."""

from __future__ import annotations

import json

from aiohttp import web

from session_common.json_values import JSONObject
from session_core.session_results import NewSession, SessionSummary, TokenInfo

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
TEXT_CONTENT_TYPE = "text/html; charset=UTF-8"


def json_reply(value: JSONObject) -> web.Response:
    body = json.dumps(value, separators=(",", ":"), allow_nan=False) + "\n"
    return web.Response(
        status=200, body=body.encode("ascii"), headers={"Content-Type": JSON_CONTENT_TYPE}
    )


def text_reply(status: int, message: str) -> web.Response:
    body = (message + "\n").encode("utf-8", "replace")
    return web.Response(status=status, body=body, headers={"Content-Type": TEXT_CONTENT_TYPE})


def session_json(s: SessionSummary) -> JSONObject:
    return {"handle": s.handle, "userId": s.user_id, "userDataInJWT": s.user_data_in_jwt}


def token_json(t: TokenInfo) -> JSONObject:
    return {"token": t.token, "expiry": t.expiry, "createdTime": t.created_time}


def new_session_json(s: NewSession) -> JSONObject:
    reply: JSONObject = {
        "status": "OK",
        "session": session_json(s.session),
        "accessToken": token_json(s.access_token),
        "refreshToken": token_json(s.refresh_token),
    }
    if s.anti_csrf_token is not None:
        reply["antiCsrfToken"] = s.anti_csrf_token
    return reply
