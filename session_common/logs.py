"""Logging shared by the core and the service: JSON or text lines carrying a request id.

One request id follows a call from the gRPC service into the core: the service takes the
caller's ``x-request-id`` metadata (or makes one), sends it to the core as the
``x-request-id`` HTTP header, and both put it on every log line written while handling that
call. ``REQUEST_ID`` is a context variable, so concurrent requests never see each other's id;
it may hold a ``LazyRequestId`` so that a request that never logs nor calls the core never
pays for finding or making its id.

The chosen level applies to our own loggers (``session_service*``, ``session_core*``), whose
messages never carry tokens, keys or session data. Every other logger is held at WARNING or
above: libraries log what they handle at DEBUG and INFO (aiosqlite every SQL statement with
its parameters: private signing keys, the refresh-token master key, session data).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

REQUEST_ID_HEADER = "x-request-id"
LOG_FORMATS = ("auto", "json", "text")
LOG_LEVELS = ("debug", "info", "warning", "error")


class LazyRequestId:
    """A request id worked out on first use from ``lookup`` (the caller's value or None)."""

    __slots__ = ("_lookup", "_value")

    def __init__(self, lookup: Callable[[], str | None]) -> None:
        self._lookup = lookup
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = accepted_request_id(self._lookup())
        return self._value


REQUEST_ID: ContextVar[str | LazyRequestId | None] = ContextVar("request_id", default=None)

# Ids we accept from callers: short, printable, no spaces or quotes (they go into headers and
# log lines verbatim). Anything else is replaced by one of ours rather than rejected.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# A per-process random prefix and a counter: unique across replicas, and far cheaper than a
# UUID on the hot path.
_PREFIX = os.urandom(6).hex()
_counter = itertools.count(1)
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_id_suffix)s: %(message)s"
# The loggers the chosen level applies to; every other one logs WARNING and above only.
OWN_LOGGERS = ("session_service", "session_core")
LIBRARY_MIN_LEVEL = logging.WARNING


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    value = REQUEST_ID.get()
    return None if value is None else str(value)


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_counter):x}"


def accepted_request_id(value: str | None) -> str:
    """The caller's id when it is well-formed, otherwise a new one."""
    if value is not None and _REQUEST_ID_RE.fullmatch(value):
        return value
    return new_request_id()


class _RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (and a text-format suffix) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        record.request_id = request_id
        record.request_id_suffix = f" [{request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, ``request_id`` when there is one, ``exception`` (traceback) when logged."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_handler(stream: TextIO, log_format: str) -> logging.Handler:
    """A handler writing ``json``, ``text``, or for ``auto`` text on a terminal and JSON
    otherwise (containers and log shippers get JSON without configuration)."""
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    return handler


class _LibraryLevelFilter(logging.Filter):
    """Drops records below ``minimum`` from loggers that are not ours, whatever level a
    library set on its own logger (the root level only governs loggers that set none)."""

    def __init__(self, minimum: int) -> None:
        super().__init__()
        self._minimum = minimum

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self._minimum:
            return True
        name = record.name
        return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


def configure_logging(level: str, log_format: str) -> None:
    """Send log records to stderr through ``log_handler``: our own loggers' at ``level``,
    every other logger's at WARNING or ``level``, whichever is higher."""
    chosen = logging.getLevelNamesMapping()[level.upper()]
    libraries = max(chosen, LIBRARY_MIN_LEVEL)
    handler = log_handler(sys.stderr, log_format)
    handler.addFilter(_LibraryLevelFilter(libraries))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(libraries)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(chosen)
