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
3001 (gateways), 9464 (metrics) and 50052 (a second replica) are replaced wherever they
appear as a whole number in a block by free ports of this run, and
``SESSION_SERVICE_PORT`` / ``SESSION_CORE_PORT`` are set to them for commands that rely on
the default without writing it. Write the default ports; never other fixed ports.

The working directory is a scratch directory holding a symlink to every top-level entry of
the repository (``.venv``, ``dev``, ``clients``, …), so ``./dev``, ``.venv/bin/python`` and
``clients/…`` work as from the root while the files a document writes (keys, certificates,
``.data/``) stay out of the checkout. Builds through those links (``clients/node``) do land
in the checkout, as for the reader. The environment has ``.venv/bin`` first on ``PATH``,
no inherited ``SESSION_SERVICE_*`` / ``SESSION_CORE_*`` variables, and npm prefers its cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import COUNTS, ROOT, Block, documents, parse_blocks, problems_of
from tests.docs.document_run import DEFAULT_SERVICE, document_run
from tests.docs.shown_output import json_mismatches, json_values, output_mismatches

ALL_BLOCKS = {document: parse_blocks(document) for document in documents()}


def test_every_block_is_run_or_marked() -> None:
    problems = [problem for blocks in ALL_BLOCKS.values() for problem in problems_of(blocks)]
    for blocks in ALL_BLOCKS.values():
        for block in blocks:
            COUNTS["blocks found"] += 1
            COUNTS[f"blocks marked {block.kind}" if block.kind != "run" else "blocks to run"] += 1
    assert not problems, "\n".join(problems)


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


def runnable_documents() -> list[Path]:
    return [
        document
        for document, blocks in ALL_BLOCKS.items()
        if any(block.kind != "not runnable" for block in blocks)
    ]


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
