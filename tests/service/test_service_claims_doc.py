"""docs/claims.md runs as pasted: its claims module is saved as ``myclaims.py`` and loaded by
a real service (``claims_module="myclaims"``), and its caller example runs as a separate
Python process against that service. Every other block is marked not runnable."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import MakeService

DOC = Path(__file__).resolve().parents[2] / "docs" / "claims.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NOT_RUNNABLE = re.compile(r"<!-- not runnable: \S.* -->")
ADDRESS = '"127.0.0.1:50051"'


def _blocks() -> list[tuple[str, str, str]]:
    """(language, code, the line before the fence) of every fenced block."""
    text = DOC.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append((match.group(1), match.group(2), before))
    return found


def test_every_block_is_run_here_or_marked_not_runnable() -> None:
    blocks = _blocks()
    python = [code for language, code, _ in blocks if language == "python"]
    assert len(python) == 2
    others = [before for language, _, before in blocks if language != "python"]
    assert others
    assert all(NOT_RUNNABLE.fullmatch(before) for before in others), others


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("myclaims", None)


async def test_the_claims_module_and_the_caller_example_run_as_pasted(
    make_service: MakeService, module_dir: Path
) -> None:
    module, caller = (code for language, code, _ in _blocks() if language == "python")
    (module_dir / "myclaims.py").write_text(module)
    service = await make_service(claims_module="myclaims")
    assert ADDRESS in caller
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        caller.replace(ADDRESS, f'"{service.address}"'),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    printed = stdout.decode().splitlines()
    assert printed[0] == "['admin', 'editor']"
    assert "'actualValue': ['viewer']" in printed[1]
