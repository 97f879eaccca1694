"""The descriptor pool the reflection service reads: the files of every service the port
serves, from protobuf's default pool (``session.v1``, health, reflection) and from
``session_proto.xds_pool`` (Envoy's Authorization), which grpcio-reflection, reading one
pool, could not otherwise see together."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from session_proto.session.v1 import session_service_pb2
from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2


def reflection_pool() -> Any:
    """A new pool with each file of the served services and their imports, each file name
    once (the first copy: the well-known types of the default pool)."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: Any) -> None:
        if file.name in added:
            return
        added.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        pool.AddSerializedFile(file.serialized_pb)

    for file in (
        session_service_pb2.DESCRIPTOR,
        health_pb2.DESCRIPTOR,
        reflection_pb2.DESCRIPTOR,
        external_auth_pb2.DESCRIPTOR,
    ):
        add(file)
    return pool
