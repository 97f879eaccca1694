"""Generate the Python messages, type stubs and gRPC stubs from ``protos/``.

grpc_tools writes absolute imports (``from session.v1 import ...``); they are rewritten to
``session_proto.session.v1`` so that the generated code needs nothing on ``sys.path``.
"""

from __future__ import annotations

import re
import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent
PROTOS = ROOT.parent / "protos"
OUT = ROOT
_ABSOLUTE_IMPORT = re.compile(r"^from session\.v1 import", re.MULTILINE)


def generate() -> None:
    shutil.rmtree(OUT / "session", ignore_errors=True)
    proto_files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"-I{well_known}",
            f"--python_out={OUT}",
            f"--pyi_out={OUT}",
            f"--grpc_python_out={OUT}",
            *proto_files,
        ]
    )
    if status != 0:
        sys.exit(f"protoc failed with status {status}")
    for package in {p.parent for p in (OUT / "session").rglob("*.py*")} | {OUT / "session"}:
        (package / "__init__.py").touch()
    for module in (OUT / "session").rglob("*.py*"):
        text = module.read_text()
        rewritten = _ABSOLUTE_IMPORT.sub("from session_proto.session.v1 import", text)
        if rewritten != text:
            module.write_text(rewritten)


if __name__ == "__main__":
    generate()
