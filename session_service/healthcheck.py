"""``session-service-healthcheck``: exit 0 when the service reports SERVING, 1 otherwise.

For container HEALTHCHECKs and exec probes, which run a command rather than speak gRPC.
It asks ``grpc.health.v1.Health/Check`` on 127.0.0.1 at the service's own port
(``SESSION_SERVICE_PORT``, as the server reads it), so the image needs no arguments.
With ``--ca-file`` it connects over TLS (``--cert-file``/``--key-file`` for mutual TLS).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_PORT = "50051"


def _parser() -> argparse.ArgumentParser:
    port = os.environ.get("SESSION_SERVICE_PORT") or DEFAULT_PORT
    parser = argparse.ArgumentParser(
        prog="session-service-healthcheck",
        description="Exit 0 if grpc.health.v1 Check answers SERVING, else 1.",
    )
    parser.add_argument("--address", default=f"127.0.0.1:{port}", help="host:port to check")
    parser.add_argument("--service", default="", help="service name to check ('' = server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    parser.add_argument("--ca-file", type=Path, help="PEM CA bundle: connect over TLS")
    parser.add_argument("--cert-file", type=Path, help="PEM client certificate (mutual TLS)")
    parser.add_argument("--key-file", type=Path, help="PEM key of --cert-file")
    parser.add_argument("--server-name", help="name expected in the server certificate")
    return parser


def _channel(args: argparse.Namespace) -> grpc.Channel:
    if args.ca_file is None:
        return grpc.insecure_channel(args.address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=args.ca_file.read_bytes(),
        private_key=args.key_file.read_bytes() if args.key_file else None,
        certificate_chain=args.cert_file.read_bytes() if args.cert_file else None,
    )
    options = []
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    return grpc.secure_channel(args.address, credentials, options=options)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with _channel(args) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
    except grpc.RpcError as exc:
        print(f"unhealthy: {exc.code().name}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot read a TLS file: {exc}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"unhealthy: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
