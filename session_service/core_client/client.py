"""HTTP client of the session core(s), behaving like the SDK's querier
(``supertokens_python.querier.Querier``).

* One shared ``aiohttp.ClientSession`` (keep-alive) for every call. The SDK's querier uses
  httpx; aiohttp's client, already here for the core's server, costs a quarter of httpx's
  per request (about 0.15 against 1.2 ms of CPU on the 2-core bench machine, and httpx's
  pool showed as two thirds of CreateSession's CPU in the service).
* Connections: at most ``max_connections`` requests made for callers are on the wire at
  once; the others wait in arrival order, within their call's time (``ConnectionSlots``).
  The wait is the client's own, not aiohttp's: in aiohttp (3.14.5, ``BaseConnector.connect``)
  the ``connect`` timeout covers both the wait for a free connection under the connector's
  ``limit`` and the connect itself (DNS, then ``sock_connect``: TCP and TLS), and both end
  in the same ``ConnectionTimeoutError``, so a full pool would read as an unreachable core.
  The connector is therefore unbounded and never makes a request wait, and ``connect``
  times only the connect. Upkeep requests (the readiness probe, which also negotiates the
  CDI version, and signing-key fetches; one of each at a time) skip the wait, so they never
  queue behind callers.
* Several core URLs: each request starts at the next host (round robin over a shared
  index) and moves on to the next host only when the connection itself failed (refused,
  reset, closed, or a connect timeout: what the SDK retries on), for at most
  ``len(hosts)`` attempts.
* Headers: ``api-key`` when configured, ``rid: session`` on ``/recipe`` paths, and the
  ``cdi-version`` negotiated once through ``GET /apiversion``.
* Time: each call is bounded by ``min(configured timeout, caller's remaining deadline)``,
  whichever hosts it tries; the deadline is absolute (event-loop time) so multi-call
  operations share one budget. aiohttp's timeout is the only timer that ends a request.

Observation: an optional ``CoreCallObserver`` is told about every HTTP request (per host
tried) and may add headers to it; the service uses it for metrics, tracing and request ids
without the domain knowing about any of them.

Error mapping: unreachable, timed out, 5xx or a body that is not a JSON object →
``CoreUnavailable`` (a 401, the API key refused, is its subclass ``CoreApiKeyRejected``; a
404, a path the core does not serve, ``CoreRouteMissing``); a
400 → ``CoreRejectedRequest`` (the caller decides which request field to blame); no CDI 2.21
→ ``CoreIncompatible``. A call that waited for a connection and ran out of time (before it
was sent, or after: its request then had less than the configured time) →
``CoreSaturated``: saturation is not an outage. The caller's deadline passed before a call
→ ``DeadlineExceeded``. Messages never carry request bodies, tokens or keys.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from session_common.json_values import JSONObject
from session_service.core_client.config import SUPPORTED_CDI_VERSIONS, CoreClientConfig
from session_service.core_client.http import (
    Answer,
    ConnectionFailed,
    CoreHttp,
    Saturated,
    TimedOut,
    TransportError,
    decode,
    json_object,
)
from session_service.core_client.observer import CoreCallObserver
from session_service.core_client.slots import ConnectionSlots
from session_service.domain.errors import (
    CoreIncompatible,
    CoreSaturated,
    CoreUnavailable,
    DeadlineExceeded,
)
from session_service.domain.types import CoreConnectionStats

_MAX_AGE_RE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class JwksDocument:
    """A JWKS response: the parsed body and the ``Cache-Control`` max-age, if any."""

    body: JSONObject
    max_age_seconds: int | None


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
        self, config: CoreClientConfig, *, observer: CoreCallObserver | None = None
    ) -> None:
        self._config = config
        self._observer = observer
        self._hosts = config.urls
        self._last_tried_index = 0
        self._cdi_version: str | None = None
        self._negotiation_lock = asyncio.Lock()
        self._slots = ConnectionSlots(config.max_connections)
        self._http = CoreHttp(config, observer)

    async def close(self) -> None:
        await self._http.close()

    def connection_stats(self) -> CoreConnectionStats:
        slots = self._slots
        return CoreConnectionStats(slots.limit, slots.in_use, slots.waiting)

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

    async def get_held(
        self, path: str, params: Mapping[str, str], *, hold_seconds: float
    ) -> JSONObject:
        """A GET the core may hold open for up to ``hold_seconds`` (a long poll): its time
        is the configured timeout on top of that. Like the upkeep requests, it never waits
        for a connection slot (a process holds one such request open at a time)."""
        limit = self._config.timeout_seconds
        version = await self.ensure_cdi_version(deadline=self.deadline(limit))
        headers = {"cdi-version": version}
        if path.startswith("/recipe"):
            headers["rid"] = "session"
        return await self._request_json(
            "GET",
            path,
            params=params,
            body=None,
            headers=headers,
            deadline=None,
            upkeep=True,
            time_limit=limit + hold_seconds,
        )

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
            "GET", "/apiversion", params=None, body=None, headers={}, deadline=deadline, upkeep=True
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
                answer = await self._http.request(
                    "GET",
                    host,
                    "/.well-known/jwks.json",
                    params=None,
                    content=None,
                    headers={},
                    limit=time_limit,
                    queued=False,
                )
            except (ConnectionFailed, TimedOut, TransportError) as exc:
                failures.append(str(exc))
                continue
            if answer.status != 200:
                failures.append(f"HTTP {answer.status}")
                continue
            if len(answer.content) > max_bytes:
                failures.append("response too large")
                continue
            body = json_object(answer.content)
            if body is None:
                failures.append("not a JSON object")
                continue
            return JwksDocument(body, parse_max_age(answer.cache_control))
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
            raise DeadlineExceeded("the caller's deadline passed before the core was called")
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
        upkeep: bool = False,
        time_limit: float | None = None,
    ) -> JSONObject:
        """One call; ``upkeep`` calls (probe, negotiation, long polls) do not wait for a
        connection slot. ``time_limit`` replaces the configured timeout (long polls)."""
        if self._config.api_key is not None:
            headers["api-key"] = self._config.api_key
        content: bytes | None = None
        if body is not None:
            headers["content-type"] = "application/json; charset=utf-8"
            content = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        timeout = self._call_timeout(deadline) if time_limit is None else time_limit
        if upkeep:
            response = await self._send(
                method, path, params=params, content=content, headers=headers, limit=timeout
            )
            return decode(method, path, response)
        loop = asyncio.get_running_loop()
        waited_from = loop.time()
        try:
            queued = await self._slots.take(timeout)
        except TimeoutError:
            raise self._not_sent(
                method,
                path,
                f"all {self._slots.limit} connections to the session core stayed busy "
                f"for {timeout:.3g}s ({method} {path} was not sent)",
            ) from None
        try:
            left = timeout - (loop.time() - waited_from)
            if left <= 0:
                raise self._not_sent(
                    method,
                    path,
                    f"{method} {path} got a connection to the session core only after "
                    f"its {timeout:.3g}s ran out",
                )
            response = await self._send(
                method,
                path,
                params=params,
                content=content,
                headers=headers,
                limit=left,
                queued=queued,
            )
        finally:
            self._slots.give_back()
        return decode(method, path, response)

    def _not_sent(self, method: str, path: str, message: str) -> CoreSaturated:
        if self._observer is not None:
            self._observer.not_sent(method, path, "saturated")
        return CoreSaturated(message)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        limit: float,
        queued: bool = False,
    ) -> Answer:
        """The request, to one host after another (module docstring), within ``limit``
        seconds in all: the first attempt gets ``limit``, a later one what is left.

        aiohttp's timeout is the only timer that ends a request, so the outcome
        ``CoreHttp.request`` reports is the one this call raises. A second timer for the same end
        would be due in the same turn of a late event loop (a loaded machine): the request
        cancelled twice, aiohttp passes the cancellation on instead of its timeout, and the
        request would be reported "cancelled" while the call answered a timeout."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        last_error = ""
        tried = 0
        while tried < len(self._hosts):
            left = limit if tried == 0 else end - loop.time()
            if left <= 0:
                break
            tried += 1
            index = self._last_tried_index
            self._last_tried_index = (index + 1) % len(self._hosts)
            try:
                return await self._http.request(
                    method,
                    self._hosts[index],
                    path,
                    params=params,
                    content=content,
                    headers=headers,
                    limit=left,
                    queued=queued,
                )
            except Saturated:
                raise CoreSaturated(_cut_short(method, path, limit)) from None
            except ConnectionFailed as exc:
                last_error = str(exc)
            except TimedOut:
                raise CoreUnavailable(
                    f"the core did not answer {method} {path} within {limit:.3g}s"
                ) from None
            except TransportError as exc:
                raise CoreUnavailable(
                    f"the core connection failed on {method} {path} ({exc})"
                ) from None
        raise CoreUnavailable(
            f"no session core available to query ({tried} tried; last error {last_error})"
        )


def _cut_short(method: str, path: str, limit: float) -> str:
    return (
        f"the core did not answer {method} {path} in the {limit:.3g}s left after waiting "
        "for a free connection to it"
    )
