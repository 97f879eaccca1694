"""The signing-key cache: the core's JWKS as ready-to-use RSA public keys.

Improves on the SDK's ``supertokens_python.recipe.session.jwks.JWKClient`` without changing
its outcomes:

* fully async; at most ONE fetch in flight, shared by every waiter (single flight);
* a kid that is not in the set causes a refetch, at most once per cooldown, and a
  kid still unknown after a refetch is remembered (bounded LRU) so a flood of random
  kids causes a bounded number of fetches;
* freshness: ``Cache-Control: max-age`` when the core sends it, else 60 s;
* stale keys keep serving (a refresh runs in the background) for up to ``max_stale``
  past freshness, so an unreachable core does not stop local verification;
* an optional background task refetches shortly before the keys go stale.

Times for freshness come from the injected clock (epoch ms) so tests can move them;
waiting uses the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import random
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from session_common.clock import Clock
from session_service.core_client.client import JwksDocument
from session_service.domain.config import KeyCacheConfig
from session_service.domain.errors import CoreUnavailable
from session_service.domain.types import JsonWebKey, KeyCacheHealth, KeyCacheStats

MIN_RSA_KEY_BITS = 2048
_MIN_MAX_AGE_SECONDS = 1.0
_MAX_RETRY_DELAY_SECONDS = 30.0
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")


JwksFetcher = Callable[[float], Awaitable[JwksDocument]]


class KeysUnavailable(CoreUnavailable):
    """No usable signing keys: nothing cached (or too stale) and the core's JWKS could not
    be fetched."""


class UnknownKid(Exception):
    """The token's kid is not in the (freshly checked) key set."""

    def __init__(self) -> None:
        super().__init__("No key found for the given kid")


class InvalidJwks(Exception):
    """The JWKS document holds no usable RS256 signing key."""


@dataclass(frozen=True, slots=True)
class _KeySet:
    keys: dict[str, RSAPublicKey]
    jwks: tuple[JsonWebKey, ...]
    fetched_at_ms: int
    fresh_until_ms: int


def _b64url_uint(value: object) -> int | None:
    if not isinstance(value, str) or not _B64URL_RE.fullmatch(value):
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if raw else None


def parse_jwks(body: dict[str, object]) -> tuple[dict[str, RSAPublicKey], tuple[JsonWebKey, ...]]:
    """Keep the RSA/RS256/sig keys of at least 2048 bits; skip anything else.

    Raises ``InvalidJwks`` when no key is usable (the SDK fails such a fetch too).
    """
    entries = body.get("keys")
    if not isinstance(entries, list):
        raise InvalidJwks("the JWKS has no 'keys' list")
    keys: dict[str, RSAPublicKey] = {}
    jwks: list[JsonWebKey] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if (
            entry.get("kty") != "RSA"
            or entry.get("alg") != "RS256"
            or entry.get("use") != "sig"
            or not isinstance(kid, str)
            or not kid
            or kid in keys
        ):
            continue
        modulus = _b64url_uint(entry.get("n"))
        exponent = _b64url_uint(entry.get("e"))
        if modulus is None or exponent is None or modulus.bit_length() < MIN_RSA_KEY_BITS:
            continue
        try:
            public_key = RSAPublicNumbers(exponent, modulus).public_key()
        except ValueError:
            continue
        keys[kid] = public_key
        jwks.append(
            JsonWebKey(
                kty="RSA", kid=kid, n=str(entry["n"]), e=str(entry["e"]), alg="RS256", use="sig"
            )
        )
    if not keys:
        raise InvalidJwks("the JWKS holds no usable RS256 signing key")
    return keys, tuple(jwks)


