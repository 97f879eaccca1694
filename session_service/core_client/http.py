"""HTTP requests to one core host: the shared aiohttp session, the exchange with its
failures sorted into kinds (so that the client can fail over, time out or report saturation),
each request reported to the observer, and the decoding of an answer."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from session_common.json_values import JSONObject
from session_service.core_client.config import CoreClientConfig
from session_service.core_client.observer import CoreCallObserver
from session_service.domain.errors import CoreApiKeyRejected, CoreUnavailable

# Core 400 messages are fixed English sentences. Anything else (long "words" could be echoed
# tokens or keys) is dropped rather than passed on.
_SAFE_REJECTION_RE = re.compile(r"[A-Za-z0-9'.,:;_()= -]{1,200}")
_MAX_WORD_LENGTH = 40


class CoreRejectedRequest(Exception):
    """The core answered 400: the request was invalid. ``core_message`` is the core's
    plain-text explanation, or empty when it did not look like a fixed message."""

    def __init__(self, path: str, core_message: str) -> None:
        super().__init__(f"the core rejected a request to {path} as invalid (HTTP 400)")
        self.path = path
        self.core_message = core_message


@dataclass(frozen=True, slots=True)
class Answer:
    """What the client keeps of an HTTP response."""

    status: int
    content: bytes
    cache_control: str | None


class ConnectionFailed(Exception):
    """The connection to one host failed (the next host may be tried)."""


class ConnectTimedOut(ConnectionFailed):
    """The host did not accept a connection in time."""


class TimedOut(Exception):
    """A host accepted the connection but did not answer in time."""


class TransportError(Exception):
    """Any other failure of the HTTP exchange."""


class Saturated(Exception):
    """A call that had waited for a connection ran out of time on the wire."""


class CoreRouteMissing(CoreUnavailable):
    """The core answered 404: it does not serve the path (an extension beyond CDI 2.21,
    such as the revocation feed, asked of a core that lacks it: the SuperTokens core)."""


class CoreHttp:
    """Requests to one core host at a time over one shared ``aiohttp.ClientSession``
    (keep-alive). ``close()`` releases the connection pool."""

    def __init__(self, config: CoreClientConfig, observer: CoreCallObserver | None) -> None:
        self._config = config
        self._observer = observer
        self._ssl = config.ssl_context()
        # Created on first use: an aiohttp session belongs to the running event loop.
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(
                limit=0,  # unbounded: the client's connection slots bound the calls
                limit_per_host=0,
                keepalive_timeout=self._config.keepalive_expiry_seconds,
                ssl=self._ssl,
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
                headers={"user-agent": "session-service"},
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        limit: float,
        queued: bool,
    ) -> Answer:
        """One HTTP request to one host, reported to the observer when there is one.

        After a wait for a connection (``queued``), running out of the call's time is
        ``Saturated``: a response timeout (the request had less than the configured time),
        or a connect timeout shorter than the configured one."""
        observer = self._observer
        call = observer.start(method, path) if observer is not None else None
        if call is not None:
            headers = {**headers, **call.headers}
        outcome = "cancelled"
        try:
            answer = await self._exchange(
                method, host + path, params=params, content=content, headers=headers, limit=limit
            )
            outcome = str(answer.status)
            return answer
        except TimedOut:
            if queued:
                outcome = "saturated"
                raise Saturated from None
            outcome = "timeout"
            raise
        except ConnectTimedOut:
            if queued and limit < self._config.connect_timeout_seconds:
                outcome = "saturated"
                raise Saturated from None
            outcome = "unreachable"
            raise
        except ConnectionFailed:
            outcome = "unreachable"
            raise
        except TransportError:
            outcome = "error"
            raise
        finally:
            if call is not None:
                call.finish(outcome)

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        limit: float,
    ) -> Answer:
        """The HTTP exchange itself, its failures sorted into the kinds above (the messages
        name the failure's type only: never a URL's query, a body or a key). The connector
        never queues (see the module docstring), so ``connect`` times DNS and the TCP/TLS
        connect only."""
        timeout = aiohttp.ClientTimeout(
            total=limit,
            connect=min(limit, self._config.connect_timeout_seconds),
            ceil_threshold=math.inf,  # end on time (aiohttp rounds 5 s and more up to a second)
        )
        try:
            async with self._session().request(
                method,
                url,
                params=params,
                data=content,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                return Answer(
                    response.status,
                    await response.read(),
                    response.headers.get("cache-control"),
                )
        except aiohttp.ConnectionTimeoutError:
            raise ConnectTimedOut("ConnectTimeout") from None
        except aiohttp.ServerTimeoutError as exc:
            raise TimedOut(type(exc).__name__) from None
        except aiohttp.ClientConnectionError as exc:
            # Refused, reset or closed: nothing was answered (ClientOSError and
            # ClientConnectorError are OSErrors; ServerDisconnectedError is not).
            raise ConnectionFailed(type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise TransportError(type(exc).__name__) from None
        except TimeoutError:
            # aiohttp's total timeout (the cancellation of an outer deadline is not this).
            raise TimedOut("timeout") from None


def decode(method: str, path: str, answer: Answer) -> JSONObject:
    status = answer.status
    if status == 400:
        text = answer.content.decode("utf-8", "replace").strip()
        safe = text if _is_fixed_message(text) else ""
        raise CoreRejectedRequest(path, safe)
    if status == 401:
        raise CoreApiKeyRejected(f"the core refused the API key on {method} {path}")
    if status == 404:
        raise CoreRouteMissing(f"the core answered HTTP 404 to {method} {path}")
    if status != 200:
        raise CoreUnavailable(f"the core answered HTTP {status} to {method} {path}")
    body = json_object(answer.content)
    if body is None:
        raise CoreUnavailable(f"the core's answer to {method} {path} is not a JSON object")
    return body


def _is_fixed_message(text: str) -> bool:
    return bool(_SAFE_REJECTION_RE.fullmatch(text)) and all(
        len(word) <= _MAX_WORD_LENGTH for word in text.split()
    )


def json_object(content: bytes) -> JSONObject | None:
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
