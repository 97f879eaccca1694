"""The session recipe's endpoints (``/recipe/session...`` and ``/recipe/jwt/data``): each
reads its input, calls ``CoreSessions`` and shapes the reply; outcomes other than OK are
its exceptions, which the middleware answers."""

from __future__ import annotations

from aiohttp import web

from session_common.json_values import JSONObject
from session_core.errors import BadRequest
from session_core.http_api.json_body import query_param, read_json_body
from session_core.http_api.middleware import Route, RouteTable
from session_core.http_api.replies import json_reply, new_session_json, session_json, token_json
from session_core.session_results import VerifiedSession
from session_core.sessions import CoreSessions


class SessionRoutes:
    def __init__(self, sessions: CoreSessions) -> None:
        self._sessions = sessions

    def routes(self) -> RouteTable:
        return {
            "/recipe/session": {
                "POST": Route(self.create),
                "GET": Route(self.information),
            },
            "/recipe/session/verify": {"POST": Route(self.verify)},
            "/recipe/session/refresh": {"POST": Route(self.refresh)},
            "/recipe/session/remove": {"POST": Route(self.remove)},
            "/recipe/session/user": {"GET": Route(self.handles_for_user)},
            "/recipe/session/data": {
                "PUT": Route(self.put_session_data),
                "GET": Route(self.get_session_data),
            },
            "/recipe/jwt/data": {
                "PUT": Route(self.put_jwt_data),
                "GET": Route(self.get_jwt_data),
            },
            "/recipe/session/regenerate": {"POST": Route(self.regenerate)},
        }

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        user_id = body.string("userId")
        user_data_in_jwt = body.object("userDataInJWT")
        user_data_in_database = body.object("userDataInDatabase")
        enable_anti_csrf = body.boolean("enableAntiCsrf")
        use_dynamic = body.optional_boolean("useDynamicSigningKey")
        created = await self._sessions.create(
            user_id,
            user_data_in_jwt,
            user_data_in_database,
            enable_anti_csrf=enable_anti_csrf,
            use_dynamic_signing_key=use_dynamic is not False,
        )
        return json_reply(new_session_json(created))

    async def information(self, request: web.Request) -> web.Response:
        info = await self._sessions.information(query_param(request, "sessionHandle"))
        return json_reply(
            {
                "status": "OK",
                "sessionHandle": info.session_handle,
                "userId": info.user_id,
                "userDataInDatabase": info.user_data_in_database,
                "userDataInJWT": info.user_data_in_jwt,
                "expiry": info.expiry,
                "timeCreated": info.time_created,
            }
        )

    async def verify(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        access_token = body.string("accessToken")
        anti_csrf_token = body.optional_string("antiCsrfToken")
        do_anti_csrf_check = body.boolean("doAntiCsrfCheck")
        enable_anti_csrf = body.boolean("enableAntiCsrf")
        check_database = body.optional_boolean("checkDatabase")
        result = await self._sessions.verify(
            access_token,
            anti_csrf_token=anti_csrf_token,
            enable_anti_csrf=enable_anti_csrf,
            do_anti_csrf_check=do_anti_csrf_check,
            check_database=check_database is True,
        )
        return json_reply(_verified_json(result))

    async def refresh(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        refresh_token = body.string("refreshToken")
        anti_csrf_token = body.optional_string("antiCsrfToken")
        enable_anti_csrf = body.boolean("enableAntiCsrf")
        refreshed = await self._sessions.refresh(
            refresh_token, anti_csrf_token=anti_csrf_token, enable_anti_csrf=enable_anti_csrf
        )
        return json_reply(new_session_json(refreshed))

    async def remove(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        user_id = body.optional_string("userId")
        handles = body.optional_string_list("sessionHandles")
        if user_id is not None and handles is None:
            revoked = await self._sessions.revoke_all_for_user(user_id)
        elif handles is not None and user_id is None:
            revoked = await self._sessions.revoke_by_handles(handles)
        else:
            raise BadRequest("Invalid JSON input - use one of userId or sessionHandles array")
        return json_reply({"status": "OK", "sessionHandlesRevoked": revoked})

    async def handles_for_user(self, request: web.Request) -> web.Response:
        handles = await self._sessions.session_handles_for_user(query_param(request, "userId"))
        return json_reply({"status": "OK", "sessionHandles": handles})

    async def put_session_data(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        handle = body.string("sessionHandle")
        data = body.object("userDataInDatabase")
        await self._sessions.update_session_data(handle, data)
        return json_reply({"status": "OK"})

    async def get_session_data(self, request: web.Request) -> web.Response:
        info = await self._sessions.information(query_param(request, "sessionHandle"))
        return json_reply({"status": "OK", "userDataInDatabase": info.user_data_in_database})

    async def put_jwt_data(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        handle = body.string("sessionHandle")
        payload = body.object("userDataInJWT")
        await self._sessions.update_jwt_payload(handle, payload)
        return json_reply({"status": "OK"})

    async def get_jwt_data(self, request: web.Request) -> web.Response:
        info = await self._sessions.information(query_param(request, "sessionHandle"))
        return json_reply({"status": "OK", "userDataInJWT": info.user_data_in_jwt})

    async def regenerate(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        access_token = body.string("accessToken")
        payload = body.optional_object("userDataInJWT")
        return json_reply(_verified_json(await self._sessions.regenerate(access_token, payload)))


def _verified_json(result: VerifiedSession) -> JSONObject:
    reply: JSONObject = {"status": "OK", "session": session_json(result.session)}
    if result.access_token is not None:
        reply["accessToken"] = token_json(result.access_token)
    return reply
