"""The HTTP layer of the core (cdi-2.21.md §1, §2): routing, header checks, input parsing,
reply shapes. All decisions about sessions live in ``sessions.py``.

Routing is done here rather than by aiohttp's router so that unknown paths and wrong
methods get the reference's text answers (404 ``Not found``, 405 ``Method not supported``)
instead of aiohttp's HTML error pages.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from session_common.clock import Clock
from session_common.json_values import JSONObject, json_depth
from session_common.logs import REQUEST_ID, REQUEST_ID_HEADER, accepted_request_id
from session_common.tracing import mark_error, server_span
from session_core.config import CoreConfig
from session_core.errors import (
    BadRequest,
    TokenTheftError,
    TryRefreshTokenError,
    UnauthorisedError,
)
from session_core.jwt_signing import UnsupportedAlgorithm, create_jwt
from session_core.metrics import CoreMetrics
from session_core.sessions import CoreSessions, NewSession, SessionSummary, TokenInfo
from session_core.signing_keys import SigningKeyManager
from session_core.storage.base import Storage

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
TEXT_CONTENT_TYPE = "text/html; charset=UTF-8"
LATEST_CDI_VERSION = "2.21"
# Only 2.21 is served: the older CDIs' behaviour (v2 tokens, handshake, legacy reply
# fields) is not implemented, so claiming them in /apiversion would mislead a client.
SUPPORTED_CDI_VERSIONS = ("2.21",)
MAX_BODY_BYTES = 10 * 1024 * 1024
# Request bodies may nest at most this many objects and arrays (the body itself is one).
# Python's json parses nearly 1000 levels (its recursion limit) but every later step must
# then stay clear of that limit too; 255 is also the default nesting limit of Gson's
# JsonReader, the JSON library of Java backends and cores. Deeper input is a 400.
MAX_BODY_DEPTH = 255
TOO_DEEP_MESSAGE = f"JSON input nests deeper than {MAX_BODY_DEPTH} levels"
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    check_api_key: bool = True
    check_version: bool = True


# -- replies --------------------------------------------------------------------------------


def json_reply(value: JSONObject) -> web.Response:
    """200 JSON followed by a newline, as the reference's ``println`` (§1.2)."""
    body = json.dumps(value, separators=(",", ":"), allow_nan=False) + "\n"
    return web.Response(
        status=200, body=body.encode("ascii"), headers={"Content-Type": JSON_CONTENT_TYPE}
    )


def text_reply(status: int, message: str) -> web.Response:
    body = (message + "\n").encode("utf-8", "replace")
    return web.Response(status=status, body=body, headers={"Content-Type": TEXT_CONTENT_TYPE})


def _session_json(s: SessionSummary) -> JSONObject:
    return {"handle": s.handle, "userId": s.user_id, "userDataInJWT": s.user_data_in_jwt}


def _token_json(t: TokenInfo) -> JSONObject:
    return {"token": t.token, "expiry": t.expiry, "createdTime": t.created_time}


def _new_session_json(s: NewSession) -> JSONObject:
    reply: JSONObject = {
        "status": "OK",
        "session": _session_json(s.session),
        "accessToken": _token_json(s.access_token),
        "refreshToken": _token_json(s.refresh_token),
    }
    if s.anti_csrf_token is not None:
        reply["antiCsrfToken"] = s.anti_csrf_token
    return reply


# -- input ------------------------------------------------------------------------------------


def _invalid(name: str) -> BadRequest:
    return BadRequest(f"Field name '{name}' is invalid in JSON input")


