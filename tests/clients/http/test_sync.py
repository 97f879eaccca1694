"""``SyncHttpSessions``: the same journey through the synchronous client."""

from __future__ import annotations

import asyncio

from session_client import SyncSessionClient
from session_client.http import HttpConfig, SyncHttpSessions

from tests.clients.http.exchange import CLEARED_COOKIES, cookies_of, error, ok, request, set_cookies
from tests.service.conftest import MakeService


def _sync_journey(address: str) -> None:
    with SyncSessionClient.insecure(address) as client:
        sessions = SyncHttpSessions(client, HttpConfig(anti_csrf="VIA_TOKEN"))
        created = sessions.create_new_session(request("POST", st_auth_mode="cookie"), "frank")
        cookies = cookies_of(created.response)
        csrf = created.response.headers["anti-csrf"]
        access = f"sAccessToken={cookies['sAccessToken']}"
        assert ok(sessions.get_session(request("GET", cookie=access))).user_id == "frank"
        denied = error(sessions.get_session(request("POST", cookie=access)))
        assert denied.body == {"message": "try refresh token"}

        old_refresh = f"sRefreshToken={cookies['sRefreshToken']}"
        refreshed = sessions.refresh_session(request("POST", cookie=old_refresh, anti_csrf=csrf))
        assert ok(refreshed).user_id == "frank"
        new_access = f"sAccessToken={cookies_of(refreshed.response)['sAccessToken']}"
        assert ok(sessions.get_session(request("GET", cookie=new_access))).user_id == "frank"
        theft = error(sessions.refresh_session(request("POST", cookie=old_refresh, anti_csrf=csrf)))
        assert theft.body == {"message": "token theft detected"}
        assert set_cookies(theft.response) == CLEARED_COOKIES
        assert client.get_session_information(ok(refreshed).session_handle).info is None

        nobody = sessions.sign_out(request("POST"))
        assert ok(nobody) is None


async def test_sync_http_sessions(make_service: MakeService) -> None:
    service = await make_service(anti_csrf="VIA_TOKEN")
    await asyncio.to_thread(_sync_journey, service.address)
