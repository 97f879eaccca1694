"""HTTP client of the session core(s), behaving like the SDK's querier (session-semantics §7).

* One shared ``httpx.AsyncClient`` (connection limits, keep-alive) for every call.
* Several core URLs: each request starts at the next host (round robin over a shared
  index) and moves on to the next host only when the connection itself failed
  (``httpx.NetworkError``/``ConnectTimeout``, as the SDK), for at most ``len(hosts)``
  attempts.
* Headers: ``api-key`` when configured, ``rid: session`` on ``/recipe`` paths, and the
  ``cdi-version`` negotiated once through ``GET /apiversion``.
* Time: each call is bounded by ``min(configured timeout, caller's remaining deadline)``;
  the deadline is absolute (event-loop time) so multi-call operations share one budget.

Observation: an optional ``CoreCallObserver`` is told about every HTTP request (per host
tried) and may add headers to it; the service uses it for metrics, tracing and request ids
without the domain knowing about any of them.

Error mapping: unreachable, timed out, 5xx or a body that is not a JSON object →
``CoreUnavailable``; a 400 → ``CoreRejectedRequest`` (the caller decides which request
field to blame); no CDI 2.21 → ``CoreIncompatible``. Messages never carry request bodies,
tokens or keys.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from session_service.domain.config import SUPPORTED_CDI_VERSIONS, CoreClientConfig
from session_service.domain.errors import CoreIncompatible, CoreUnavailable
from session_service.domain.types import JSONObject

_RETRYABLE = (httpx.NetworkError, httpx.ConnectTimeout)
_MAX_AGE_RE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
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
class JwksDocument:
    """A JWKS response: the parsed body and the ``Cache-Control`` max-age, if any."""

    body: JSONObject
    max_age_seconds: int | None


class CoreCall(Protocol):
    """One HTTP request to a core, as seen by an observer."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Extra headers for the request (request id, trace context)."""
        ...

    def finish(self, outcome: str) -> None:
        """``outcome``: the HTTP status code (``"200"``), or ``timeout``, ``unreachable``,
        ``error`` (another transport failure) or ``cancelled`` (the deadline passed or the
        caller went away while waiting)."""
        ...


class CoreCallObserver(Protocol):
    def start(self, method: str, endpoint: str) -> CoreCall:
        """Called as a request to ``endpoint`` (a fixed CDI path) is about to be sent."""
        ...