def _reject_constant(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


_MISSING = object()


class JsonBody:
    """Typed access to a request body, with the reference's exact 400 messages (§1.3):
    a present field of the wrong type, or an explicit ``null``, is invalid even when the
    field is optional."""

    def __init__(self, data: JSONObject) -> None:
        self._data = data

    def _get(self, name: str, required: bool) -> Any:
        if name not in self._data:
            if required:
                raise _invalid(name)
            return _MISSING
        return self._data[name]

    def string(self, name: str) -> str:
        value = self._get(name, True)
        if not isinstance(value, str):
            raise _invalid(name)
        return value

    def optional_string(self, name: str) -> str | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise _invalid(name)
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name, True)
        if not isinstance(value, bool):
            raise _invalid(name)
        return value

    def optional_boolean(self, name: str) -> bool | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, bool):
            raise _invalid(name)
        return value

    def object(self, name: str) -> JSONObject:
        value = self._get(name, True)
        if not isinstance(value, dict):
            raise _invalid(name)
        return value

    def optional_object(self, name: str) -> JSONObject | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            raise _invalid(name)
        return value

    def long(self, name: str) -> int:
        """A JSON number read as a Java long (a fraction is truncated, as Gson does)."""
        value = self._get(name, True)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(name)
        number = int(value)
        if not _LONG_MIN <= number <= _LONG_MAX:
            raise _invalid(name)
        return number

    def optional_string_list(self, name: str) -> list[str] | None:
        value = self._get(name, False)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name)
        return value


async def read_json_body(request: web.Request) -> JsonBody:
    raw = await request.read()
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
    except ValueError:
        raise BadRequest("Invalid Json Input") from None
    except RecursionError:  # only nesting makes json recurse that deep
        raise BadRequest(TOO_DEEP_MESSAGE) from None
    if not isinstance(data, dict):
        raise BadRequest("Invalid Json Input")
    if json_depth(data) > MAX_BODY_DEPTH:
        raise BadRequest(TOO_DEEP_MESSAGE)
    return JsonBody(data)


