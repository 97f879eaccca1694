"""A virtual environment with Envoy's generated API as the gRPC project publishes it
(``xds-protos``) and grpcio, made on first use: where the tests call ``Check`` as Envoy
would, from code that is not the service's, and check the deploy/ configurations' field
names. ``xds-protos`` cannot share the project environment (it overwrites
opentelemetry-proto's modules; ``session_proto/xds_generate.py``)."""

from __future__ import annotations

from pathlib import Path

from session_proto.xds_generate import XDS_PROTOS_VERSION
from testkit.venvs import venv_python

ROOT = Path(__file__).resolve().parents[1]
XDS_VENV = ROOT / ".xds-venv"
XDS_REQUIREMENTS = (
    f"xds-protos=={XDS_PROTOS_VERSION}",
    "grpcio==1.85.1",
    "grpcio-health-checking==1.85.1",
    "grpcio-reflection==1.85.1",
    "protobuf==7.36.2",
    "pyyaml==6.0.3",
)


def xds_python() -> Path:
    """The environment's interpreter (``testkit.venvs.venv_python``)."""
    return venv_python(XDS_VENV, XDS_REQUIREMENTS, ".requirements")
