"""Forged access tokens: what an attacker could know (``Kit``), and every attack built from
it with the outcome supertokens-python 0.14.0 gives it (``attacks``)."""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from session_client import SessionStatus

from session_core.crypto import SigningKey

V2_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0="
PARSE_FAILED = (SessionStatus.UNAUTHORISED, "Token parsing failed")
NO_TOKEN = (
    SessionStatus.UNAUTHORISED,
    "Session does not exist. Are you sending the session tokens in the request with the "
    "appropriate token transfer method?",
)
ALG = (SessionStatus.TRY_REFRESH_TOKEN, "The specified alg value is not allowed")
BAD_SIGNATURE = (SessionStatus.TRY_REFRESH_TOKEN, "Signature verification failed")
NO_KEY = (SessionStatus.TRY_REFRESH_TOKEN, "No key found for the given kid")
EXPIRED = (SessionStatus.TRY_REFRESH_TOKEN, "Signature has expired")
IMMATURE = (SessionStatus.TRY_REFRESH_TOKEN, "The token is not yet valid (iat)")
CRIT = (SessionStatus.TRY_REFRESH_TOKEN, "Unsupported critical extension")
# Legacy v2 tokens that fail locally go to the core (SDK 0.14.0), whose message varies.
CORE_DECIDES = (SessionStatus.TRY_REFRESH_TOKEN, None)
Expected = tuple[SessionStatus, str | None]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


@dataclass
class Kit:
    """Everything an attacker could know, plus the real key (to isolate one defect)."""

    key: SigningKey
    static: SigningKey
    foreign: rsa.RSAPrivateKey
    payload: dict[str, Any]
    now_s: int

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": self.key.kid}
        header.update(changes)
        return {k: v for k, v in header.items() if v is not _DROP}

    def claims(self, **changes: Any) -> dict[str, Any]:
        payload = {**self.payload, "iat": self.now_s, "exp": self.now_s + 3600, **changes}
        return {k: v for k, v in payload.items() if v is not _DROP}

    def signed(
        self,
        header: dict[str, Any] | None = None,
        payload: dict[str, Any] | None = None,
        *,
        signer: Callable[[bytes], bytes] | None = None,
        raw_payload: str | None = None,
    ) -> str:
        head = b64url_json(header if header is not None else self.header())
        body = raw_payload if raw_payload is not None else b64url_json(payload or self.claims())
        signing_input = f"{head}.{body}".encode()
        return f"{head}.{body}.{b64url((signer or self.key.sign)(signing_input))}"

    def foreign_sign(self, data: bytes) -> bytes:
        return self.foreign.sign(data, padding.PKCS1v15(), hashes.SHA256())


_DROP = object()


