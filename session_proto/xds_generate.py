"""Generate Envoy's external authorization API (``envoy.service.auth.v3``) into
``session_proto.xds`` from the ``xds-protos`` package.

``xds-protos`` is the generated Python code of Envoy's data-plane-api, built by the gRPC
project. It cannot be a runtime dependency: its wheel carries its own copies of other
projects' modules (``opentelemetry.proto``, ``google.rpc``, ``google.api``, ``validate``,
``udpa``) and installing it overwrites those of opentelemetry-proto and
googleapis-common-protos in site-packages (OTLP tracing then fails to import). So it is a
build requirement only, like grpcio-tools: this module reads the serialized
``FileDescriptorProto`` that each of its ``*_pb2.py`` files registers (parsed with ``ast``,
never imported, so no module of it is loaded into this process), takes the closure of
``envoy/service/auth/v3/external_auth.proto`` (the files it imports, transitively), and runs
grpcio-tools' protoc on those descriptors (``--descriptor_set_in``): the same messages and
service as xds-protos', in Python code of our protoc version.

The generated code is private in two ways, so that it shares a process with anything:

* imports are rewritten to ``session_proto.xds.<module>`` (no top-level ``envoy``,
  ``google.rpc``, ``validate`` ... package of ours);
* the files are registered in ``session_proto.xds_pool.POOL``, not in protobuf's default
  pool, where a user's ``xds-protos``, ``googleapis-common-protos`` or opentelemetry-proto
  (another version of ``google/rpc/status.proto``, say) would make the second registration
  of a file name fail.

The well-known types in the closure (``google/protobuf/*.proto``) are generated privately
too, from the descriptors of the protobuf runtime doing the build, since the private pool
needs them; their classes still get protobuf's well-known-type methods, which protobuf
attaches by full name.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import shutil
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

# The xds-protos release generated from; pyproject.toml's [build-system] requires pins the same.
XDS_PROTOS_VERSION = "1.85.0"
ROOT_FILE = "envoy/service/auth/v3/external_auth.proto"
PACKAGE = "session_proto.xds"
_WELL_KNOWN = "google/protobuf/"


def xds_protos_root(search: Path | None = None) -> Path:
    """The directory holding xds-protos' ``envoy/``: its site-packages, or ``search`` (a
    ``pip install --target`` directory, as ``./dev`` makes). Raises SystemExit naming the pin
    when the installed release is missing or another one."""
    if search is None:
        found = list(importlib.metadata.distributions(name="xds-protos"))
    else:
        found = list(importlib.metadata.distributions(name="xds-protos", path=[str(search)]))
    if not found:
        sys.exit(f"session_proto.xds_generate: xds-protos=={XDS_PROTOS_VERSION} is not installed")
    distribution = found[0]
    if distribution.version != XDS_PROTOS_VERSION:
        sys.exit(
            f"session_proto.xds_generate: xds-protos {distribution.version} is installed, "
            f"{XDS_PROTOS_VERSION} is required"
        )
    return Path(str(distribution.locate_file("")))


def _serialized_file(module: Path) -> bytes:
    """The bytes a generated ``*_pb2.py`` passes to ``AddSerializedFile``."""
    for node in ast.walk(ast.parse(module.read_bytes(), str(module))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, bytes)
        ):
            return node.args[0].value
    raise SystemExit(f"session_proto.xds_generate: no serialized descriptor in {module}")


def _well_known(name: str) -> descriptor_pb2.FileDescriptorProto:
    """A well-known type's file as the protobuf runtime carries it."""
    module_name = "google.protobuf." + Path(name).stem + "_pb2"
    if importlib.util.find_spec(module_name) is None:
        raise SystemExit(f"session_proto.xds_generate: protobuf has no {name}")
    module = importlib.import_module(module_name)
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def closure(source: Path, root_file: str = ROOT_FILE) -> list[descriptor_pb2.FileDescriptorProto]:
    """``root_file`` and every file it imports, transitively, dependencies first."""
    found: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    ordered: list[descriptor_pb2.FileDescriptorProto] = []

    def visit(name: str) -> None:
        if name in found:
            return
        if name.startswith(_WELL_KNOWN):
            proto = _well_known(name)
        else:
            proto = descriptor_pb2.FileDescriptorProto.FromString(
                _serialized_file(source / name.replace(".proto", "_pb2.py"))
            )
        if proto.name != name:
            raise SystemExit(f"session_proto.xds_generate: {name} holds {proto.name}")
        found[name] = proto
        for dependency in proto.dependency:
            visit(dependency)
        ordered.append(proto)

    visit(root_file)
    return ordered


def _module(name: str) -> str:
    return name.removesuffix(".proto").replace("/", ".").replace("-", "_") + "_pb2"


def generate(out: Path, source: Path | None = None) -> list[str]:
    """Replace ``out`` (the directory of ``session_proto.xds``) with the closure generated
    from the xds-protos installed in ``source`` (default: this interpreter's); returns the
    proto file names generated."""
    files = closure(xds_protos_root(source))
    names = [proto.name for proto in files]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        descriptor_set = Path(scratch) / "closure.binpb"
        descriptor_set.write_bytes(descriptor_pb2.FileDescriptorSet(file=files).SerializeToString())
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"--descriptor_set_in={descriptor_set}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                *names,
            ]
        )
    if status != 0:
        sys.exit(f"session_proto.xds_generate: protoc failed with status {status}")
    modules = {_module(name) for name in names}
    for directory in {p.parent for p in out.rglob("*.py*")} | {out}:
        (directory / "__init__.py").touch()
    for path in out.rglob("*_pb2*.py*"):
        path.write_text(_privatise(path.read_text(), modules))
    return names


_IMPORT = re.compile(r"^(\s*)from ([\w.]+) import (\w+_pb2)\b", re.MULTILINE)
_DEFAULT_POOL = "_descriptor_pool.Default()"


def _privatise(text: str, modules: set[str]) -> str:
    """Imports of generated modules made ``session_proto.xds.*``; the files registered in
    ``session_proto.xds_pool.POOL`` instead of the default pool."""

    def rewrite(match: re.Match[str]) -> str:
        indent, package, name = match.groups()
        if f"{package}.{name}" not in modules:
            return match.group(0)
        return f"{indent}from {PACKAGE}.{package} import {name}"

    text = _IMPORT.sub(rewrite, text)
    if _DEFAULT_POOL in text:
        text = text.replace(_DEFAULT_POOL, "_xds_pool.POOL").replace(
            "from google.protobuf import descriptor_pool as _descriptor_pool\n",
            "from google.protobuf import descriptor_pool as _descriptor_pool\n"
            "from session_proto import xds_pool as _xds_pool\n",
            1,
        )
        if "_xds_pool.POOL" in text and "import xds_pool as _xds_pool" not in text:
            raise SystemExit("session_proto.xds_generate: unexpected generated code layout")
    return text


if __name__ == "__main__":
    target = Path(__file__).resolve().parent / "xds"
    source_argument = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    generated = generate(target, source_argument)
    print(f"session_proto.xds: {len(generated)} files from xds-protos {XDS_PROTOS_VERSION}")
