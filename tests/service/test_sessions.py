"""Managing sessions end to end over gRPC against the real core: a user's many sessions,
their information, payload merges and session data, regeneration and revocation, and
unknown handles. Ported from supertokens-python 0.14.0's
tests/test_session.py::test_creating_many_sessions_for_one_user_and_looping.
"""

from __future__ import annotations

from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock

ACCESS_TOKEN_VALIDITY_MS = 3600 * 1000  # the core's default access_token_validity


async def test_creating_many_sessions_for_one_user_and_managing_them(client: SessionClient) -> None:
    """SDK test_creating_many_sessions_for_one_user_and_looping."""
    created = [
        await client.create_session("someUser", {"someKey": "someValue"}, {"data": i})
        for i in range(7)
    ]
    listed = await client.get_all_session_handles_for_user("someUser")
    assert listed.status is SessionStatus.OK
    handles = listed.session_handles
    assert sorted(handles) == sorted(c.session.session_handle for c in created)

    for handle in handles:
        info = await client.get_session_information(handle)
        assert info.status is SessionStatus.OK
        assert info.info is not None
        assert info.info.user_id == "someUser"
        assert info.info.custom_claims_in_access_token_payload["someKey"] == "someValue"
        assert info.info.expiry > info.info.time_created > 0

        merged = await client.merge_into_access_token_payload(
            handle, {"someKey2": "someValue", "someKey": None}
        )
        assert merged.status is SessionStatus.OK
        updated = await client.update_session_data_in_database(handle, {"foo": "bar"})
        assert updated.status is SessionStatus.OK

        info = await client.get_session_information(handle)
        assert info.info is not None
        claims = info.info.custom_claims_in_access_token_payload
        assert "someKey" not in claims
        assert claims["someKey2"] == "someValue"
        assert info.info.session_data_in_database == {"foo": "bar"}

    regenerated = await client.regenerate_access_token(
        created[0].session.access_token, {"new": "payload"}
    )
    assert regenerated.status is SessionStatus.OK
    assert regenerated.session_handle == created[0].session.session_handle
    assert regenerated.user_data_in_jwt == {"new": "payload"}
    assert regenerated.access_token is not None
    assert regenerated.access_token.token != created[0].session.access_token
    assert regenerated.access_token.expiry == created[0].access_token.expiry

    for missing in (
        await client.merge_into_access_token_payload("invalidHandle", {"a": 1}),
        await client.update_session_data_in_database("invalidHandle", {"a": 1}),
        await client.revoke_session("invalidHandle"),
    ):
        assert missing.status is SessionStatus.SESSION_DOES_NOT_EXIST
    info = await client.get_session_information("invalidHandle")
    assert info.status is SessionStatus.SESSION_DOES_NOT_EXIST
    assert info.info is None


async def test_revoke_all_and_multiple_return_what_was_revoked(client: SessionClient) -> None:
    sessions = [await client.create_session("user-a") for _ in range(3)]
    handles = [s.session.session_handle for s in sessions]
    other = await client.create_session("user-b")

    revoked = await client.revoke_multiple_sessions([handles[0], "unknown-handle"])
    assert (revoked.status, revoked.session_handles) == (SessionStatus.OK, (handles[0],))
    revoked_all = await client.revoke_all_sessions_for_user("user-a")
    assert revoked_all.status is SessionStatus.OK
    assert sorted(revoked_all.session_handles) == sorted(handles[1:])
    user_a = await client.get_all_session_handles_for_user("user-a")
    assert (user_a.status, user_a.session_handles) == (SessionStatus.OK, ())
    user_b = await client.get_all_session_handles_for_user("user-b")
    assert user_b.session_handles == (other.session.session_handle,)
    assert (await client.revoke_all_sessions_for_user("user-a")).session_handles == ()
    nothing = await client.revoke_multiple_sessions([])
    assert (nothing.status, nothing.session_handles) == (SessionStatus.OK, ())


async def test_regenerate_with_an_expired_token_stores_the_payload_without_a_token(
    client: SessionClient, clock: ManualClock
) -> None:
    created = await client.create_session("user-id", {"a": 1})
    clock.advance(ACCESS_TOKEN_VALIDITY_MS + 1000)

    regenerated = await client.regenerate_access_token(created.session.access_token, {"b": 2})
    assert regenerated.status is SessionStatus.OK
    assert regenerated.access_token is None
    info = await client.get_session_information(created.session.session_handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload["b"] == 2


async def test_regenerate_for_a_revoked_session_is_unauthorised(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    await client.revoke_session(created.session.session_handle)
    regenerated = await client.regenerate_access_token(created.session.access_token, {"b": 2})
    assert regenerated.status is SessionStatus.UNAUTHORISED
    assert regenerated.access_token is None