def parse_max_age(cache_control: str | None) -> int | None:
    if not cache_control:
        return None
    match = _MAX_AGE_RE.search(cache_control)
    return int(match.group(1)) if match else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class CoreClient:
    """Talks to the configured core(s). ``close()`` releases the connection pool."""

    def __init__(
        self,
        config: CoreClientConfig,
        *,
        event_hooks: Mapping[str, list[Any]] | None = None,
        observer: CoreCallObserver | None = None,
    ) -> None:
        self._config = config
        self._observer = observer
        self._hosts = config.urls
        self._last_tried_index = 0
        self._cdi_version: str | None = None
        self._negotiation_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_keepalive_connections,
                keepalive_expiry=config.keepalive_expiry_seconds,
            ),
            timeout=httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            verify=config.ssl_context(),
            event_hooks=dict(event_hooks) if event_hooks else None,
        )

    async def close(self) -> None:
        await self._http.aclose()

    def deadline(self, timeout: float | None) -> float | None:
        """Turn a caller's remaining time (seconds) into an absolute loop-time deadline."""
        if timeout is None:
            return None
        return asyncio.get_running_loop().time() + timeout

    # -- public calls -------------------------------------------------------------------------

    async def get(
        self, path: str, params: Mapping[str, str], *, deadline: float | None
    ) -> JSONObject:
        return await self._call("GET", path, params=params, body=None, deadline=deadline)

    async def post(self, path: str, body: JSONObject, *, deadline: float | None) -> JSONObject:
        return await self._call("POST", path, params=None, body=body, deadline=deadline)

    async def put(self, path: str, body: JSONObject, *, deadline: float | None) -> JSONObject:
        return await self._call("PUT", path, params=None, body=body, deadline=deadline)

    async def ensure_cdi_version(self, *, deadline: float | None) -> str:
        """Negotiate the CDI version with ``GET /apiversion`` (once per process, as the SDK)."""
        if self._cdi_version is not None:
            return self._cdi_version
        async with self._negotiation_lock:
            if self._cdi_version is None:
                return await self.probe(deadline=deadline)
        return self._cdi_version

    async def probe(self, *, deadline: float | None) -> str:
        """Ask a core for ``/apiversion`` now (readiness checks): the CDI version it shares
        with the service. Raises CoreUnavailable or CoreIncompatible."""
        body = await self._request_json(
            "GET", "/apiversion", params=None, body=None, headers={}, deadline=deadline
        )
        version = self._pick_version(body)
        if self._cdi_version is None:
            self._cdi_version = version
        return version

    async def fetch_jwks(self, *, time_limit: float, max_bytes: int) -> JwksDocument:
        """``GET /.well-known/jwks.json`` from the first core that answers usefully.

        Unlike the querier, this walks the hosts in configured order and falls through on
        any failure (the SDK's per-host JWKS clients do the same). No api-key or
        cdi-version header is sent: the endpoint is public.
        """
        failures: list[str] = []
        for host in self._hosts:
            try:
                response = await self._request(
                    "GET",
                    host,
                    "/.well-known/jwks.json",
                    params=None,
                    content=None,
                    headers={},
                    http_timeout=httpx.Timeout(
                        time_limit, connect=min(time_limit, self._config.connect_timeout_seconds)
                    ),
                )
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}")
                continue
            if response.status_code != 200:
                failures.append(f"HTTP {response.status_code}")
                continue
            if len(response.content) > max_bytes:
                failures.append("response too large")
                continue
            body = _json_object(response.content)
            if body is None:
                failures.append("not a JSON object")
                continue
            return JwksDocument(body, parse_max_age(response.headers.get("cache-control")))
        raise CoreUnavailable(
            "could not fetch the signing keys from any core (" + ", ".join(failures) + ")"
        )

    # -- internals ----------------------------------------------------------------------------

    def _pick_version(self, body: JSONObject) -> str:
        versions = body.get("versions")
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise CoreUnavailable("the core's /apiversion answer has no list of versions")
        offered = [v for v in versions if re.fullmatch(r"\d+(\.\d+)*", v)]
        common = [v for v in offered if v in SUPPORTED_CDI_VERSIONS]
        if not common:
            raise CoreIncompatible(
                "the session core is not compatible with this service: it offers CDI "
                f"{', '.join(offered) or 'no versions'}, the service needs "
                f"{' or '.join(SUPPORTED_CDI_VERSIONS)}"
            )
        return str(max(common, key=_version_key))

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: JSONObject | None,
        deadline: float | None,
    ) -> JSONObject:
        version = await self.ensure_cdi_version(deadline=deadline)
        headers = {"cdi-version": version}
        if path.startswith("/recipe"):
            headers["rid"] = "session"
        return await self._request_json(
            method, path, params=params, body=body, headers=headers, deadline=deadline
        )

    def _call_timeout(self, deadline: float | None) -> float:
        timeout = self._config.timeout_seconds
        if deadline is not None:
            timeout = min(timeout, deadline - asyncio.get_running_loop().time())
        if timeout <= 0:
            raise CoreUnavailable("the caller's deadline passed before the core was called")
        return timeout

    async def _request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: JSONObject | None,
        headers: dict[str, str],
        deadline: float | None,
    ) -> JSONObject:
        if self._config.api_key is not None:
            headers["api-key"] = self._config.api_key
        content: bytes | None = None
        if body is not None:
            headers["content-type"] = "application/json; charset=utf-8"
            content = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        timeout = self._call_timeout(deadline)
        try:
            async with asyncio.timeout(timeout):
                response = await self._send(
                    method, path, params=params, content=content, headers=headers, limit=timeout
                )
        except TimeoutError:
            raise CoreUnavailable(
                f"the core did not answer {method} {path} within {timeout:.3g}s"
            ) from None
        return self._decode(method, path, response)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        limit: float,
    ) -> httpx.Response:
        http_timeout = httpx.Timeout(
            limit, connect=min(limit, self._config.connect_timeout_seconds)
        )
        last_error: httpx.HTTPError | None = None
        for _ in range(len(self._hosts)):
            index = self._last_tried_index
            self._last_tried_index = (index + 1) % len(self._hosts)
            try:
                return await self._request(
                    method,
                    self._hosts[index],
                    path,
                    params=params,
                    content=content,
                    headers=headers,
                    http_timeout=http_timeout,
                )
            except _RETRYABLE as exc:
                last_error = exc
            except httpx.TimeoutException as exc:
                raise CoreUnavailable(
                    f"the core timed out on {method} {path} ({type(exc).__name__})"
                ) from exc
            except httpx.HTTPError as exc:
                raise CoreUnavailable(
                    f"the core connection failed on {method} {path} ({type(exc).__name__})"
                ) from exc
        raise CoreUnavailable(
            f"no session core available to query ({len(self._hosts)} tried; "
            f"last error {type(last_error).__name__})"
        ) from last_error

    async def _request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        http_timeout: httpx.Timeout,
    ) -> httpx.Response:
        """One HTTP request to one host, reported to the observer when there is one."""
        observer = self._observer
        if observer is None:
            return await self._http.request(
                method,
                host + path,
                params=params,
                content=content,
                headers=headers,
                timeout=http_timeout,
            )
        call = observer.start(method, path)
        outcome = "cancelled"
        try:
            response = await self._http.request(
                method,
                host + path,
                params=params,
                content=content,
                headers={**headers, **call.headers},
                timeout=http_timeout,
            )
            outcome = str(response.status_code)
            return response
        except httpx.TimeoutException:
            outcome = "timeout"
            raise
        except httpx.NetworkError:
            outcome = "unreachable"
            raise
        except httpx.HTTPError:
            outcome = "error"
            raise
        finally:
            call.finish(outcome)

    @staticmethod
    def _decode(method: str, path: str, response: httpx.Response) -> JSONObject:
        status = response.status_code
        if status == 400:
            text = response.text.strip()
            safe = text if _is_fixed_message(text) else ""
            raise CoreRejectedRequest(path, safe)
        if status == 401:
            raise CoreUnavailable(f"the core refused the configured API key on {method} {path}")
        if status != 200:
            raise CoreUnavailable(f"the core answered HTTP {status} to {method} {path}")
        body = _json_object(response.content)
        if body is None:
            raise CoreUnavailable(f"the core's answer to {method} {path} is not a JSON object")
        return body


def _is_fixed_message(text: str) -> bool:
    return bool(_SAFE_REJECTION_RE.fullmatch(text)) and all(
        len(word) <= _MAX_WORD_LENGTH for word in text.split()
    )


def _json_object(content: bytes) -> JSONObject | None:
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
