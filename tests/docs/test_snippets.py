"""Docs that run: every fenced code block of the documentation runs here, or says why not.

Documents: ``README.md``, ``docs/*.md``, ``clients/README.md``, ``clients/*/README.md`` and
``examples/*/README.md``. Each document runs top to bottom, the way a reader works through it
in a terminal opened at the repository root. A block is run according to its language, or
handled as the HTML comment on the line before its fence says (blank lines may separate
them; the comment is invisible on GitHub):

``sh`` / ``bash`` / ``shell``
    Run by one bash process per document (``set -eo pipefail``), so variables, the working
    directory and files carry over from block to block as in a reader's terminal. Every
    command must succeed.
``python``
    Run as a script (``python -``, so the working directory is on ``sys.path``) with the
    repository's ``.venv/bin/python``.
``ts`` / ``typescript`` / ``js`` / ``javascript``
    An ES module (top-level ``await`` allowed): compiled by the Node client's TypeScript
    (strict) and run by node, with ``session-service-client`` resolving to
    ``clients/node`` as ``npm install <repo>/clients/node`` makes it. The document must
    build the client (``npm run build``) in an earlier block, as the reader must.
``<!-- not runnable: <reason> -->``
    Not run; the reason is required (say what would be needed, or which test covers it).
``<!-- file: <path> -->``
    Saved to ``<path>`` (relative to the current directory), as the reader saves it; later
    blocks use it.
``<!-- background: until <command> -->``
    A server the reader starts in another terminal: started in the background, and the next
    block runs once ``<command>`` (run repeatedly, a readiness probe such as
    ``session-service-healthcheck``) succeeds. It is stopped (SIGTERM) at the end of its
    section: the next heading of the same or a higher level, or the end of the document.
``<!-- output -->``
    The standard output of the block before it, checked: JSON as a stream of values whose
    objects must have every key shown (more are allowed), with strings equal, numbers any
    number, ``…`` in a string matching any text; anything else line by line, ``…``
    matching any text within a line.

Anything else (an unmarked ``text``, ``json`` or ``yaml`` block) fails
``test_every_block_is_run_or_marked``.

The service: a document that starts no background block gets one from the harness,
``session-service serve`` (embedded core, SQLite in a scratch directory) started before its
first block, as if the reader had followed the README's quick start.

Ports are the one thing the harness changes, so that runs never collide with each other or
with a server the developer has running: the default ports 50051 (service), 3567 (core),
3001 (gateways) and 9464 (metrics) are replaced wherever they appear as a whole number in a
block by free ports of this run, and ``SESSION_SERVICE_PORT`` / ``SESSION_CORE_PORT`` are
set to them for commands that rely on the default without writing it. Write the default
ports; never other fixed ports.

The working directory is a scratch directory holding a symlink to every top-level entry of
the repository (``.venv``, ``dev``, ``clients``, …), so ``./dev``, ``.venv/bin/python`` and
``clients/…`` work as from the root while the files a document writes (keys, certificates,
``.data/``) stay out of the checkout. Builds through those links (``clients/node``) do land
in the checkout, as for the reader. The environment has ``.venv/bin`` first on ``PATH``,
no inherited ``SESSION_SERVICE_*`` / ``SESSION_CORE_*`` variables, and npm prefers its cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NODE_CLIENT = ROOT / "clients" / "node"

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
DEFAULT_PORTS = (50051, 3567, 3001, 9464)

BLOCK_TIMEOUT_SECONDS = 600.0  # a first npm install or ./dev bootstrap
READY_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 30.0
PROBE_INTERVAL_SECONDS = 0.2

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HEADING = re.compile(r"^(?P<level>#{1,6}) ")
_DIRECTIVE = re.compile(
    r"^\s*<!--\s*(?P<kind>not runnable|file|background|output)\b:?\s*(?P<arg>.*?)\s*-->\s*$"
)
ELLIPSIS = "…"
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


ALL_BLOCKS = {document: parse_blocks(document) for document in documents()}


def test_every_block_is_run_or_marked() -> None:
    problems = [problem for blocks in ALL_BLOCKS.values() for problem in problems_of(blocks)]
    for blocks in ALL_BLOCKS.values():
        for block in blocks:
            COUNTS["blocks found"] += 1
            COUNTS[f"blocks marked {block.kind}" if block.kind != "run" else "blocks to run"] += 1
    assert not problems, "\n".join(problems)


# -- checking shown output -------------------------------------------------------------------


def _pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in shown.split(ELLIPSIS)), re.DOTALL)


def json_mismatches(shown: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from the ``shown`` JSON (see the module docstring)."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)[:80]}"]
        found = []
        for key, value in shown.items():
            if key not in actual:
                found.append(f"{path}: no key {key!r} (keys: {sorted(actual)})")
            else:
                found += json_mismatches(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(shown, list):
        if not isinstance(actual, list) or len(actual) != len(shown):
            return [f"{path}: expected a list of {len(shown)}, got {json.dumps(actual)[:80]}"]
        return [
            m for i, v in enumerate(shown) for m in json_mismatches(v, actual[i], f"{path}[{i}]")
        ]
    if isinstance(shown, str):
        if isinstance(actual, str) and _pattern(shown).fullmatch(actual):
            return []
        return [f"{path}: expected {shown!r}, got {json.dumps(actual)[:80]}"]
    if isinstance(shown, int | float) and not isinstance(shown, bool):
        ok = isinstance(actual, int | float) and not isinstance(actual, bool)
        return [] if ok else [f"{path}: expected a number, got {json.dumps(actual)[:80]}"]
    return [] if shown == actual else [f"{path}: expected {shown!r}, got {actual!r}"]


def json_values(text: str) -> list[Any]:
    """The JSON values written one after another in ``text``."""
    decoder = json.JSONDecoder()
    values, position = [], 0
    while (position := _skip_space(text, position)) < len(text):
        value, position = decoder.raw_decode(text, position)
        values.append(value)
    return values


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def output_mismatches(block: Block, shown: str, actual: str) -> list[str]:
    if block.language == "json":
        try:
            values = json_values(actual)
        except json.JSONDecodeError as exc:
            return [f"the output is not JSON ({exc}):\n{actual}"]
        return json_mismatches(json_values(shown), values)
    want = [line.rstrip() for line in shown.rstrip().splitlines()]
    got = [line.rstrip() for line in actual.rstrip().splitlines()]
    if len(want) == len(got) and all(
        _pattern(w).fullmatch(g) for w, g in zip(want, got, strict=True)
    ):
        return []
    return [f"expected lines:\n{shown}\ngot:\n{actual}"]


def test_output_comparison_is_strict_where_it_should_be() -> None:
    """The checker itself: shown keys must exist, values must match, … is a wildcard."""
    actual = {"status": "SESSION_STATUS_OK", "session": {"userId": "alice", "n": 3}, "x": [1]}
    assert (
        json_mismatches({"status": "SESSION_STATUS_OK", "session": {"userId": "a…"}}, actual) == []
    )
    assert json_mismatches({"session": {"n": 7}}, actual) == []  # numbers: any number
    assert json_mismatches({"status": "SESSION_STATUS_UNAUTHORISED"}, actual)
    assert json_mismatches({"session": {"handle": "…"}}, actual)
    assert json_mismatches({"x": [1, 2]}, actual)
    assert json_mismatches({"session": {"n": "3"}}, actual)
    assert json_values('{"a": 1}\n{"b": [2]}\n') == [{"a": 1}, {"b": [2]}]
    text = Block(ROOT, 1, "text", "", "output", "", 0)
    assert output_mismatches(text, "alice OK …\n", "alice OK https://x\n") == []
    assert output_mismatches(text, "alice OK …\n", "alice OK x\nmore\n")
    assert output_mismatches(text, "alice OK\n", "alice UNAUTHORISED\n")


# -- running a document ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def substitute_ports(text: str, ports: dict[int, int]) -> str:
    for default, port in ports.items():
        text = re.sub(rf"(?<![0-9]){default}(?![0-9])", str(port), text)
    return text


def scratch_directory(path: Path) -> Path:
    """``path`` made to look like the repository root (a symlink per top-level entry)."""
    (ROOT / ".tools").mkdir(exist_ok=True)  # ./dev buf installs into it: keep it shared
    path.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".data"):
            (path / entry.name).symlink_to(entry)
    return path


def document_environment(ports: dict[int, int]) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SESSION_SERVICE_", "SESSION_CORE_", "PYTEST_"))
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["SESSION_SERVICE_PORT"] = str(ports[50051])
    env["SESSION_CORE_PORT"] = str(ports[3567])
    env["npm_config_prefer_offline"] = "true"
    env["npm_config_update_notifier"] = "false"
    return env


class Output:
    """A process's merged output, read as it is written (kept for failure messages)."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.text: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for raw in stream:
            line = raw.decode(errors="replace")
            self.text.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def all(self) -> str:
        return "".join(self.text)[-6000:]


