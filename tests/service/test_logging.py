"""Structured logs and the request id that follows a call from gRPC metadata into the core.

The core's per-request DEBUG line is captured through the project's own JSON handler; the
service and the core are the real ones, talking over real sockets.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
from collections.abc import Iterator

import grpc
import pytest

from session_common.logs import OWN_LOGGERS, REQUEST_ID, configure_logging, log_handler
from session_proto.session.v1 import session_service_pb2 as pb
from session_proto.session.v1 import session_service_pb2_grpc as pb_grpc
from session_service.server import RunningService

GENERATED_ID = re.compile(r"[0-9a-f]{12}-[0-9a-f]+")


@pytest.fixture
def core_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = log_handler(stream, "json")
    logger = logging.getLogger("session_core.http_api")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def create_lines(stream: io.StringIO) -> list[dict[str, str]]:
    """The core's log lines about POST /recipe/session (readiness probes log too)."""
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in entries if e["message"].startswith("POST /recipe/session -> 200")]


async def create(service: RunningService, metadata: tuple[tuple[str, str], ...] = ()) -> None:
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = pb_grpc.SessionServiceStub(channel)  # type: ignore[no-untyped-call]
        await stub.CreateSession(pb.CreateSessionRequest(user_id="alice"), metadata=metadata)


async def test_the_callers_request_id_is_on_the_core_log_line(
    service: RunningService, core_log: io.StringIO
) -> None:
    await create(service, (("x-request-id", "req-from-caller-7"),))
    lines = create_lines(core_log)
    assert [line["request_id"] for line in lines] == ["req-from-caller-7"]
    assert lines[0]["level"] == "debug"
    assert lines[0]["logger"] == "session_core.http_api"


async def test_the_service_makes_an_id_when_the_caller_sends_none_or_a_bad_one(
    service: RunningService, core_log: io.StringIO
) -> None:
    await create(service)
    await create(service, (("x-request-id", 'has spaces and "quotes"'),))
    ids = [line["request_id"] for line in create_lines(core_log)]
    assert len(ids) == 2
    assert all(GENERATED_ID.fullmatch(i) for i in ids), ids
    assert ids[0] != ids[1]


def _record(stream: io.StringIO, log_format: str, exc: bool = False) -> str:
    logger = logging.Logger("session_service.test")
    logger.addHandler(log_handler(stream, log_format))

    def emit() -> None:
        REQUEST_ID.set("req-9")
        if exc:
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed %s", "here")
        else:
            logger.warning("hello %s", "world")

    contextvars.copy_context().run(emit)
    return stream.getvalue()


def test_json_lines_carry_time_level_logger_message_and_request_id() -> None:
    entry = json.loads(_record(io.StringIO(), "json"))
    assert entry["level"] == "warning"
    assert entry["logger"] == "session_service.test"
    assert entry["message"] == "hello world"
    assert entry["request_id"] == "req-9"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])


def test_json_lines_carry_the_traceback_of_a_logged_exception() -> None:
    entry = json.loads(_record(io.StringIO(), "json", exc=True))
    assert entry["message"] == "failed here"
    assert "Traceback" in entry["exception"] and "ValueError" in entry["exception"]


def test_text_lines_for_a_terminal() -> None:
    line = _record(io.StringIO(), "text")
    assert line.endswith(" WARNING session_service.test [req-9]: hello world\n")


def test_auto_is_json_unless_the_stream_is_a_terminal() -> None:
    json.loads(_record(io.StringIO(), "auto"))  # StringIO is no terminal

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _record(Terminal(), "auto").endswith("[req-9]: hello world\n")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put back what ``configure_logging`` changes (pytest's own handlers, the levels)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    own = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, own_level in own.items():
        logging.getLogger(name).setLevel(own_level)


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_the_level_is_ours_libraries_log_warnings_and_above(
    level: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level, "json")
    library = logging.getLogger("a_library.sql")
    library.setLevel(logging.DEBUG)  # a library that sets its own level is held back too
    for logger in (library, logging.getLogger("session_core.x"), logging.getLogger("session_s")):
        for record_level in ("debug", "info", "warning", "error"):
            getattr(logger, record_level)("%s", record_level)
    logged = {
        (entry["logger"], entry["message"])
        for entry in map(json.loads, capsys.readouterr().err.splitlines())
    }
    levels = ["debug", "info", "warning", "error"]
    chosen = levels[levels.index(level) :]
    at_least_warning = [name for name in chosen if name in ("warning", "error")]
    assert logged == {
        *(("session_core.x", name) for name in chosen),
        *(("a_library.sql", name) for name in at_least_warning),
        *(("session_s", name) for name in at_least_warning),
    }
