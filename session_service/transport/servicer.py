"""The gRPC face of the SessionRecipe: convert, call, map the outcome. Nothing else.

``SessionServicer`` is every RPC of ``session.v1.SessionService``, in groups
(``session_rpcs``, ``claim_rpcs``, ``jwt_rpcs``), each going through ``rpc.rpc``, the single
place where failures become gRPC codes. ``add_to_server`` registers the handlers itself
instead of using the generated function, so that requests whose bytes do not parse are
answered INVALID_ARGUMENT (``rpc.lenient_parser``). GetSession has no deserializer:
its fast path reads the wire form of a token-only request itself (``fast_path.py``), and
GetSession parses what that cannot answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.transport import converters as conv
from session_service.transport.claim_rpcs import ClaimRpcs
from session_service.transport.jwt_rpcs import JwtRpcs
from session_service.transport.rpc import lenient_parser
from session_service.transport.session_rpcs import SessionRpcs


class SessionServicer(SessionRpcs, ClaimRpcs, JwtRpcs):
    """``session.v1.SessionService`` over one ``SessionRecipe``."""


def add_to_server(
    servicer: SessionServicer,
    server: Any,
    wrap: Callable[[str, Any, Any], Any] | None = None,
) -> None:
    """Register every RPC of ``session.v1.SessionService`` (a missing method fails here, at
    startup, rather than as UNIMPLEMENTED at call time). ``wrap(name, behaviour,
    response_class)`` may wrap each method once (drain, metrics, tracing)."""
    service = pb.DESCRIPTOR.services_by_name["SessionService"]

    def behaviour(name: str, response_class: Any) -> Any:
        method = getattr(servicer, name)
        return method if wrap is None else wrap(name, method, response_class)

    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            behaviour(method.name, getattr(pb, method.output_type.name)),
            # GetSession reads its request's wire form itself (fast_path.py).
            request_deserializer=(
                None
                if method.name == "GetSession"
                else lenient_parser(getattr(pb, method.input_type.name))
            ),
            response_serializer=conv.serializer(getattr(pb, method.output_type.name)),
        )
        for method in service.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
