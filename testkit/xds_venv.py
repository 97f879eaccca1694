"""A virtual environment with Envoy's generated API as the gRPC project publishes it
(``xds-protos``) and grpcio, made on first use: where the tests call ``Check`` as Envoy
would, from code that is not the service's, and check the deploy/ configurations' field
names. ``xds-protos`` cannot share the project environment (it overwrites
opentelemetry-proto's modules; ``session_proto/xds_generate.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from session_proto.xds_generate import XDS_PROTOS_VERSION

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
    """The environment's interpreter; the environment is (re)built when missing or made for
    other requirements."""
    python = XDS_VENV / "bin" / "python"
    marker = XDS_VENV / ".requirements"
    wanted = "\n".join(XDS_REQUIREMENTS)
    if not python.exists() or not marker.exists() or marker.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(XDS_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *XDS_REQUIREMENTS,
            ],
            check=True,
        )
        marker.write_text(wanted)
    return python
