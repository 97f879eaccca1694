"""RS256 signing keys, as the SuperTokens core's ``SigningKeys``: the static key and the
rotating dynamic keys.

The database is the source of truth so that several core processes agree; this class
keeps an in-memory copy and goes back to the database when it is due to rotate, when
publishing the JWKS, and when a token names a ``kid`` it does not know.

Those last two are driven by unauthenticated input (anyone can send a token with a random
``d-`` kid, or ask for the JWKS), so they re-read the database at most once per
``reload_cooldown_ms``. That loses no legitimate key: another core stores a new dynamic key
``overlap`` before it signs with it, and the cooldown is never longer than the overlap, so
the reload that started the cooldown already saw every key a valid token can name.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from session_common.clock import Clock
from session_core.config import CoreConfig
from session_core.crypto import SigningKey, generate_key_string, load_signing_key
from session_core.storage.base import DynamicKeyRow, StaticKeyRow, Storage

log = logging.getLogger(__name__)
ALGORITHM = "RS256"
# Upper bound of the gap between two input-driven key reloads (see the module docstring).
KID_RELOAD_COOLDOWN_MS = 1_000


class SigningKeyManager:
    def __init__(self, storage: Storage, clock: Clock, config: CoreConfig) -> None:
        self._storage = storage
        self._clock = clock
        self._interval = config.dynamic_key_update_interval_ms
        self._overlap = config.dynamic_signing_key_overlap_ms
        self._lifetime = config.dynamic_key_lifetime_ms
        self._dynamic: list[SigningKey] = []  # every stored dynamic key, newest first
        self._static: list[SigningKey] = []  # newest first; the first one signs
        self._loaded: dict[str, SigningKey] = {}  # parsed keys by kid (parsing DER is slow)
        self._rotate_lock = asyncio.Lock()
        self._reload_lock = asyncio.Lock()
        self._reload_cooldown_ms = min(KID_RELOAD_COOLDOWN_MS, self._overlap)
        self._last_reload_ms: int | None = None
        # Database reloads so far (an operational counter; tests bound it under attack).
        self.reloads = 0

    async def start(self) -> None:
        rows = await self._storage.get_static_keys(ALGORITHM)
        if not rows:
            rows = await self._storage.add_static_key_unless_exists(self._make_static_key)
        self._static = [self._load_static(r) for r in rows]
        self._dynamic = [self._load_dynamic(r) for r in await self._storage.get_dynamic_keys()]
        await self.refresh_if_due()

    # -- key generation (RSA-2048 takes long: off the event loop) ----------------------------
    async def _make_static_key(self) -> StaticKeyRow:
        key_string = await asyncio.to_thread(generate_key_string)
        return StaticKeyRow(
            key_id=f"s-{uuid.uuid4()}",
            key_string=key_string,
            algorithm=ALGORITHM,
            created_at=self._clock.now_ms(),
        )

    async def _make_dynamic_key(self) -> DynamicKeyRow:
        created_at = self._clock.now_ms()
        key_string = await asyncio.to_thread(generate_key_string)
        return DynamicKeyRow(created_at_time=created_at, value=key_string)

    def _load_static(self, row: StaticKeyRow) -> SigningKey:
        key = self._loaded.get(row.key_id)
        if key is None:
            key = load_signing_key(row.key_id, row.key_string, row.created_at)
            self._loaded[row.key_id] = key
        return key

    def _load_dynamic(self, row: DynamicKeyRow) -> SigningKey:
        kid = f"d-{row.created_at_time}"
        key = self._loaded.get(kid)
        if key is None:
            key = load_signing_key(kid, row.value, row.created_at_time)
            self._loaded[kid] = key
        return key

    def _set_dynamic(self, rows: list[DynamicKeyRow]) -> None:
        self._dynamic = sorted(
            (self._load_dynamic(r) for r in rows), key=lambda k: k.created_at_ms, reverse=True
        )
        live = {k.kid for k in self._dynamic} | {k.kid for k in self._static}
        self._loaded = {kid: k for kid, k in self._loaded.items() if kid in live}

    # -- rotation -----------------------------------------------------------------------------
    def _rotation_due(self, now: int) -> bool:
        # A new key is made `overlap` before the newest one reaches the end of its interval,
        # so it is published (in the DB and the JWKS) before it signs anything.
        return (
            not self._dynamic
            or self._dynamic[0].created_at_ms < now - self._interval + self._overlap
        )

    async def refresh_if_due(self) -> None:
        """Create (or adopt another core's) new dynamic key when one is due."""
        if not self._rotation_due(self._clock.now_ms()):
            return
        async with self._rotate_lock:
            now = self._clock.now_ms()
            if not self._rotation_due(now):
                return
            rows = await self._storage.add_dynamic_key_unless_newer_exists(
                self._make_dynamic_key, newer_than=now - self._interval + self._overlap
            )
            self._set_dynamic(rows)
            log.info("dynamic signing keys refreshed; newest is %s", self._dynamic[0].kid)

    async def reload_unless_recent(self) -> bool:
        """Re-read every key from the database (keys added by another core) unless a reload
        started less than the cooldown ago; True if it reloaded.

        Untrusted input can trigger it: concurrent callers queue on the lock
        and all but the first find the reload recent, so a flood causes at most one
        database read per cooldown.
        """
        async with self._reload_lock:
            last = self._last_reload_ms
            if last is not None and self._clock.now_ms() - last < self._reload_cooldown_ms:
                return False
            await self._reload_locked()
            return True

    async def _reload_locked(self) -> None:
        self._last_reload_ms = self._clock.now_ms()
        self.reloads += 1
        static_rows = await self._storage.get_static_keys(ALGORITHM)
        if static_rows:
            self._static = [self._load_static(r) for r in static_rows]
        self._set_dynamic(await self._storage.get_dynamic_keys())

    async def delete_expired(self) -> int:
        """Delete dynamic keys no token can still need (the SuperTokens core's cron
        ``DeleteExpiredAccessTokenSigningKeys``)."""
        cutoff = self._clock.now_ms() - self._lifetime
        deleted = await self._storage.delete_dynamic_keys_older_than(cutoff)
        self._dynamic = [k for k in self._dynamic if k.created_at_ms >= cutoff]
        return deleted

    # -- use ----------------------------------------------------------------------------------
    def valid_dynamic_keys(self) -> list[SigningKey]:
        """Dynamic keys still published and accepted, newest first."""
        now = self._clock.now_ms()
        return [k for k in self._dynamic if k.created_at_ms + self._lifetime >= now]

    def dynamic_signing_key(self) -> SigningKey:
        """The dynamic key that signs now (call ``refresh_if_due`` first).

        While the newest key is younger than the overlap and the previous key is still
        inside its interval, the previous key keeps signing: verifiers that cached the
        JWKS shortly before the rotation still know every kid in use.
        """
        keys = self.valid_dynamic_keys()
        if not keys:
            raise RuntimeError("no dynamic signing key loaded")
        now = self._clock.now_ms()
        newest = keys[0]
        if (
            len(keys) > 1
            and now - newest.created_at_ms < self._overlap
            and keys[1].created_at_ms + self._interval > now
        ):
            return keys[1]
        return newest

    def static_signing_key(self) -> SigningKey:
        if not self._static:
            raise RuntimeError("no static signing key loaded")
        return self._static[0]

    def signing_key(self, *, dynamic: bool) -> SigningKey:
        return self.dynamic_signing_key() if dynamic else self.static_signing_key()

    def verification_keys(self) -> list[SigningKey]:
        return [*self.valid_dynamic_keys(), *self._static]

    def _lookup(self, kid: str) -> SigningKey | None:
        for key in self.verification_keys():
            if key.kid == kid:
                return key
        return None

    async def find_key(self, kid: str) -> SigningKey | None:
        """The verification key named ``kid``, reloading from the DB on a miss (at most once
        per cooldown, whatever the number of unknown kids)."""
        key = self._lookup(kid)
        if key is None and kid.startswith(("d-", "s-")) and await self.reload_unless_recent():
            key = self._lookup(kid)
        return key

    def jwks_max_age_s(self) -> int:
        """Seconds until the next dynamic key will be created, capped at the 60 s the 2.21
        SDKs cache for anyway (the SuperTokens core sends the uncapped value from 9.1 on)."""
        if not self._dynamic:
            return 1
        next_rotation = self._dynamic[0].created_at_ms + self._interval - self._overlap
        return max(1, min(60, (next_rotation - self._clock.now_ms()) // 1000))

    async def jwks(self) -> list[dict[str, str]]:
        """Valid dynamic keys newest first, then the static keys: the order of the
        SuperTokens core's ``/.well-known/jwks.json``."""
        await self.reload_unless_recent()
        await self.refresh_if_due()
        return [k.jwk() for k in self.verification_keys()]
