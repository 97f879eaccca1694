"""Build hook: generate the gRPC stubs into the package (``session_client._pb``).

The stubs are not committed. ``session_proto/generate.py`` at the repository root (the same
generator the service uses) writes them from ``protos/``, so a build needs a checkout of the
repository: ``pip install ./clients/python`` or ``pip wheel ./clients/python`` from its root.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
GENERATOR = HERE.parent.parent / "session_proto" / "generate.py"


def _generate(out: Path) -> None:
    spec = importlib.util.spec_from_file_location("_session_proto_generate", GENERATOR)
    if not GENERATOR.is_file() or spec is None or spec.loader is None:
        raise SystemExit(f"{GENERATOR} not found: build from a checkout of the repository")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(out, "session_client._pb")


class BuildPy(build_py):  # type: ignore[misc]  # setuptools ships no types
    def run(self) -> None:
        super().run()
        # An editable install imports from src/, a wheel from build_lib.
        package_dir = HERE / "src" if self.editable_mode else Path(self.build_lib)
        _generate(package_dir / "session_client" / "_pb")


setup(cmdclass={"build_py": BuildPy})
