"""What every SessionService RPC goes through: the single place where failures become gRPC
codes, and requests whose bytes do not parse become INVALID_ARGUMENT.

``rpc`` maps ``InvalidArgument`` -> INVALID_ARGUMENT (the message names the field),
``CoreUnavailable`` -> UNAVAILABLE, ``CoreSaturated`` -> RESOURCE_EXHAUSTED (every core
connection stayed busy: back off, the core is not down), ``DeadlineExceeded`` ->
DEADLINE_EXCEEDED, ``CoreIncompatible`` -> FAILED_PRECONDITION, ``ClaimFetchFailed`` (the
operator's claim source failed) -> UNAVAILABLE. Anything else is a bug: it is logged (type
and stack only, never the message, which could quote a token), counted, and answered
INTERNAL so that callers never see grpc's catch-all UNKNOWN.

grpc answers INTERNAL when a request deserializer raises, so the servicer's deserializers
(``lenient_parser``) pass bytes that do not parse through as ``Undecodable``, which ``rpc``
rejects as INVALID_ARGUMENT.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError

from session_service.domain.api import (
    MAX_JSON_DEPTH,
    ClaimFetchFailed,
    CoreIncompatible,
    CoreSaturated,
    CoreUnavailable,
    DeadlineExceeded,
    InvalidArgument,
    SessionRecipe,
)

logger = logging.getLogger("session_service.rpc")

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Group = TypeVar("_Group", bound="RpcGroup")
_Method = Callable[[_Group, _Request, Any], Awaitable[_Response]]


class RpcGroup:
    """A group of SessionService RPCs over one ``SessionRecipe``; ``internal_errors``
    counts the unexpected exceptions answered INTERNAL (the goal is that it stays 0)."""

    def __init__(self, recipe: SessionRecipe) -> None:
        self._recipe = recipe
        self.internal_errors = 0


class Undecodable:
    """Stands in for request bytes that are not a valid message of the RPC's input type."""

    def __init__(self, type_name: str, too_deep: bool = False) -> None:
        self.type_name = type_name
        self.too_deep = too_deep

    def error(self) -> InvalidArgument:
        if self.too_deep:
            return InvalidArgument(
                "request",
                f"is not a valid {self.type_name} message: it nests deeper than protobuf's "
                f"limit of 100 levels (JSON values may nest {MAX_JSON_DEPTH} levels)",
            )
        return InvalidArgument("request", f"is not a valid {self.type_name} message")


def lenient_parser(message_class: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except DecodeError as exc:
            # upb says "Exceeded upb_DecodeOptions_MaxDepth"; the pure-Python parser speaks
            # of recursion.
            reason = str(exc)
            too_deep = "MaxDepth" in reason or "recursion" in reason.lower()
            return Undecodable(message_class.DESCRIPTOR.full_name, too_deep)

    return parse


def rpc(method: _Method[_Group, _Request, _Response]) -> _Method[_Group, _Request, _Response]:
    """``method`` with its failures answered as gRPC codes (see the module docstring)."""

    @functools.wraps(method)
    async def handle(self: _Group, request: _Request, context: Any) -> _Response:
        try:
            if isinstance(request, Undecodable):
                raise request.error()
            return await method(self, request, context)
        except InvalidArgument as exc:
            code, details = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except CoreUnavailable as exc:
            code, details = grpc.StatusCode.UNAVAILABLE, str(exc) or "session core unavailable"
        except CoreSaturated as exc:
            code, details = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
        except DeadlineExceeded as exc:
            code, details = grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)
        except CoreIncompatible as exc:
            code, details = grpc.StatusCode.FAILED_PRECONDITION, str(exc)
        except ClaimFetchFailed as exc:
            # The operator's claim source failed (their code, maybe a database that is down,
            # or a value too large to store): worth a retry, and worth a log line. The
            # message of the exception it raised stays out of the log.
            cause = exc.__cause__
            if cause is None:
                logger.error("%s: %s", method.__name__, exc)
            else:
                stack = "".join(traceback.format_tb(cause.__traceback__))
                logger.error("%s: %s (message withheld)\n%s", method.__name__, exc, stack)
            code, details = grpc.StatusCode.UNAVAILABLE, str(exc)
        except Exception as exc:
            self.internal_errors += 1
            logger.error(
                "%s failed with unexpected %s (message withheld)\n%s",
                method.__name__,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            code, details = grpc.StatusCode.INTERNAL, "internal error"
        await context.abort(code, details)
        raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises

    return handle


def remaining(context: Any) -> float | None:
    """The caller's remaining deadline in seconds (None when it set none)."""
    seconds: float | None = context.time_remaining()
    return seconds
