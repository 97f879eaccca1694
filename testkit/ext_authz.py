"""A caller of Envoy's ``Authorization/Check`` as Envoy calls it, for the tests and
``./dev bench``: the CheckRequest Envoy's ext_authz filter sends for an HTTP request, and
the RPC over a grpc.aio channel."""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from session_service.transport.ext_authz import CHECK_METHOD


def check_request(
    headers: Mapping[str, str],
    method: str = "GET",
    path: str = "/api/items",
    **context_extensions: str,
) -> authz.CheckRequest:
    """What Envoy sends for ``method path`` with ``headers`` (lower-case names, as Envoy
    sends them) on a route whose ``check_settings.context_extensions`` are
    ``context_extensions``."""
    request = authz.CheckRequest()
    http = request.attributes.request.http
    http.method, http.path, http.host, http.scheme = method, path, "app.example", "https"
    http.protocol = "HTTP/1.1"
    http.headers.update({":authority": "app.example", ":method": method, ":path": path})
    http.headers.update({name.lower(): value for name, value in headers.items()})
    request.attributes.context_extensions.update(context_extensions)
    return request


def check_call(
    channel: grpc.aio.Channel,
) -> grpc.aio.UnaryUnaryMultiCallable[authz.CheckRequest, authz.CheckResponse]:
    """``Check`` on ``channel`` (typed; the generated stub has no type stubs)."""
    return channel.unary_unary(
        CHECK_METHOD,
        request_serializer=authz.CheckRequest.SerializeToString,
        response_deserializer=authz.CheckResponse.FromString,
    )