def query_param(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if value is None:
        raise BadRequest(f"Field name '{name}' is missing in GET request")
    return value


# -- the API ----------------------------------------------------------------------------------


class CoreHttpApi:
    def __init__(
        self,
        config: CoreConfig,
        storage: Storage,
        clock: Clock,
        keys: SigningKeyManager,
        sessions: CoreSessions,
        *,
        tracer: Tracer | None = None,
    ) -> None:
        self._config = config
        self._tracer = tracer
        self._storage = storage
        self._clock = clock
        self._keys = keys
        self._sessions = sessions
        self._api_keys = tuple(k.encode("ascii") for k in config.api_keys)
        hello = Route(self._hello, check_api_key=False, check_version=False)
        any_method = {m: hello for m in ("GET", "POST", "PUT", "DELETE")}
        self._routes: dict[str, dict[str, Route]] = {
            "/": any_method,
            "/hello": any_method,
            "/apiversion": {"GET": Route(self._api_version, check_version=False)},
            "/.well-known/jwks.json": {
                "GET": Route(self._public_jwks, check_api_key=False, check_version=False)
            },
            "/recipe/jwt/jwks": {"GET": Route(self._recipe_jwks)},
            "/recipe/jwt": {"POST": Route(self._create_jwt)},
            "/recipe/session": {
                "POST": Route(self._create_session),
                "GET": Route(self._session_information),
            },
            "/recipe/session/verify": {"POST": Route(self._verify_session)},
            "/recipe/session/refresh": {"POST": Route(self._refresh_session)},
            "/recipe/session/remove": {"POST": Route(self._remove_sessions)},
            "/recipe/session/user": {"GET": Route(self._session_handles_for_user)},
            "/recipe/session/data": {
                "PUT": Route(self._put_session_data),
                "GET": Route(self._get_session_data),
            },
            "/recipe/jwt/data": {
                "PUT": Route(self._put_jwt_data),
                "GET": Route(self._get_jwt_data),
            },
            "/recipe/session/regenerate": {"POST": Route(self._regenerate)},
            # Not a CDI path; open like /hello: counts only, no secrets (docs/operations.md).
            "/metrics": {"GET": Route(self._metrics, check_api_key=False, check_version=False)},
        }
        self.metrics = CoreMetrics(self._routes, lambda: keys.reloads)

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    # -- dispatch -----------------------------------------------------------------------------
    async def _serve(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        # The caller's request id (the service sends its own), on every log line of this
        # request; reset afterwards because aiohttp may reuse the task for the connection.
        token = REQUEST_ID.set(accepted_request_id(request.headers.get(REQUEST_ID_HEADER)))
        try:
            if self._tracer is None:
                response = await self._answer(request)
            else:
                response = await self._answer_traced(request, self._tracer)
            elapsed = time.perf_counter() - started
            self.metrics.observe(
                self._route_path(request.path), request.method, response.status, elapsed
            )
            # One line per request; the path never contains secrets (tokens travel in bodies).
            log.debug(
                "%s %s -> %d (%.1f ms)",
                request.method,
                request.path,
                response.status,
                elapsed * 1000,
            )
            return response
        finally:
            REQUEST_ID.reset(token)

    async def _answer(self, request: web.Request) -> web.Response:
        try:
            return await self._dispatch(request)
        except web.HTTPRequestEntityTooLarge:
            return text_reply(413, "Request Entity Too Large")
        except Exception:
            # Never include the request: its body holds tokens.
            log.exception("internal error on %s %s", request.method, request.path)
            return text_reply(500, "Internal Error")

    async def _answer_traced(self, request: web.Request, tracer: Tracer) -> web.Response:
        path = self._route_path(request.path)
        route = path if path in self._routes else "other"
        with server_span(
            tracer,
            f"{request.method} {route}",
            request.headers,
            {"http.request.method": request.method, "http.route": route},
        ) as span:
            response = await self._answer(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                mark_error(span, f"HTTP {response.status}")
            return response

    def _route_path(self, path: str) -> str | None:
        base = self._config.base_path
        if not base:
            return path
        if path == base:
            return "/"
        if path.startswith(base + "/"):
            return path[len(base) :]
        return None

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = self._route_path(request.path)
        methods = self._routes.get(path) if path is not None else None
        if methods is None:
            return text_reply(404, "Not found")
        route = methods.get(request.method)
        if route is None:
            return text_reply(405, "Method not supported")
        # The API key is checked before the version (§1.1).
        if route.check_api_key and not self._api_key_ok(request.headers.get("api-key")):
            return text_reply(401, "Invalid API key")
        try:
            if route.check_version:
                self._check_version(request.headers.get("cdi-version"))
            return await route.handler(request)
        except BadRequest as exc:
            return text_reply(400, exc.message)
        except UnauthorisedError as exc:
            return json_reply({"status": "UNAUTHORISED", "message": exc.message})
        except TryRefreshTokenError as exc:
            return json_reply({"status": "TRY_REFRESH_TOKEN", "message": exc.message})
        except TokenTheftError as exc:
            return json_reply(
                {
                    "status": "TOKEN_THEFT_DETECTED",
                    "session": {"handle": exc.session_handle, "userId": exc.user_id},
                }
            )
        except UnsupportedAlgorithm:
            return json_reply({"status": "UNSUPPORTED_ALGORITHM_ERROR"})

    def _api_key_ok(self, header: str | None) -> bool:
        if not self._api_keys:
            return True
        if header is None:
            return False
        given = header.strip().encode("utf-8", "surrogateescape")
        ok = False
        for key in self._api_keys:  # no early exit: compare against every key
            ok |= hmac.compare_digest(given, key)
        return ok

    @staticmethod
    def _check_version(header: str | None) -> None:
        version = LATEST_CDI_VERSION if header is None else header.strip()
        # The reference answers a malformed version (not X.Y...) with a 500; here any
        # version that is not served, malformed or not, is the same 400.
        if version not in SUPPORTED_CDI_VERSIONS:
            raise BadRequest(f"cdi-version {version} not supported")

    # -- core endpoints -----------------------------------------------------------------------
    async def _hello(self, request: web.Request) -> web.Response:
        await self._storage.ping()  # a failing database is a 500, as in the reference
        return text_reply(200, "Hello")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    async def _api_version(self, request: web.Request) -> web.Response:
        return json_reply({"versions": list(SUPPORTED_CDI_VERSIONS)})

    async def _public_jwks(self, request: web.Request) -> web.Response:
        response = json_reply({"keys": await self._keys.jwks()})
        # Optional at 2.21 (§2.11); tells verifiers how long the key set stays current.
        response.headers["Cache-Control"] = (
            f"max-age={self._keys.jwks_max_age_s()}, must-revalidate"
        )
        return response

    async def _recipe_jwks(self, request: web.Request) -> web.Response:
        return json_reply({"keys": await self._keys.jwks(), "status": "OK"})

    async def _create_jwt(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        payload = body.object("payload")
        algorithm = body.string("algorithm")
        jwks_domain = body.string("jwksDomain")
        validity = body.long("validity")
        use_static = body.optional_boolean("useStaticSigningKey")
        jwt = await create_jwt(
            self._keys,
            self._clock,
            payload=payload,
            algorithm=algorithm,
            jwks_domain=jwks_domain,
            validity_s=validity,
            use_static_signing_key=use_static is not False,
        )
        return json_reply({"status": "OK", "jwt": jwt})

    # -- session endpoints --------------------------------------------------------------------
    async def _create_session(self, request: web.Request) -> web.Response:
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
        return json_reply(_new_session_json(created))

    async def _session_information(self, request: web.Request) -> web.Response:
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

    async def _verify_session(self, request: web.Request) -> web.Response:
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
        reply: JSONObject = {"status": "OK", "session": _session_json(result.session)}
        if result.access_token is not None:
            reply["accessToken"] = _token_json(result.access_token)
        return json_reply(reply)

    async def _refresh_session(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        refresh_token = body.string("refreshToken")
        anti_csrf_token = body.optional_string("antiCsrfToken")
        enable_anti_csrf = body.boolean("enableAntiCsrf")
        refreshed = await self._sessions.refresh(
            refresh_token, anti_csrf_token=anti_csrf_token, enable_anti_csrf=enable_anti_csrf
        )
        return json_reply(_new_session_json(refreshed))

    async def _remove_sessions(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        user_id = body.optional_string("userId")
        handles = body.optional_string_list("sessionHandles")
        if (user_id is None) == (handles is None):
            raise BadRequest("Invalid JSON input - use one of userId or sessionHandles array")
        if user_id is not None:
            revoked = await self._sessions.revoke_all_for_user(user_id)
        else:
            assert handles is not None
            revoked = await self._sessions.revoke_by_handles(handles)
        return json_reply({"status": "OK", "sessionHandlesRevoked": revoked})

    async def _session_handles_for_user(self, request: web.Request) -> web.Response:
        handles = await self._sessions.session_handles_for_user(query_param(request, "userId"))
        return json_reply({"status": "OK", "sessionHandles": handles})

    async def _put_session_data(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        handle = body.string("sessionHandle")
        data = body.object("userDataInDatabase")
        await self._sessions.update_session_data(handle, data)
        return json_reply({"status": "OK"})

    async def _get_session_data(self, request: web.Request) -> web.Response:
        info = await self._sessions.information(query_param(request, "sessionHandle"))
        return json_reply({"status": "OK", "userDataInDatabase": info.user_data_in_database})

    async def _put_jwt_data(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        handle = body.string("sessionHandle")
        payload = body.object("userDataInJWT")
        await self._sessions.update_jwt_payload(handle, payload)
        return json_reply({"status": "OK"})

    async def _get_jwt_data(self, request: web.Request) -> web.Response:
        info = await self._sessions.information(query_param(request, "sessionHandle"))
        return json_reply({"status": "OK", "userDataInJWT": info.user_data_in_jwt})

    async def _regenerate(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        access_token = body.string("accessToken")
        payload = body.optional_object("userDataInJWT")
        result = await self._sessions.regenerate(access_token, payload)
        reply: JSONObject = {"status": "OK", "session": _session_json(result.session)}
        if result.access_token is not None:
            reply["accessToken"] = _token_json(result.access_token)
        return json_reply(reply)