def _public_pem(key: SigningKey) -> bytes:
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _flip(segment: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    raw[index % len(raw)] ^= 0x01
    return b64url(bytes(raw))


def _v2(kit: Kit, payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    body = base64.b64encode(json.dumps(payload).encode()).decode()
    signature = sign(f"{V2_HEADER}.{body}".encode())
    return f"{V2_HEADER}.{body}.{base64.b64encode(signature).decode()}"


def _hmac_signer(secret: bytes, digest: str) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, digest).digest()


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def attacks(kit: Kit) -> list[tuple[str, str, Expected]]:
    """(name, token, the reference outcome) for every attack."""
    good = kit.signed()
    head, body, signature = good.split(".")
    hs_secret = _public_pem(kit.key)
    now = kit.now_s * 1000
    v2_payload = {
        "sessionHandle": kit.payload["sessionHandle"],
        "userId": kit.payload["sub"],
        "refreshTokenHash1": kit.payload["refreshTokenHash1"],
        "parentRefreshTokenHash1": None,
        "userData": {},
        "antiCsrfToken": None,
        "expiryTime": now + 3_600_000,
        "timeCreated": now,
    }
    out: list[tuple[str, str, Expected]] = []

    def add(name: str, token: str, expected: Expected) -> None:
        out.append((name, token, expected))

    # alg confusion
    for alg in ("none", "None", "NONE", "nOnE", ""):
        add(f"alg={alg!r}, no signature", f"{b64url_json(kit.header(alg=alg))}.{body}.", ALG)
        add(f"alg={alg!r}, real signature", kit.signed(kit.header(alg=alg)), ALG)
    for secret_name, secret in (("public PEM", hs_secret), ("JWK n", kit.key.jwk()["n"].encode())):
        for alg, digest in (("HS256", "sha256"), ("HS512", "sha512")):
            add(
                f"{alg} keyed with the {secret_name}",
                kit.signed(kit.header(alg=alg), signer=_hmac_signer(secret, digest)),
                ALG,
            )
    for alg in ("RS512", "PS256", "ES256", "EdDSA", "rs256", " RS256"):
        add(f"alg={alg!r}", kit.signed(kit.header(alg=alg)), ALG)
    add("alg missing", kit.signed(kit.header(alg=_DROP)), ALG)
    add("alg as a list", kit.signed(kit.header(alg=["RS256"])), ALG)
    # foreign keys
    add("foreign key, real kid", kit.signed(signer=kit.foreign_sign), BAD_SIGNATURE)
    add(
        "foreign key, static kid",
        kit.signed(kit.header(kid=kit.static.kid), signer=kit.foreign_sign),
        BAD_SIGNATURE,
    )
    add(
        "foreign key, its own kid",
        kit.signed(kit.header(kid=f"d-{uuid.uuid4()}"), signer=kit.foreign_sign),
        NO_KEY,
    )
    add("static key signs under the dynamic kid", kit.signed(signer=kit.static.sign), BAD_SIGNATURE)
    foreign_jwk = kit.foreign.public_key().public_numbers()
    add(
        "attacker key embedded as jwk/jku/x5u",
        kit.signed(
            kit.header(
                jwk={"kty": "RSA", "n": b64url(foreign_jwk.n.to_bytes(256, "big")), "e": "AQAB"},
                jku="http://127.0.0.1:1/jwks.json",
                x5u="http://127.0.0.1:1/cert.pem",
            ),
            signer=kit.foreign_sign,
        ),
        BAD_SIGNATURE,
    )
    # tampering
    add(
        "header gains a field",
        f"{b64url_json(kit.header(extra=1))}.{body}.{signature}",
        BAD_SIGNATURE,
    )
    add(
        "header kid swapped",
        f"{b64url_json(kit.header(kid=kit.static.kid))}.{body}.{signature}",
        BAD_SIGNATURE,
    )
    add(
        "header version bumped",
        f"{b64url_json(kit.header(version='4'))}.{body}.{signature}",
        BAD_SIGNATURE,
    )
    for claim, value in (("sub", "admin"), ("exp", kit.now_s + 10**6), ("role", "admin")):
        tampered = b64url_json(kit.claims(**{claim: value}))
        add(f"payload {claim} changed", f"{head}.{tampered}.{signature}", BAD_SIGNATURE)
    for index in (0, 100, 255):
        add(
            f"signature bit {index} flipped",
            f"{head}.{body}.{_flip(signature, index)}",
            BAD_SIGNATURE,
        )
    add("signature truncated", f"{head}.{body}.{signature[:-4]}", BAD_SIGNATURE)
    add("signature empty", f"{head}.{body}.", BAD_SIGNATURE)
    add("signature doubled", f"{head}.{body}.{signature}{signature}", BAD_SIGNATURE)
    add(
        "signature of another token",
        f"{head}.{b64url_json(kit.claims(a=1))}.{signature}",
        BAD_SIGNATURE,
    )
    add("crit header", kit.signed(kit.header(crit=["exp"])), CRIT)
    add("b64=false header", kit.signed(kit.header(b64=False)), CRIT)
    add(
        "duplicate alg key, last wins",
        kit.signed(raw_payload=body, signer=kit.foreign_sign).replace(
            head,
            b64url(
                b'{"alg":"none","alg":"RS256","typ":"JWT","version":"3","kid":"'
                + kit.key.kid.encode()
                + b'"}'
            ),
            1,
        ),
        BAD_SIGNATURE,
    )
    # kids
    for kid in (
        f"d-{uuid.uuid4()}",
        f"s-{uuid.uuid4()}",
        "d-0",
        "d-99999999999999",
        "x-unknown",
        "../../../../etc/passwd",
        "d-../../etc/passwd",
        "d-1' OR '1'='1",
        "s-'; DROP TABLE session_info; --",
        "d-%00",
        "d-\u0000",
        "d-\u202e",
        "d-ключ",
        "d-" + "A" * 5000,
        " " + kit.key.kid,
        kit.key.kid + " ",
        kit.key.kid.upper(),
    ):
        add(f"kid {kid[:24]!r}", kit.signed(kit.header(kid=kid)), NO_KEY)
    odd_kids: list[object] = ["", 7, None, ["d-1"], {"kid": kit.key.kid}]
    for odd in odd_kids:
        add(f"kid {odd!r}", kit.signed(kit.header(kid=odd)), PARSE_FAILED)
    add("kid missing", kit.signed(kit.header(kid=_DROP)), PARSE_FAILED)
    # time
    add("expired a second ago", kit.signed(payload=kit.claims(exp=kit.now_s - 1)), EXPIRED)
    add("expires now", kit.signed(payload=kit.claims(exp=kit.now_s)), EXPIRED)
    add("expired long ago", kit.signed(payload=kit.claims(exp=1, iat=0)), EXPIRED)
    add("iat a second ahead", kit.signed(payload=kit.claims(iat=kit.now_s + 1)), IMMATURE)
    add("iat far ahead", kit.signed(payload=kit.claims(iat=kit.now_s + 10**8)), IMMATURE)
    add(
        "nbf ahead",
        kit.signed(payload=kit.claims(nbf=kit.now_s + 60)),
        (SessionStatus.TRY_REFRESH_TOKEN, "The token is not yet valid (nbf)"),
    )
    add(
        "aud present",
        kit.signed(payload=kit.claims(aud="other-service")),
        (SessionStatus.TRY_REFRESH_TOKEN, "Invalid audience"),
    )
    # claims missing or mistyped (the SDK's structure check: a parse failure)
    mistyped: list[tuple[str, object]] = [
        ("sub", _DROP),
        ("sub", 5),
        ("sub", None),
        ("exp", _DROP),
        ("exp", "9999999999"),
        ("exp", 1.5e10),
        ("exp", True),
        ("iat", _DROP),
        ("iat", False),
        ("sessionHandle", _DROP),
        ("sessionHandle", 1),
        ("refreshTokenHash1", _DROP),
        ("refreshTokenHash1", []),
    ]
    for claim, bad in mistyped:
        add(
            f"claim {claim}={bad if bad is not _DROP else 'missing'}",
            kit.signed(payload=kit.claims(**{claim: bad})),
            PARSE_FAILED,
        )
    add("payload is a list", kit.signed(raw_payload=b64url_json([kit.payload])), PARSE_FAILED)
    add("payload is a string", kit.signed(raw_payload=b64url_json("x")), PARSE_FAILED)
    # legacy v2 header tricks
    add("v2 header, v3 payload", _v2(kit, kit.claims(), kit.key.sign), PARSE_FAILED)
    add("v2 token signed by a foreign key", _v2(kit, v2_payload, kit.foreign_sign), CORE_DECIDES)
    add(
        "v2 token, expired, real key",
        _v2(kit, {**v2_payload, "expiryTime": now - 1}, kit.key.sign),
        CORE_DECIDES,
    )
    add("v2 token, empty signature", _v2(kit, v2_payload, lambda _: b""), CORE_DECIDES)
    add(
        "v2 header spelled url-safe",
        kit.signed({"alg": "RS256", "typ": "JWT", "version": "2"}),
        PARSE_FAILED,
    )
    add(
        "v2 header with alg none",
        kit.signed({"alg": "none", "typ": "JWT", "version": "2"}),
        PARSE_FAILED,
    )
    add("v3 header claiming version 2", kit.signed(kit.header(version="2")), PARSE_FAILED)
    add("version 1", kit.signed(kit.header(version="1")), PARSE_FAILED)
    add("version as a number", kit.signed(kit.header(version=3)), PARSE_FAILED)
    v2_body = base64.b64encode(json.dumps(v2_payload).encode()).decode()
    add(
        "v2 payload in url-safe base64",
        f"{V2_HEADER}.{v2_body.replace('+', '-').replace('/', '_')}-.AAAA",
        PARSE_FAILED,
    )
    add("v2 header unpadded", f"{V2_HEADER.rstrip('=')}.{v2_body}.AAAA", PARSE_FAILED)
    # size
    add(
        "just over the token size bound",
        kit.signed(payload=kit.claims(pad="x" * 16_400)),
        PARSE_FAILED,
    )
    # encoding
    for name, token in (
        ("non-ASCII in the header", "é" + good),
        ("non-ASCII in the payload", f"{head}.{body}ü.{signature}"),
        ("emoji separator", good.replace(".", "\U0001f511", 1)),
        ("full-width dots", good.replace(".", "\uff0e")),
        ("zero-width space", good[:10] + "\u200b" + good[10:]),
        ("invalid base64 characters", f"{head}.{body}!.{signature}"),
        ("standard base64 alphabet", f"{head}.{body}+/.{signature}"),
        ("wrong padding", f"{head}.{body}=.{signature}"),
        ("three padding characters", f"{head}.{body}.{signature}==="),
        ("header not JSON", f"{b64url(b'{nope')}.{body}.{signature}"),
        ("header not UTF-8", b64url(b"\xff\xfe") + f".{body}.{signature}"),
        ("payload not UTF-8", f"{head}." + b64url(b"\xc3\x28") + f".{signature}"),
        ("two segments", f"{head}.{body}"),
        ("four segments", f"{good}.{signature}"),
        ("only dots", ".."),
        ("whitespace", "   "),
        ("newline inside", good[:20] + "\n" + good[20:]),
        ("NaN in the payload", kit.signed(raw_payload=b64url(b'{"sub":NaN}'))),
        ("huge number", kit.signed(raw_payload=b64url(b'{"exp":1' + b"0" * 5000 + b"}"))),
    ):
        add(name, token, PARSE_FAILED)
    # JSON shape
    add(
        "payload nested 5000 deep",
        kit.signed(raw_payload=b64url(b"[" * 5000 + b"]" * 5000)),
        PARSE_FAILED,
    )
    add(
        "header nested 5000 deep",
        b64url(b'{"a":' * 2000 + b"1" + b"}" * 2000) + f".{body}.{signature}",
        PARSE_FAILED,
    )
    add(
        "claim nested 500 deep, foreign key",
        kit.signed(payload=kit.claims(deep=_nested(500)), signer=kit.foreign_sign),
        BAD_SIGNATURE,
    )
    add(
        "800 extra claims, foreign key",
        kit.signed(payload=kit.claims(**{f"c{i}": i for i in range(800)}), signer=kit.foreign_sign),
        BAD_SIGNATURE,
    )
    add("empty token object", kit.signed(raw_payload=b64url(b"{}")), PARSE_FAILED)
    return out
