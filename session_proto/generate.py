"""Generate the Python messages, type stubs and gRPC stubs from ``protos/``.

Two copies are generated from the same protos: ``session_proto.session`` for the service and
``session_client._pb.session`` for the client package, which therefore installs without the
service (``clients/python/setup.py`` runs this module at build time). Both register the same
descriptors, which protobuf accepts when they are identical, so they share one process fine.

grpc_tools writes absolute imports (``from session.v1 import ...``); they are rewritten to
the target package so that the generated code needs nothing on ``sys.path``.
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
CLIENT_PB = ROOT / "clients" / "python" / "src" / "session_client" / "_pb"
# (directory of the Python package, its import name)
TARGETS = ((ROOT / "session_proto", "session_proto"), (CLIENT_PB, "session_client._pb"))
_ABSOLUTE_IMPORT = re.compile(r"^from session\.v1 import", re.MULTILINE)


def generate(out: Path, package: str, protos: Path = PROTOS) -> None:
    """Replace ``out/session`` with code generated from ``protos`` for package ``package``."""
    shutil.rmtree(out / "session", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    proto_files = sorted(str(p.relative_to(protos)) for p in protos.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{protos}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *proto_files,
        ]
    )
    if status != 0:
        sys.exit(f"protoc failed with status {status}")
    for directory in {p.parent for p in (out / "session").rglob("*.py*")} | {out / "session", out}:
        (directory / "__init__.py").touch()
    for module in (out / "session").rglob("*.py*"):
        text = module.read_text()
        rewritten = _ABSOLUTE_IMPORT.sub(f"from {package}.session.v1 import", text)
        if rewritten != text:
            module.write_text(rewritten)


if __name__ == "__main__":
    for directory, name in TARGETS:
        generate(directory, name)
