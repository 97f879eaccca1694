"""Virtual environments of their own for code whose pins conflict with the project's (the
SuperTokens SDK, Envoy's generated API), made on first use, and running a script in one
with a JSON job on stdin and a JSON answer on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def venv_python(venv: Path, requirements: Sequence[str], marker_name: str) -> Path:
    """``venv``'s interpreter; the environment is (re)built with pip when missing or made for
    other requirements (those it was made for are in ``venv/marker_name``)."""
    python = venv / "bin" / "python"
    marker = venv / marker_name
    wanted = "\n".join(requirements)
    if not python.exists() or not marker.exists() or marker.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *requirements,
            ],
            check=True,
        )
        marker.write_text(wanted)
    return python


def run_json(python: Path, script: Path, job: Any, timeout_seconds: float) -> Any:
    """What ``script``, run by ``python`` in its own directory, prints as JSON for ``job``
    (JSON on its stdin); a non-zero exit fails with the script's stderr."""
    done = subprocess.run(
        [str(python), str(script)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
