"""Build hook: generate the gRPC code into the package (``session_proto.session``).

The generated modules are not committed: ``session_proto/generate.py`` writes them from
``protos/`` while the package is built, so ``pip install .``, ``pip wheel .``, an sdist (which
carries ``protos/``, see MANIFEST.in) and ``pip install git+URL`` all give working commands.
``grpcio-tools`` is a build requirement only (pyproject.toml ``[build-system]``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "session_proto" / "generate.py"


def _generate(out: Path) -> None:
    # Loaded by path: the build environment need not be able to import the package.
    spec = importlib.util.spec_from_file_location("_session_proto_generate", GENERATOR)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{GENERATOR} not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(out, "session_proto", HERE / "protos")


class BuildPy(build_py):  # type: ignore[misc]  # setuptools ships no types
    def run(self) -> None:
        super().run()
        # An editable install imports from the source tree, a wheel from build_lib.
        package_dir = HERE if self.editable_mode else Path(self.build_lib)
        _generate(package_dir / "session_proto")


setup(cmdclass={"build_py": BuildPy})
