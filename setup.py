"""Build hook: generate the gRPC code into the package (``session_proto.session``, and
Envoy's external authorization API as ``session_proto.xds``).

The generated modules are not committed: ``session_proto/generate.py`` writes them from
``protos/`` while the package is built, so ``pip install .``, ``pip wheel .``, an sdist (which
carries ``protos/``, see MANIFEST.in) and ``pip install git+URL`` all give working commands;
``session_proto/xds_generate.py`` writes ``session_proto.xds`` from the descriptors of the
``xds-protos`` package. ``grpcio-tools`` and ``xds-protos`` are build requirements only
(pyproject.toml ``[build-system]``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "session_proto" / "generate.py"
XDS_GENERATOR = HERE / "session_proto" / "xds_generate.py"


def _load(path: Path, name: str) -> Any:
    # Loaded by path: the build environment need not be able to import the package.
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path} not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(out: Path) -> None:
    _load(GENERATOR, "_session_proto_generate").generate(out, "session_proto", HERE / "protos")
    _load(XDS_GENERATOR, "_session_proto_xds_generate").generate(out / "xds")


class BuildPy(build_py):  # type: ignore[misc]  # setuptools ships no types
    def run(self) -> None:
        super().run()
        # An editable install imports from the source tree, a wheel from build_lib.
        package_dir = HERE if self.editable_mode else Path(self.build_lib)
        _generate(package_dir / "session_proto")


setup(cmdclass={"build_py": BuildPy})
