"""A caller of Envoy's ``Authorization/Check`` as Envoy calls it, for the tests and
``./dev bench``: the CheckRequest Envoy's ext_authz filter sends for an HTTP request, and
the RPC over a grpc.aio channel."""

from __future__ import annotations

import time
from collections.abc import Mapping

import grpc

from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from session_service.transport.ext_authz import CHECK_METHOD

# The headers a browser's request carries through Envoy besides the caller's own.
BROWSER_HEADERS = {
    "accept": "application/json, text/plain, */*",
    "accept-encoding": "gzip, deflate, br",
    "accept-language": "en-US,en;q=0.9",
    "user-agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    ),
    "x-forwarded-for": "203.0.113.7",
    "x-forwarded-proto": "https",
    "x-envoy-internal": "true",
}


def check_request(
    headers: Mapping[str, str],
    method: str = "GET",
    path: str = "/api/items",
    **context_extensions: str,
) -> authz.CheckRequest:
    """``numbered_check_request`` with request id 1."""
    return numbered_check_request(headers, 1, method, path, context_extensions)


def numbered_check_request(
    headers: Mapping[str, str],
    request_id: int,
    method: str = "GET",
    path: str = "/api/items",
    context_extensions: Mapping[str, str] | None = None,
) -> authz.CheckRequest:
    """What Envoy sends for ``method path`` with ``headers`` (lower-case names, as Envoy
    sends them) on a route whose ``check_settings.context_extensions`` are
    ``context_extensions``: the peers' addresses, the request's time, Envoy's stream id, its
    pseudo-headers, a browser's usual headers and an ``x-request-id`` made from
    ``request_id`` (the same length for every id), and the empty metadata contexts Envoy
    always sets."""
    request = authz.CheckRequest()
    attributes = request.attributes
    attributes.source.address.socket_address.address = "10.0.3.17"
    attributes.source.address.socket_address.port_value = 40000 + request_id % 20000
    attributes.destination.address.socket_address.address = "10.0.0.5"
    attributes.destination.address.socket_address.port_value = 8080
    attributes.request.time.FromNanoseconds(time.time_ns())
    attributes.metadata_context.SetInParent()
    attributes.route_metadata_context.SetInParent()
    http = attributes.request.http
    http.id = f"{request_id:020d}"
    http.method, http.path, http.host, http.scheme = method, path, "app.example", "https"
    http.protocol = "HTTP/1.1"
    http.headers.update({":authority": "app.example", ":method": method, ":path": path})
    http.headers.update(BROWSER_HEADERS)
    http.headers["x-request-id"] = request_id_header(request_id)
    http.headers.update({name.lower(): value for name, value in headers.items()})
    attributes.context_extensions.update(context_extensions or {})
    return request


def request_id_header(request_id: int) -> str:
    """The ``x-request-id`` Envoy would make (a UUID) for ``request_id``."""
    return f"{request_id >> 96 & 0xFFFFFFFF:08x}-4c2a-4b1e-8d3f-{request_id & 0xFFFFFFFFFFFF:012x}"


def check_call(
    channel: grpc.aio.Channel,
) -> grpc.aio.UnaryUnaryMultiCallable[authz.CheckRequest, authz.CheckResponse]:
    """``Check`` on ``channel`` (typed; the generated stub has no type stubs)."""
    return channel.unary_unary(
        CHECK_METHOD,
        request_serializer=authz.CheckRequest.SerializeToString,
        response_deserializer=authz.CheckResponse.FromString,
    )
