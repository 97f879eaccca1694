"""Running one document's blocks in order, as a reader would in a terminal opened at the
repository root (the rules are in tests/docs/test_snippets.py): one bash per document,
servers in the background until the end of their section, default ports replaced by free
ones, and a scratch directory that looks like the repository."""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.docs.blocks import COUNTS, JAVASCRIPT, PYTHON, ROOT, SHELL, Block
from tests.docs.shown_output import output_mismatches

VENV_BIN = Path(sys.executable).parent
NODE_CLIENT = ROOT / "clients" / "node"
DEFAULT_PORTS = (50051, 3567, 3001, 9464, 50052)

BLOCK_TIMEOUT_SECONDS = 600.0  # a first npm install or ./dev bootstrap
READY_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 30.0
PROBE_INTERVAL_SECONDS = 0.2


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
    """Runs one document's blocks in order (the rules: tests/docs/test_snippets.py)."""

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
