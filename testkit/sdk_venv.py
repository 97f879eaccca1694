"""The unmodified supertokens-python 0.14.0 SDK in a virtual environment of its own (its
pins conflict with ours), created on first use. Shared by the parity tests and the
benchmarks (bench/verify_micro.py)."""

from __future__ import annotations

from pathlib import Path

from testkit.venvs import venv_python

ROOT = Path(__file__).resolve().parents[1]
SDK_VENV = ROOT / ".sdk-venv"
SDK_REQUIREMENT = "supertokens-python==0.14.0"


def sdk_python() -> Path:
    """The SDK environment's interpreter (``testkit.venvs.venv_python``)."""
    return venv_python(SDK_VENV, (SDK_REQUIREMENT,), ".requirement")
