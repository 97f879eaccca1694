"""The fenced code blocks of the documentation and the directives before them (the format
is described in tests/docs/test_snippets.py), the checks that each is run or marked, and
the counters the run prints at its end."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT_GLOBS = (
    "README.md",
    "docs/*.md",
    "clients/README.md",
    "clients/*/README.md",
    "examples/*/README.md",
)
SHELL = frozenset({"sh", "bash", "shell"})
PYTHON = frozenset({"python", "py"})
TYPESCRIPT = frozenset({"ts", "typescript"})
JAVASCRIPT = frozenset({"js", "javascript"})
RUNNABLE = SHELL | PYTHON | TYPESCRIPT | JAVASCRIPT

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HEADING = re.compile(r"^(?P<level>#{1,6}) ")
_DIRECTIVE = re.compile(
    r"^\s*<!--\s*(?P<kind>not runnable|file|background|output)\b:?\s*(?P<arg>.*?)\s*-->\s*$"
)
_INSTALL = re.compile(r"\bpip3? install\b|\bpython3? -m pip install\b")

COUNTS: Counter[str] = Counter()
COUNT_ORDER = (
    "blocks found",
    "blocks to run",
    "blocks marked background",
    "blocks marked file",
    "blocks marked output",
    "blocks marked not runnable",
    "documents run",
    "sh blocks run",
    "python blocks run",
    "ts/js blocks run",
    "servers started",
    "harness services started",
    "files saved",
    "outputs checked",
)


@dataclass(frozen=True)
class Block:
    """One fenced code block and the directive before it (``kind`` is ``run`` without one)."""

    document: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    kind: str  # run, not runnable, file, background, output
    argument: str
    section: int  # index of the heading the block is under (0: before any)
    section_levels: tuple[int, ...] = ()  # level of every heading, by index

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    found = {path for pattern in DOCUMENT_GLOBS for path in ROOT.glob(pattern)}
    return sorted(found)


def parse_blocks(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    levels: list[int] = [0]
    directive: tuple[str, str] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence is None:
            if heading := _HEADING.match(line):
                levels.append(len(heading["level"]))
            if line.strip():
                match = _DIRECTIVE.match(line)
                directive = (match["kind"], match["arg"]) if match else None
            index += 1
            continue
        start, indent, marker = index, len(fence["indent"]), fence["fence"]
        body: list[str] = []
        index += 1
        while index < len(lines) and not _closes(lines[index], marker):
            body.append(
                lines[index][indent:] if not lines[index][:indent].strip() else lines[index]
            )
            index += 1
        kind, argument = directive or ("run", "")
        blocks.append(
            Block(
                document=document,
                line=start + 1,
                language=(fence["info"].split() or [""])[0].lower(),
                text="\n".join(body) + "\n",
                kind=kind,
                argument=argument,
                section=len(levels) - 1,
            )
        )
        directive = None
        index += 1
    return [dataclasses.replace(block, section_levels=tuple(levels)) for block in blocks]


def _closes(line: str, marker: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(marker) and not stripped.strip(marker[0])


def problems_of(blocks: list[Block]) -> list[str]:
    """Why blocks are neither run nor properly marked (empty: every block is accounted for)."""
    problems = []
    previous_run: Block | None = None
    for block in blocks:
        if block.kind == "run" and block.language not in RUNNABLE:
            problems.append(
                f"{block.where}: a ```{block.language or '(no language)'} block is neither "
                "run nor marked (<!-- not runnable: reason -->, <!-- output -->, "
                "<!-- file: path -->)"
            )
        elif block.kind == "not runnable" and not block.argument:
            problems.append(f"{block.where}: 'not runnable' needs a reason")
        elif block.kind == "file" and (
            not block.argument or Path(block.argument).is_absolute() or ".." in block.argument
        ):
            problems.append(f"{block.where}: 'file:' needs a relative path inside the scratch")
        elif block.kind == "background" and (
            block.language not in SHELL or not block.argument.startswith("until ")
        ):
            problems.append(
                f"{block.where}: background blocks are sh and say 'until <readiness command>'"
            )
        elif block.kind == "run" and block.language in SHELL and _INSTALL.search(block.text):
            problems.append(
                f"{block.where}: installs into the environment the tests run in (.venv); "
                "mark it <!-- not runnable: reason -->"
            )
        elif block.kind == "output" and previous_run is None:
            problems.append(f"{block.where}: an output block must follow a block that runs")
        if block.kind == "run":
            previous_run = block
        elif block.kind != "output":
            previous_run = None
    return problems
