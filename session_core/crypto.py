"""Cryptographic building blocks: hashes, Base64 flavours, RSA signing keys and JWKs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_B64_ANY_RE = re.compile(r"[A-Za-z0-9+/_\-]*={0,2}")


def sha256hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of ``text``: the hash the SuperTokens core
    chains refresh tokens with (``refreshTokenHash1`` = h(R), the row keeps h(h(R)))."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def b64url_encode(data: bytes) -> str:
    """base64url without padding (JWT segments, JWK numbers)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_std_encode(data: bytes) -> str:
    """Standard Base64 with padding (v2 access tokens, refresh tokens, key strings)."""
    return base64.b64encode(data).decode("ascii")


def b64_decode_any(text: str) -> bytes:
    """Decode Base64 in either alphabet, with or without padding.

    The SuperTokens core 5.0.0 decoded v3 payloads with the standard alphabet only (a bug
    fixed in 6.0.10, ``Utils.convertFromBase64``); accepting both is the fixed behaviour.
    Raises ``ValueError`` for anything that is not Base64.
    """
    if not _B64_ANY_RE.fullmatch(text):
        raise ValueError("not base64")
    body = text.rstrip("=")
    if len(body) % 4 == 1:
        raise ValueError("not base64")
    translated = body.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(translated + "=" * (-len(translated) % 4), validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None


def _int_to_b64url(value: int) -> str:
    """Unsigned big-endian bytes, no leading zero byte (JWK ``n``/``e``)."""
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    """An RS256 key pair with its key id (``d-<createdAtMs>`` or ``s-<uuid>``)."""

    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    public_key: rsa.RSAPublicKey = field(repr=False)
    created_at_ms: int

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    def jwk(self) -> dict[str, str]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "n": _int_to_b64url(numbers.n),
            "e": _int_to_b64url(numbers.e),
            "alg": "RS256",
            "use": "sig",
        }


def generate_key_string() -> str:
    """A new RSA-2048 key pair as ``base64(SPKI DER) | base64(PKCS#8 DER)``, the SuperTokens
    core's stored form (``Utils.generateNewPubPriKey``).

    CPU-heavy (tens to hundreds of ms): call it through ``asyncio.to_thread``.
    """
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return f"{b64_std_encode(public_der)}|{b64_std_encode(private_der)}"


def load_signing_key(kid: str, key_string: str, created_at_ms: int) -> SigningKey:
    """Parse a stored key string; legacy keys used ``;`` as the separator."""
    sep = "|" if "|" in key_string else ";"
    public_b64, _, private_b64 = key_string.partition(sep)
    public = serialization.load_der_public_key(base64.b64decode(public_b64))
    private = serialization.load_der_private_key(base64.b64decode(private_b64), password=None)
    if not isinstance(public, rsa.RSAPublicKey) or not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError(f"signing key {kid} is not an RSA key")
    return SigningKey(kid=kid, private_key=private, public_key=public, created_at_ms=created_at_ms)


def constant_time_equal(a: str, b: str) -> bool:
    """String equality in time independent of where they differ (for secrets)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )
