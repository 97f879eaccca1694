"""Opaque refresh tokens, in the SuperTokens core's format (``RefreshToken``, type V2):
AES-256-GCM encrypted JSON, ``<b64>.<nonce>.V2``.

The AES key for each token is derived from the persisted master key with PBKDF2
(HMAC-SHA512, 100 iterations, the random IV as salt), as the reference core does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from session_core.crypto import b64_std_encode, sha256hex
from session_core.errors import UnauthorisedError

MASTER_KEY_NAME = "refresh_token_key"
_PBKDF2_ITERATIONS = 100
_IV_BYTES = 12
_FORMAT_PREFIX = (
    "io.supertokens.session.refreshToken.RefreshToken$InvalidRefreshTokenFormatException: "
)
VERSION_NOT_RECOGNISED = _FORMAT_PREFIX + "version of refresh token not recognised"
INVALID_REFRESH_TOKEN = _FORMAT_PREFIX + "invalid refresh token"


def new_master_key() -> str:
    """``"1000:" + hex(salt) + ":" + hex(PBKDF2-SHA512(...))``, the reference's format.

    The string is only ever used as a password, so any high-entropy value would do; the
    reference shape keeps the stored row familiar.
    """
    salt = os.urandom(64)
    password = os.urandom(64).hex().encode("ascii")
    derived = hashlib.pbkdf2_hmac("sha512", password, salt, 1000, 64)
    return f"1000:{salt.hex()}:{derived.hex()}"


@dataclass(frozen=True, slots=True)
class RefreshTokenInfo:
    session_handle: str
    user_id: str
    parent_refresh_token_hash_1: str | None
    anti_csrf_token: str | None


class RefreshTokenCodec:
    """Creates and opens refresh tokens with one master key."""

    def __init__(self, master_key: str) -> None:
        self._password = master_key.encode("utf-8")

    def _aes(self, iv: bytes) -> AESGCM:
        return AESGCM(hashlib.pbkdf2_hmac("sha512", self._password, iv, _PBKDF2_ITERATIONS, 32))

    def create(self, info: RefreshTokenInfo) -> str:
        nonce = sha256hex(str(uuid.uuid4()))
        plain: dict[str, str] = {"sessionHandle": info.session_handle, "userId": info.user_id}
        if info.parent_refresh_token_hash_1 is not None:
            plain["parentRefreshTokenHash1"] = info.parent_refresh_token_hash_1
        plain["nonce"] = nonce
        if info.anti_csrf_token is not None:
            plain["antiCsrfToken"] = info.anti_csrf_token
        iv = os.urandom(_IV_BYTES)
        plaintext = json.dumps(plain, separators=(",", ":")).encode("utf-8")
        encrypted = b64_std_encode(iv + self._aes(iv).encrypt(iv, plaintext, None))
        return f"{encrypted}.{nonce}.V2"

    def parse(self, token: str) -> RefreshTokenInfo:
        """Decrypt and check a token; every failure is ``UnauthorisedError``."""
        segments = token.split(".")
        if segments[-1].upper() not in ("V0", "V1", "V2"):
            raise UnauthorisedError(VERSION_NOT_RECOGNISED)
        if len(segments) != 3:
            raise UnauthorisedError(INVALID_REFRESH_TOKEN)
        encrypted_b64, nonce, version = segments
        if version.upper() != "V2":
            # V0/V1 are pre-2.x formats this core never issued.
            raise UnauthorisedError(INVALID_REFRESH_TOKEN)
        try:
            raw = base64.b64decode(encrypted_b64, validate=True)
        except ValueError:
            raise UnauthorisedError(INVALID_REFRESH_TOKEN) from None
        if len(raw) <= _IV_BYTES + 16:
            raise UnauthorisedError(INVALID_REFRESH_TOKEN)
        iv, ciphertext = raw[:_IV_BYTES], raw[_IV_BYTES:]
        try:
            data = json.loads(self._aes(iv).decrypt(iv, ciphertext, None))
        except (InvalidTag, ValueError):
            raise UnauthorisedError(INVALID_REFRESH_TOKEN) from None
        if not isinstance(data, dict):
            raise UnauthorisedError(INVALID_REFRESH_TOKEN)
        handle, user_id, embedded_nonce = (
            data.get("sessionHandle"),
            data.get("userId"),
            data.get("nonce"),
        )
        parent, anti_csrf = data.get("parentRefreshTokenHash1"), data.get("antiCsrfToken")
        if (
            not isinstance(handle, str)
            or not isinstance(user_id, str)
            or not isinstance(embedded_nonce, str)
            or not isinstance(parent, str | None)
            or not isinstance(anti_csrf, str | None)
            or not hmac.compare_digest(embedded_nonce.encode(), nonce.encode("utf-8", "replace"))
        ):
            raise UnauthorisedError(INVALID_REFRESH_TOKEN)
        return RefreshTokenInfo(handle, user_id, parent, anti_csrf)
