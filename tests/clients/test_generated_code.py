"""The generated Python code is what the checked-in protos and generator produce now.

Generated code is not committed (``./dev gen`` writes it, re-running only when the protos
or grpc_tools change), so a stale copy would otherwise go unnoticed: regenerate into a
temporary directory and compare, for the service's and the client's copy alike."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from session_proto.generate import TARGETS, generate


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize(("directory", "package"), TARGETS, ids=[name for _, name in TARGETS])
def test_generated_code_is_up_to_date(tmp_path: Path, directory: Path, package: str) -> None:
    fresh = tmp_path / "out"
    generate(fresh, package)
    expected = _files(fresh / "session")
    assert "v1/session_service_pb2_grpc.py" in expected
    assert _files(directory / "session") == expected, "stale generated code: run ./dev gen"
    assert (directory / "__init__.py").is_file()


def test_both_copies_differ_only_in_their_import_package(tmp_path: Path) -> None:
    (service_dir, service_package), (client_dir, client_package) = TARGETS
    for name in ("session_service_pb2.py", "session_service_pb2.pyi"):
        service_file = service_dir / "session" / "v1" / name
        client_file = client_dir / "session" / "v1" / name
        assert filecmp.cmp(service_file, client_file, shallow=False), name
    service_grpc = (service_dir / "session" / "v1" / "session_service_pb2_grpc.py").read_text()
    client_grpc = (client_dir / "session" / "v1" / "session_service_pb2_grpc.py").read_text()
    assert f"from {service_package}.session.v1 import" in service_grpc
    assert client_grpc == service_grpc.replace(service_package, client_package)
