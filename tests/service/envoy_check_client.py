"""Calls ``envoy.service.auth.v3.Authorization/Check`` as Envoy does, with xds-protos'
generated stub and messages (run in testkit/xds_venv.py's environment, by path, so that no
module of the project is importable). Reads a JSON job on stdin, writes JSON on stdout:

* ``calls``: each ``{"method", "path", "headers", "context_extensions", "metadata"}`` is
  sent as the CheckRequest Envoy's ext_authz filter builds; the answer comes back as the
  gRPC error code (when the RPC failed) or the response's fields by name.
* ``health``: ``grpc.health.v1`` Check of each named service.
* ``reflection``: the services listed, and the file names that describe the Authorization
  service.
* ``coexist``: the repository root; xds-protos' modules and the service's private copy
  (``session_proto.xds``) are loaded into one process, both ways round, and each parses
  what the other wrote.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import descriptor_pb2, json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

SERVICE = "envoy.service.auth.v3.Authorization"


def _action(option: Any) -> str:
    name: str = base_pb2.HeaderValueOption.HeaderAppendAction.Name(option.append_action)
    return name


def _headers(options: Any) -> list[list[str]]:
    return [[o.header.key, o.header.value, _action(o)] for o in options]


def check(channel: grpc.Channel, call: dict[str, Any]) -> dict[str, Any]:
    request = external_auth_pb2.CheckRequest()
    http = request.attributes.request.http
    http.method = call.get("method", "GET")
    http.path = call.get("path", "/api/items")
    http.host, http.scheme, http.protocol = "app.example", "https", "HTTP/1.1"
    http.headers.update({":authority": "app.example", ":method": http.method, ":path": http.path})
    http.headers.update(call.get("headers", {}))
    request.attributes.context_extensions.update(call.get("context_extensions", {}))
    stub = external_auth_pb2_grpc.AuthorizationStub(channel)
    metadata = [tuple(item) for item in call.get("metadata", [])]
    try:
        response = stub.Check(request, timeout=10, metadata=metadata)
    except grpc.RpcError as exc:
        return {"grpc_error": exc.code().name}
    kind = response.WhichOneof("http_response")
    answer: dict[str, Any] = {"code": response.status.code, "kind": kind}
    answer["message"] = response.status.message
    if kind == "ok_response":
        ok = response.ok_response
        answer["headers"] = _headers(ok.headers)
        answer["headers_to_remove"] = list(ok.headers_to_remove)
        answer["response_headers_to_add"] = _headers(ok.response_headers_to_add)
    elif kind == "denied_response":
        denied = response.denied_response
        answer["http_status"] = denied.status.code
        answer["headers"] = _headers(denied.headers)
        answer["body"] = denied.body
    return answer


def health(channel: grpc.Channel, services: list[str]) -> dict[str, str]:
    stub = health_pb2_grpc.HealthStub(channel)
    found = {}
    for service in services:
        status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        found[service] = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    return found


def reflection(channel: grpc.Channel, metadata: list[tuple[str, str]]) -> dict[str, Any]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    listed, described = stub.ServerReflectionInfo(iter(requests), timeout=10, metadata=metadata)
    files = described.file_descriptor_response.file_descriptor_proto
    return {
        "services": [s.name for s in listed.list_services_response.service],
        "files": [descriptor_pb2.FileDescriptorProto.FromString(f).name for f in files],
    }


def coexist(root: str) -> dict[str, Any]:
    """Both copies of Envoy's API in one process (xds-protos' was imported above)."""
    sys.path.insert(0, root)
    private = importlib.import_module("session_proto.xds.envoy.service.auth.v3.external_auth_pb2")
    private_status = importlib.import_module("session_proto.xds.google.rpc.status_pb2")

    ours = private.CheckResponse(status=private_status.Status(code=7, message="m"))
    ours.denied_response.body = "b"
    theirs = external_auth_pb2.CheckResponse.FromString(ours.SerializeToString())
    back = private.CheckRequest.FromString(
        external_auth_pb2.CheckRequest(
            attributes={"context_extensions": {"k": "v"}}
        ).SerializeToString()
    )
    # google.rpc.status from xds-protos' site-packages, registered in the default pool too.
    theirs_status = importlib.import_module("google.rpc.status_pb2")
    return {
        "theirs": json_format.MessageToDict(theirs),
        "ours": dict(back.attributes.context_extensions),
        "default_pool_status": theirs_status.Status.DESCRIPTOR.full_name,
        "private_module": private.__name__,
    }


def main() -> None:
    job = json.load(sys.stdin)
    out: dict[str, Any] = {}
    if "address" in job:
        with grpc.insecure_channel(job["address"]) as channel:
            out["calls"] = [check(channel, call) for call in job.get("calls", [])]
            if "health" in job:
                out["health"] = health(channel, job["health"])
            if job.get("reflection"):
                metadata = [tuple(item) for item in job.get("metadata", [])]
                out["reflection"] = reflection(channel, metadata)
    if "coexist" in job:
        out["coexist"] = coexist(job["coexist"])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
