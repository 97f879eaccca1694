"""Every response carries its ``SessionStatus`` (the design card: a generic client treats
every response alike), on the wire and in the typed clients' results."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from session_client import GetSessionResult, SessionClient, SessionHandlesResult, SessionStatus
from session_client._pb.session.v1 import session_service_pb2 as client_pb

from session_proto.session.v1 import session_service_pb2 as pb
from session_proto.session.v1 import session_service_pb2_grpc as pb_grpc


def test_every_response_message_has_a_session_status() -> None:
    service = pb.DESCRIPTOR.services_by_name["SessionService"]
    for method in service.methods:
        status = method.output_type.fields_by_name.get("status")
        assert status is not None, method.output_type.name
        assert status.type == FieldDescriptor.TYPE_ENUM
        assert status.enum_type.full_name == "session.v1.SessionStatus"


async def test_single_outcome_rpcs_answer_ok_on_the_wire(channel: grpc.aio.Channel) -> None:
    stub: Any = pb_grpc.SessionServiceStub(channel)  # type: ignore[no-untyped-call]
    created = await stub.CreateSession(pb.CreateSessionRequest(user_id="status-user"))
    responses = [
        created,
        await stub.GetAllSessionHandlesForUser(
            pb.GetAllSessionHandlesForUserRequest(user_id="status-user")
        ),
        await stub.RevokeMultipleSessions(pb.RevokeMultipleSessionsRequest(session_handles=[])),
        await stub.RevokeAllSessionsForUser(
            pb.RevokeAllSessionsForUserRequest(user_id="status-user")
        ),
        await stub.GetJWKS(pb.GetJWKSRequest()),
        await stub.GetOpenIdDiscoveryConfiguration(pb.GetOpenIdDiscoveryConfigurationRequest()),
    ]
    assert [r.status for r in responses] == [pb.SESSION_STATUS_OK] * len(responses)


async def test_typed_results_expose_the_status(client: SessionClient) -> None:
    created = await client.create_session("typed-status")
    handles = await client.get_all_session_handles_for_user("typed-status")
    jwks = await client.get_jwks()
    discovery = await client.get_open_id_discovery_configuration()
    revoked = await client.revoke_multiple_sessions(handles.session_handles)
    revoked_all = await client.revoke_all_sessions_for_user("typed-status")
    assert [r.status for r in (created, handles, jwks, discovery, revoked, revoked_all)] == [
        SessionStatus.OK
    ] * 6
    assert handles.session_handles == (created.session.session_handle,)
    assert revoked.session_handles == (created.session.session_handle,)
    assert revoked_all.session_handles == ()
    assert {k.kid[:2] for k in jwks.keys} == {"d-", "s-"}


def test_an_unset_status_from_an_older_service_reads_as_ok() -> None:
    # A service from before these status fields sends none: those RPCs had no other outcome.
    older = client_pb.GetAllSessionHandlesForUserResponse(session_handles=["h"])
    assert SessionHandlesResult.from_pb(older) == SessionHandlesResult(SessionStatus.OK, ("h",))
    newer = client_pb.GetAllSessionHandlesForUserResponse(status=99, session_handles=["h"])  # type: ignore[arg-type]
    assert SessionHandlesResult.from_pb(newer).status is SessionStatus.UNKNOWN
    # A multi-outcome response without a status has no outcome at all.
    assert GetSessionResult.from_pb(client_pb.GetSessionResponse()).status is (
        SessionStatus.UNKNOWN
    )
