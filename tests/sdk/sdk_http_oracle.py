"""supertokens-python 0.14.0 answering HTTP requests, for the HTTP edge's parity test.

Runs inside the SDK's own virtual environment and imports nothing from this project but
``sdk_app``. Usage, from the repository root: ``python -m tests.sdk.sdk_http_oracle
<core-url> <anti-csrf>``. Reads one JSON request per line on stdin, ``{"op": "verify" |
"api", "now_ms", "method", "path", "headers": [[name, value], ...], "options": {...}}``, and
writes the SDK's HTTP answer per line: ``{"status": int, "body": JSON | null, "headers":
{name: value}, "cookies": [{name, value, expires, path, domain, secure, httponly,
samesite}], "user_id": str | null}``.

The request goes through the SDK as a framework adapter hands it over (the SDK's
``BaseRequest`` / ``BaseResponse``, implemented here over plain values, as its fastapi
adapter implements them over starlette's): ``verify`` is ``get_session`` then
``manage_session_post_response``; ``api`` is ``Supertokens.middleware`` (the refresh and
sign-out APIs); a ``SuperTokensError`` goes to ``handle_supertokens_error``, as the
framework's middleware does. ``now_ms`` sets the SDK's clock as in ``sdk_oracle``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any
from urllib.parse import unquote

from supertokens_python import Supertokens
from supertokens_python.exceptions import SuperTokensError
from supertokens_python.framework.request import BaseRequest
from supertokens_python.framework.response import BaseResponse
from supertokens_python.recipe.session import access_token, jwks
from supertokens_python.recipe.session.asyncio import get_session
from supertokens_python.supertokens import manage_session_post_response
from supertokens_python.utils import get_timestamp_ms

from tests.sdk.sdk_app import init_sdk

JSON = dict[str, Any]
NOW: list[int | None] = [None]


def _now() -> int:
    return get_timestamp_ms() if NOW[0] is None else NOW[0]


for _module in (access_token, jwks):
    _module.get_timestamp_ms = _now


class Request(BaseRequest):  # type: ignore[misc]
    def __init__(self, method: str, path: str, headers: list[list[str]]) -> None:
        super().__init__()
        self._method = method
        self._path = path
        self._headers = {name.lower(): value for name, value in headers}
        self._cookies: dict[str, str] = {}
        for part in self._headers.get("cookie", "").split(";"):
            name, eq, value = part.strip().partition("=")
            if eq and name not in self._cookies:
                self._cookies[name] = value
        self._session: Any = None

    def get_query_param(self, key: str, default: str | None = None) -> str | None:
        return default

    def get_query_params(self) -> dict[str, Any]:
        return {}

    async def json(self) -> Any:
        return {}

    async def form_data(self) -> dict[str, Any]:
        return {}

    def method(self) -> str:
        return self._method

    def get_cookie(self, key: str) -> str | None:
        return self._cookies.get(key)

    def get_header(self, key: str) -> str | None:
        return self._headers.get(key.lower())

    def get_session(self) -> Any:
        return self._session

    def set_session(self, session: Any) -> None:
        self._session = session

    def set_session_as_none(self) -> None:
        self._session = None

    def get_path(self) -> str:
        return self._path


class Response(BaseResponse):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__({})
        self.status = 200
        self.body: Any = None
        self.headers: dict[str, str] = {}
        self.cookies: list[JSON] = []

    def set_cookie(
        self,
        key: str,
        value: str,
        expires: int,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str = "lax",
    ) -> None:
        self.cookies.append(
            {
                "name": key,
                "value": unquote(value),
                "expires": expires,
                "path": path,
                "domain": domain,
                "secure": secure,
                "httponly": httponly,
                "samesite": samesite,
            }
        )

    def set_header(self, key: str, value: str) -> None:
        self.headers[key.lower()] = value

    def get_header(self, key: str) -> str | None:
        return self.headers.get(key.lower())

    def remove_header(self, key: str) -> None:
        self.headers.pop(key.lower(), None)

    def set_status_code(self, status_code: int) -> None:
        self.status = status_code

    def set_json_content(self, content: Any) -> None:
        self.body = content

    def set_html_content(self, content: str) -> None:
        self.body = content


async def _answer(request: JSON) -> JSON:
    NOW[0] = request.get("now_ms")
    req = Request(request["method"], request["path"], request["headers"])
    resp = Response()
    st = Supertokens.get_instance()
    user_id = None
    try:
        if request["op"] == "verify":
            options = request.get("options", {})
            session = await get_session(
                req,
                session_required=options.get("session_required", True),
                anti_csrf_check=options.get("anti_csrf_check"),
                check_database=options.get("check_database", False),
            )
            if session is not None:
                user_id = session.get_user_id()
        else:
            assert await st.middleware(req, resp) is not None, "not an API of the SDK"
        session = req.get_session()
        if session is not None:
            manage_session_post_response(session, resp)
    except SuperTokensError as error:
        await st.handle_supertokens_error(req, error, resp)
    return {
        "status": resp.status,
        "body": resp.body,
        "headers": resp.headers,
        "cookies": resp.cookies,
        "user_id": user_id,
    }


async def main(core_url: str, anti_csrf: str) -> None:
    init_sdk(core_url, anti_csrf=anti_csrf)
    for line in sys.stdin:
        print(json.dumps(await _answer(json.loads(line))), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