@dataclass
class Background:
    block: Block
    process: subprocess.Popen[bytes]
    output: Output
    level: int  # the heading level that ends it


@dataclass
class DocumentRun:
    """Runs one document's blocks in order (see the module docstring)."""

    document: Path
    scratch: Path
    control: Path
    ports: dict[int, int]
    env: dict[str, str]
    shell: subprocess.Popen[bytes] | None = None
    shell_output: Output | None = None
    cwd: Path = field(init=False)
    background: list[Background] = field(default_factory=list)
    last_stdout: str | None = None
    block_count: int = 0

    def __post_init__(self) -> None:
        self.cwd = self.scratch

    def text_of(self, block: Block) -> str:
        return substitute_ports(block.text, self.ports)

    # each kind of block

    def run(self, block: Block) -> None:
        self.block_count += 1
        if block.kind == "not runnable":
            self.last_stdout = None
        elif block.kind == "file":
            target = self.cwd / block.argument
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.text_of(block), encoding="utf-8")
            COUNTS["files saved"] += 1
            self.last_stdout = None
        elif block.kind == "background":
            self.start_background(block)
            self.last_stdout = None
        elif block.kind == "output":
            assert self.last_stdout is not None, f"{block.where}: no output to compare"
            mismatches = output_mismatches(block, self.text_of(block), self.last_stdout)
            assert not mismatches, f"{block.where}: shown output differs:\n" + "\n".join(mismatches)
            COUNTS["outputs checked"] += 1
        elif block.language in SHELL:
            self.last_stdout = self.run_shell(block)
            COUNTS["sh blocks run"] += 1
        elif block.language in PYTHON:
            self.last_stdout = self.run_process(
                block, [str(VENV_BIN / "python"), "-"], self.text_of(block)
            )
            COUNTS["python blocks run"] += 1
        else:
            self.last_stdout = self.run_node(block)
            COUNTS["ts/js blocks run"] += 1

    def run_shell(self, block: Block) -> str:
        if self.shell is None:
            self.shell = subprocess.Popen(
                ["bash", "--noprofile", "--norc"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.scratch,
                env=self.env,
                start_new_session=True,
            )
            self.shell_output = Output(self.shell.stdout)
            self.send("set -eo pipefail")
        assert self.shell_output is not None
        n = self.block_count
        script = self.control / f"block-{n}.sh"
        script.write_text(self.text_of(block), encoding="utf-8")
        out, err = self.control / f"block-{n}.out", self.control / f"block-{n}.err"
        marker = f"__docs_block_done_{n}__"
        quoted = shlex.quote
        self.send(f"source {quoted(str(script))} >{quoted(str(out))} 2>{quoted(str(err))}")
        self.send(f'echo "{marker} $PWD"')
        deadline = time.monotonic() + BLOCK_TIMEOUT_SECONDS
        while True:
            try:
                line = self.shell_output.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                timeout = f"{block.where}: still running after {BLOCK_TIMEOUT_SECONDS}s"
                raise AssertionError(timeout) from None
            if line is None:
                self.shell.wait()
                raise AssertionError(
                    f"{block.where}: a command failed (exit {self.shell.returncode}).\n"
                    f"stdout:\n{_tail(out)}\nstderr:\n{_tail(err)}"
                )
            if line.startswith(marker):
                self.cwd = Path(line[len(marker) :].strip())
                return out.read_text(errors="replace")

    def send(self, command: str) -> None:
        assert self.shell is not None and self.shell.stdin is not None
        self.shell.stdin.write(command.encode() + b"\n")
        self.shell.stdin.flush()

    def run_process(self, block: Block, command: list[str], stdin: str | None = None) -> str:
        result = subprocess.run(
            command,
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            cwd=self.cwd,
            env=self.env,
            timeout=BLOCK_TIMEOUT_SECONDS,
            check=False,
        )
        stdout = result.stdout.decode(errors="replace")
        assert result.returncode == 0, (
            f"{block.where}: exit {result.returncode}.\nstdout:\n{stdout[-4000:]}\n"
            f"stderr:\n{result.stderr.decode(errors='replace')[-4000:]}"
        )
        return stdout

    def run_node(self, block: Block) -> str:
        assert (NODE_CLIENT / "dist" / "src" / "index.js").is_file(), (
            f"{block.where}: clients/node is not built; the document must build it "
            "(npm run build) in a block before its first ts/js block"
        )
        project = self.control / f"node-{self.block_count}"
        (project / "node_modules").mkdir(parents=True)
        (project / "node_modules" / "session-service-client").symlink_to(NODE_CLIENT)
        if block.language in JAVASCRIPT:
            (project / "snippet.mjs").write_text(self.text_of(block), encoding="utf-8")
            return self.run_process(block, ["node", str(project / "snippet.mjs")])
        (project / "snippet.mts").write_text(self.text_of(block), encoding="utf-8")
        (project / "tsconfig.json").write_text(json.dumps(_TSCONFIG), encoding="utf-8")
        tsc = NODE_CLIENT / "node_modules" / ".bin" / "tsc"
        self.run_process(block, [str(tsc), "-p", str(project / "tsconfig.json")])
        return self.run_process(block, ["node", str(project / "dist" / "snippet.mjs")])

    def start_background(self, block: Block) -> None:
        script = self.control / f"background-{self.block_count}.sh"
        script.write_text(self.text_of(block), encoding="utf-8")
        process = subprocess.Popen(
            ["bash", "--noprofile", "--norc", str(script)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,
        )
        level = block.section_levels[block.section]
        started = Background(block, process, Output(process.stdout), level)
        self.background.append(started)
        COUNTS["harness services started" if block is DEFAULT_SERVICE else "servers started"] += 1
        probe = substitute_ports(block.argument.removeprefix("until "), self.ports)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._probe(probe):
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(timeout=PROBE_INTERVAL_SECONDS)
                raise AssertionError(
                    f"{block.where}: exited with {code} before `{probe}` succeeded:\n"
                    f"{started.output.all()}"
                )
            assert time.monotonic() < deadline, (
                f"{block.where}: `{probe}` did not succeed within {READY_TIMEOUT_SECONDS}s:\n"
                f"{started.output.all()}"
            )

    def _probe(self, command: str) -> bool:
        try:
            probe = subprocess.run(
                ["bash", "--noprofile", "--norc", "-c", command],
                capture_output=True,
                cwd=self.cwd,
                env=self.env,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return probe.returncode == 0

    def end_sections(self, level: int) -> None:
        """A heading of ``level`` ends the sections at that level or deeper."""
        while self.background and self.background[-1].level >= level:
            stop(self.background.pop())

    def close(self) -> None:
        self.end_sections(0)
        if self.shell is not None:
            with contextlib.suppress(BrokenPipeError, ProcessLookupError):
                assert self.shell.stdin is not None
                self.shell.stdin.close()
                os.killpg(self.shell.pid, signal.SIGTERM)
            self.shell.wait(timeout=STOP_TIMEOUT_SECONDS)


def stop(background: Background) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(background.process.pid, signal.SIGTERM)
    try:
        background.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(background.process.pid, signal.SIGKILL)
        background.process.wait()
        raise AssertionError(
            f"{background.block.where}: did not stop on SIGTERM:\n{background.output.all()}"
        ) from None


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


_TSCONFIG = {
    "compilerOptions": {
        "target": "ES2022",
        "lib": ["ES2022"],
        "module": "NodeNext",
        "moduleResolution": "NodeNext",
        "strict": True,
        "skipLibCheck": True,
        "outDir": "dist",
        "types": ["node"],
        "typeRoots": [str(NODE_CLIENT / "node_modules" / "@types")],
    },
    "files": ["snippet.mts"],
}

DEFAULT_SERVICE = Block(
    document=ROOT / "tests/docs/test_snippets.py",
    line=0,
    language="sh",
    text="session-service serve\n",
    kind="background",
    argument="until session-service-healthcheck",
    section=0,
    section_levels=(0,),
)


def runnable_documents() -> list[Path]:
    return [
        document
        for document, blocks in ALL_BLOCKS.items()
        if any(block.kind != "not runnable" for block in blocks)
    ]


@contextlib.contextmanager
def document_run(document: Path, tmp_path: Path) -> Iterator[DocumentRun]:
    ports = {default: free_port() for default in DEFAULT_PORTS}
    control = tmp_path / "control"
    control.mkdir()
    run = DocumentRun(
        document=document,
        scratch=scratch_directory(tmp_path / "repo"),
        control=control,
        ports=ports,
        env=document_environment(ports),
    )
    try:
        yield run
    finally:
        run.close()


@pytest.mark.parametrize(
    "document", runnable_documents(), ids=lambda path: str(path.relative_to(ROOT))
)
def test_document_runs(document: Path, tmp_path: Path) -> None:
    blocks = ALL_BLOCKS[document]
    assert not problems_of(blocks), problems_of(blocks)
    with document_run(document, tmp_path) as run:
        if not any(block.kind == "background" for block in blocks):
            run.start_background(DEFAULT_SERVICE)
        section = 0
        for block in blocks:
            for heading in range(section + 1, block.section + 1):
                run.end_sections(block.section_levels[heading])
            section = block.section
            run.run(block)
    COUNTS["documents run"] += 1
