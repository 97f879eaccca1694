"""The unmodified supertokens-python 0.14.0 SDK in a virtual environment of its own (its
pins conflict with ours), created on first use. Shared by the parity tests and the
benchmarks (bench/verify_micro.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDK_VENV = ROOT / ".sdk-venv"
SDK_REQUIREMENT = "supertokens-python==0.14.0"


def sdk_python() -> Path:
    """The SDK environment's interpreter; the environment is (re)built when missing or
    made for another requirement."""
    python = SDK_VENV / "bin" / "python"
    marker = SDK_VENV / ".requirement"
    if not python.exists() or not marker.exists() or marker.read_text() != SDK_REQUIREMENT:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SDK_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SDK_REQUIREMENT,
            ],
            check=True,
        )
        marker.write_text(SDK_REQUIREMENT)
    return python