class KeyCache:
    """See the module docstring. One instance per SessionRecipe."""

    def __init__(self, fetch: JwksFetcher, config: KeyCacheConfig, clock: Clock) -> None:
        self._fetch_jwks = fetch
        self._config = config
        self._clock = clock
        self._keyset: _KeySet | None = None
        self._inflight: asyncio.Task[str | None] | None = None
        self._last_attempt_ms: int | None = None
        self._last_error: str | None = None
        self._unknown_kids: OrderedDict[str, int] = OrderedDict()  # kid -> expires at (ms)
        self._background: asyncio.Task[None] | None = None
        self._fetched = asyncio.Event()
        self._fetches_ok = 0
        self._fetches_failed = 0
        self._unknown_kid_misses = 0
        self._unknown_kid_refetches = 0
        self._negative_cache_hits = 0

    # -- lookups (the hot path) ---------------------------------------------------------------

    async def get_key(self, kid: str, *, deadline: float | None = None) -> RSAPublicKey:
        """The public key for ``kid``. Raises ``UnknownKid`` or ``KeysUnavailable``."""
        keyset = self._keyset
        if keyset is not None and self._clock.now_ms() < keyset.fresh_until_ms:
            key = keyset.keys.get(kid)
            if key is not None:
                return key
        else:
            keyset = await self._usable_keyset(deadline)
            key = keyset.keys.get(kid)
            if key is not None:
                return key
        return await self._resolve_unknown_kid(kid, deadline)

    def current_key(self, kid: str, now_ms: int) -> RSAPublicKey | None:
        """The key ``get_key`` would return for ``kid`` at ``now_ms`` (this cache's clock)
        without waiting, or None (no usable key set, or an unknown kid). Like ``get_key``,
        a stale set starts a background refresh. Lets a cached verification check that its
        key is still current."""
        keyset = self._keyset
        if keyset is None:
            return None
        now = now_ms
        if now >= keyset.fresh_until_ms:
            if not self._within_max_stale(keyset, now):
                return None
            if self._inflight is None and not self._cooling_down(now):
                self._start_fetch()
        return keyset.keys.get(kid)

    async def get_all_keys(self, *, deadline: float | None = None) -> tuple[RSAPublicKey, ...]:
        """Every key (legacy v2 tokens carry no kid and are tried against all of them)."""
        keyset = await self._usable_keyset(deadline)
        return tuple(keyset.keys.values())

    async def get_jwks(self, *, deadline: float | None = None) -> tuple[JsonWebKey, ...]:
        keyset = await self._usable_keyset(deadline)
        return keyset.jwks

    # -- state for health and metrics ---------------------------------------------------------

    def health(self) -> KeyCacheHealth:
        now = self._clock.now_ms()
        keyset = self._keyset
        return KeyCacheHealth(
            has_keys=self._within_max_stale(keyset, now),
            last_success_ms=keyset.fetched_at_ms if keyset is not None else None,
            is_stale=keyset is None or now >= keyset.fresh_until_ms,
        )

    def stats(self) -> KeyCacheStats:
        return KeyCacheStats(
            fetches_ok=self._fetches_ok,
            fetches_failed=self._fetches_failed,
            unknown_kid_misses=self._unknown_kid_misses,
            unknown_kid_refetches=self._unknown_kid_refetches,
            negative_cache_hits=self._negative_cache_hits,
        )

    async def wait_for_fetch(self, completed: int) -> None:
        """Wait until more than ``completed`` fetches have completed, successful or not
        (``stats()``: ``fetches_ok + fetches_failed``). For the tests of the background
        refresh, which wait on it rather than sleep."""
        while self._fetches_ok + self._fetches_failed <= completed:
            await self._fetched.wait()

    # -- refreshing -----------------------------------------------------------------------

    def start_background_refresh(self) -> None:
        """Refetch shortly before the keys go stale, retrying with backoff on failure."""
        if self._background is None:
            self._background = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        """Stop the background refresher and any fetch in flight."""
        tasks = [t for t in (self._background, self._inflight) if t is not None]
        self._background = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- internals ----------------------------------------------------------------------------

    def _within_max_stale(self, keyset: _KeySet | None, now: int) -> bool:
        if keyset is None:
            return False
        return now < keyset.fresh_until_ms + self._config.max_stale_seconds * 1000

    def _cooling_down(self, now: int) -> bool:
        if self._last_attempt_ms is None:
            return False
        return now - self._last_attempt_ms < self._config.refetch_cooldown_seconds * 1000

    async def _usable_keyset(self, deadline: float | None) -> _KeySet:
        now = self._clock.now_ms()
        keyset = self._keyset
        if keyset is not None and now < keyset.fresh_until_ms:
            return keyset
        if keyset is not None and self._within_max_stale(keyset, now):
            # Stale but usable: answer now, refresh in the background.
            if self._inflight is None and not self._cooling_down(now):
                self._start_fetch()
            return keyset
        if self._inflight is None and self._cooling_down(now):
            raise KeysUnavailable(self._unavailable_message())
        error = await self._wait(self._start_fetch(), deadline)
        keyset = self._keyset
        if keyset is None or not self._within_max_stale(keyset, self._clock.now_ms()):
            raise KeysUnavailable(error or self._unavailable_message())
        return keyset

    async def _resolve_unknown_kid(self, kid: str, deadline: float | None) -> RSAPublicKey:
        self._unknown_kid_misses += 1
        now = self._clock.now_ms()
        expires_at = self._unknown_kids.get(kid)
        if expires_at is not None:
            if now < expires_at:
                self._negative_cache_hits += 1
                self._unknown_kids.move_to_end(kid)
                raise UnknownKid()
            del self._unknown_kids[kid]
        if self._inflight is None:
            if self._cooling_down(now):
                raise UnknownKid()
            self._unknown_kid_refetches += 1
        error = await self._wait(self._start_fetch(), deadline)
        keyset = self._keyset
        key = keyset.keys.get(kid) if keyset is not None else None
        if key is not None:
            return key
        if error is not None:
            raise KeysUnavailable(error)
        self._remember_unknown(kid)
        raise UnknownKid()

    def _remember_unknown(self, kid: str) -> None:
        ttl_ms = int(self._config.negative_ttl_seconds * 1000)
        if ttl_ms <= 0:
            return
        self._unknown_kids[kid] = self._clock.now_ms() + ttl_ms
        self._unknown_kids.move_to_end(kid)
        while len(self._unknown_kids) > self._config.unknown_kid_cache_size:
            self._unknown_kids.popitem(last=False)

    def _start_fetch(self) -> asyncio.Task[str | None]:
        if self._inflight is None:
            self._last_attempt_ms = self._clock.now_ms()
            self._inflight = asyncio.get_running_loop().create_task(self._fetch())
        return self._inflight

    async def _wait(self, task: asyncio.Task[str | None], deadline: float | None) -> str | None:
        # shield: a waiter whose caller gave up must not cancel the fetch others share.
        if deadline is None:
            return await asyncio.shield(task)
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(remaining, 0)):
                return await asyncio.shield(task)
        except TimeoutError:
            raise KeysUnavailable(
                "the caller's deadline passed while waiting for the signing keys"
            ) from None

    async def _fetch(self) -> str | None:
        """One JWKS fetch. Returns None on success, else a description of the failure
        (never raises, so an unawaited background fetch cannot leak an exception)."""
        try:
            return await self._fetch_once()
        finally:
            self._inflight = None
            self._fetched.set()
            self._fetched = asyncio.Event()

    async def _fetch_once(self) -> str | None:
        try:
            document = await self._fetch_jwks(self._config.fetch_timeout_seconds)
            keys, jwks = parse_jwks(document.body)
        except (CoreUnavailable, InvalidJwks) as exc:
            self._fetches_failed += 1
            self._last_error = str(exc)
            return self._last_error
        previous = self._keyset
        if previous is not None:
            # An unchanged key keeps its object: the verified-token cache trusts an entry
            # only while its kid maps to the very key that verified it, so a new object per
            # refetch (every minute by default) would send every cached token through a
            # full signature check again.
            for kid, key in keys.items():
                known = previous.keys.get(kid)
                if known is not None and known.public_numbers() == key.public_numbers():
                    keys[kid] = known
        now = self._clock.now_ms()
        self._keyset = _KeySet(keys, jwks, now, now + int(self._max_age(document) * 1000))
        self._fetches_ok += 1
        self._last_error = None
        return None

    def _max_age(self, document: JwksDocument) -> float:
        config = self._config
        if not config.honour_cache_control or document.max_age_seconds is None:
            return float(config.max_age_seconds)
        return min(
            max(float(document.max_age_seconds), _MIN_MAX_AGE_SECONDS),
            config.max_age_ceiling_seconds,
        )

    def _unavailable_message(self) -> str:
        if self._last_error:
            return f"no usable signing keys: {self._last_error}"
        return "no usable signing keys"

    def _next_refresh_delay(self, failures: int) -> float:
        config = self._config
        keyset = self._keyset
        floor = max(config.refetch_cooldown_seconds, 0.05)
        if keyset is None and not failures:
            return 0.0
        if failures or keyset is None:
            backoff: float = floor * 2.0 ** max(failures, 1)
            return min(backoff, _MAX_RETRY_DELAY_SECONDS)
        ttl = (keyset.fresh_until_ms - keyset.fetched_at_ms) / 1000
        lead = min(
            config.refresh_lead_seconds + random.uniform(0, config.refresh_jitter_seconds),
            ttl / 2,
        )
        until_stale = (keyset.fresh_until_ms - self._clock.now_ms()) / 1000
        return max(until_stale - lead, floor)

    async def _refresh_loop(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self._next_refresh_delay(failures))
            error = await asyncio.shield(self._start_fetch())
            failures = 0 if error is None else failures + 1
