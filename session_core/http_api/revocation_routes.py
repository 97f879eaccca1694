"""``GET /recipe/session/revocations``: the revocation feed (``revocation_feed``), an
extension beyond CDI 2.21 behind the API key like every path. Query parameters: ``since``
(a cursor from an earlier answer; without it, every entry still inside its window),
``timeout_ms`` (0..30000, default 0: how long to wait for news when there is none) and
``limit`` (1..10000, default 1000); other parameters are ignored, as the SuperTokens core
ignores them. A value out of range, not a decimal integer, or given twice is a 400 with a
message, and so is a cursor this feed cannot read."""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from session_core.errors import BadRequest
from session_core.http_api.middleware import Route, RouteTable
from session_core.http_api.replies import json_reply
from session_core.revocation_feed import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_TIMEOUT_MS,
    CursorError,
    RevocationFeed,
)

PATH: Final = "/recipe/session/revocations"
_DIGITS: Final = re.compile(r"[0-9]{1,9}")


class RevocationRoutes:
    def __init__(self, feed: RevocationFeed) -> None:
        self._feed = feed

    def routes(self) -> RouteTable:
        return {PATH: {"GET": Route(self.revocations)}}

    async def revocations(self, request: web.Request) -> web.Response:
        query = request.query
        for name in ("since", "timeout_ms", "limit"):
            if len(query.getall(name, [])) > 1:
                raise BadRequest(f"Query parameter '{name}' is given more than once")
        since = query.get("since")
        timeout_ms = _bounded(query.get("timeout_ms"), "timeout_ms", 0, MAX_TIMEOUT_MS, 0)
        limit = _bounded(query.get("limit"), "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
        try:
            page = await self._feed.read(since, limit=limit, timeout_ms=timeout_ms)
        except CursorError as exc:
            raise BadRequest(str(exc)) from None
        return json_reply(
            {
                "status": "OK",
                "revocations": [
                    {
                        "sessionHandle": e.session_handle,
                        "revokedAt": e.revoked_at,
                        "validUntil": e.valid_until,
                    }
                    for e in page.entries
                ],
                "cursor": page.cursor,
                "more": page.more,
            }
        )


def _bounded(text: str | None, name: str, low: int, high: int, default: int) -> int:
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise BadRequest(f"Query parameter '{name}' must be an integer from {low} to {high}")
    return int(text)
