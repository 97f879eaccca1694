"""Forged access and refresh tokens, end to end over gRPC against the real core.

Every attack is sent the ways a caller can send it (GetSession as is, with
``check_database``, with ``session_required=false``) and must get exactly the status (and
SDK message) that supertokens-python 0.14.0 gives: none is accepted, none produces
INTERNAL/UNKNOWN. The same tokens also go straight to the core's verify endpoint, which must
never answer OK or 500. Counts go to ``tests.reliability.STATS``.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_core.crypto import SigningKey
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.config import DomainConfig
from session_service.server import RunningService
from tests.reliability import STATS
from tests.sdk.sdk_venv import sdk_python

# The service's default token size bound (a deliberate limit the SDK does not have).
MAX_TOKEN_BYTES = DomainConfig(api_domain="http://localhost:3001").max_access_token_bytes

ORACLE = Path(__file__).parents[1] / "sdk" / "sdk_parse_oracle.py"

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


@pytest.fixture
def foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def kit(
    client: SessionClient, core: RunningCore, clock: ManualClock, foreign_key: rsa.RSAPrivateKey
) -> Kit:
    created = await client.create_session("victim", {"role": "user"})
    now_s = clock.now_ms() // 1000 + 1  # whole seconds make the time boundaries exact
    clock.set(now_s * 1000)
    return Kit(
        key=core.signing_keys.dynamic_signing_key(),
        static=core.signing_keys.static_signing_key(),
        foreign=foreign_key,
        payload=dict(created.session.access_token_payload),
        now_s=now_s,
    )


async def test_baseline_forgery_with_the_real_key_verifies(kit: Kit, client: SessionClient) -> None:
    """The harness is sound: only what an attack changes can make it fail."""
    assert (await client.get_session(kit.signed())).status is SessionStatus.OK


def _sdk_parse_boundary(tokens: list[str]) -> list[str]:
    """What the SDK itself does before any key or time check (tests/sdk/sdk_parse_oracle.py)."""
    completed = subprocess.run(
        [str(sdk_python()), str(ORACLE)],
        input=json.dumps(tokens),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    boundary: list[str] = json.loads(completed.stdout)
    return boundary


def _reference(token: str, expected: Expected, boundary: str) -> Expected:
    """The reference outcome: the SDK's own parse boundary decides UNAUTHORISED versus
    TRY_REFRESH_TOKEN (PyJWT's DecodeError text is not compared); past it, the outcome the
    attack was built to hit. One deliberate difference: the service refuses tokens over
    its size bound before decoding them (the SDK has no bound)."""
    if boundary == "parse" or len(token) > MAX_TOKEN_BYTES:
        return PARSE_FAILED
    if boundary == "load" or expected == PARSE_FAILED:
        return (SessionStatus.TRY_REFRESH_TOKEN, None)
    return expected


async def _outcomes(
    client: SessionClient, kit: Kit
) -> list[tuple[str, str, tuple[SessionStatus, str], Expected]]:
    """(attack, how it was sent, what the service said, what the reference says)."""
    cases = attacks(kit)
    boundaries = await asyncio.to_thread(_sdk_parse_boundary, [t for _, t, _ in cases])
    out = []
    for (name, token, expected), boundary in zip(cases, boundaries, strict=True):
        reference = _reference(token, expected, boundary)
        for how, check_database, required in (
            ("as is", False, None),
            ("check_database", True, None),
            ("session optional", False, False),
        ):
            result = await client.get_session(
                token, check_database=check_database, session_required=required
            )
            STATS["attacks tried"] += 1
            STATS["forgeries accepted"] += result.status is SessionStatus.OK
            want = reference
            if how == "session optional" and reference == PARSE_FAILED:
                want = (SessionStatus.NO_SESSION, None)
            out.append((name, how, (result.status, result.message), want))
    return out


def _matches(got: tuple[SessionStatus, str], want: Expected) -> bool:
    return got[0] is want[0] and (want[1] is None or got[1] == want[1])


async def test_no_forged_access_token_is_accepted(
    kit: Kit, client: SessionClient, service: RunningService, core: RunningCore
) -> None:
    outcomes = await _outcomes(client, kit)
    accepted = [(name, how) for name, how, got, _ in outcomes if got[0] is SessionStatus.OK]
    assert accepted == []
    assert {got[0] for _, _, got, _ in outcomes} <= {
        SessionStatus.UNAUTHORISED,
        SessionStatus.TRY_REFRESH_TOKEN,
        SessionStatus.NO_SESSION,
    }
    # Exactly the reference outcome, except where only the reference's base64 strictness
    # boundary is at stake (TRY_REFRESH_TOKEN with PyJWT's text; see the next test).
    wrong = [
        o
        for o in outcomes
        if not _matches(o[2], o[3]) and o[3] != (SessionStatus.TRY_REFRESH_TOKEN, None)
    ]
    assert wrong == [], "\n".join(map(repr, wrong))
    assert service.servicer.internal_errors == 0
    # Legacy v2 forgeries were sent to the core, as the SDK does; no v3 one was.
    assert core.requests["/recipe/session/verify"] > 0


async def test_base64_strictness_boundary_matches_the_sdk(kit: Kit, client: SessionClient) -> None:
    outcomes = await _outcomes(client, kit)
    wrong = [o for o in outcomes if not _matches(o[2], o[3])]
    assert wrong == [], "\n".join(map(repr, wrong))


async def test_core_refuses_every_forged_token(kit: Kit, core: RunningCore) -> None:
    """The core's own verify endpoint, called directly (as any SDK would)."""
    async with httpx.AsyncClient(base_url=core.url, timeout=30) as http:
        for name, token, _ in attacks(kit):
            if _signed_by_a_real_key(kit, token):
                # Made with the core's private key to isolate one verifier check: not a
                # forgery, and the core (like SuperTokens') does not apply PyJWT's checks.
                continue
            for check_database in (False, True):
                reply = await http.post(
                    "/recipe/session/verify",
                    json={
                        "accessToken": token,
                        "enableAntiCsrf": False,
                        "doAntiCsrfCheck": False,
                        "checkDatabase": check_database,
                    },
                    headers={"cdi-version": "2.21", "rid": "session"},
                )
                STATS["attacks tried"] += 1
                assert reply.status_code in (200, 400), (name, reply.status_code)
                if reply.status_code == 200:
                    status = reply.json()["status"]
                    STATS["forgeries accepted"] += status == "OK"
                    assert status in ("TRY_REFRESH_TOKEN", "UNAUTHORISED"), (name, status)


def _signed_by_a_real_key(kit: Kit, token: str) -> bool:
    parts = token.split(".")
    if len(parts) != 3:
        return False
    signing_input = f"{parts[0]}.{parts[1]}".encode("utf-8", "surrogateescape")
    try:
        signature = base64.urlsafe_b64decode(parts[2].replace("+", "-").replace("/", "_") + "==")
    except ValueError:
        return False
    return any(key.verify(signature, signing_input) for key in (kit.key, kit.static))


async def test_tokens_beyond_the_message_limit(kit: Kit, client: SessionClient) -> None:
    token = kit.signed(payload=kit.claims(pad="x" * 70_000))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.get_session(token)
    STATS["attacks tried"] += 1
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_invalid_utf8_token_is_invalid_argument(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary(
        "/session.v1.SessionService/GetSession",
        request_serializer=lambda b: b,
        response_deserializer=pb.GetSessionResponse.FromString,
    )
    for raw in (b"\xff\xfe", b"a.b\xc3.c", b"\xed\xa0\x80"):  # includes a UTF-16 surrogate
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"\x0a" + bytes([len(raw)]) + raw, timeout=10)
        STATS["attacks tried"] += 1
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_random_kid_flood_fetches_keys_a_bounded_number_of_times(
    kit: Kit, client: SessionClient, core: RunningCore, clock: ManualClock
) -> None:
    await client.get_session(kit.signed())  # keys cached
    jwks_before = core.requests["/.well-known/jwks.json"]
    verify_before = core.requests["/recipe/session/verify"]
    rounds = 3
    for _ in range(rounds):
        tokens = [kit.signed(kit.header(kid=f"d-{uuid.uuid4()}")) for _ in range(300)]
        results = await asyncio.gather(*(client.get_session(t) for t in tokens))
        STATS["attacks tried"] += len(tokens)
        assert {(r.status, r.message) for r in results} == {NO_KEY}
        clock.advance(500)  # one refetch cooldown
    # At most one fetch per cooldown, whatever the number of kids; none hit the core's verify.
    assert core.requests["/.well-known/jwks.json"] - jwks_before <= rounds
    assert core.requests["/recipe/session/verify"] == verify_before
    assert (await client.get_session(kit.signed())).status is SessionStatus.OK


async def test_no_forged_refresh_token_is_accepted(
    client: SessionClient, service: RunningService
) -> None:
    created = await client.create_session("victim")
    real = created.refresh_token.token
    other = (await client.create_session("attacker")).refresh_token.token
    candidates = [
        "x",
        "a" * 64,
        real[:-1],
        real[:-2] + ("A" if real[-2] != "A" else "B") + real[-1],
        real[1:],
        real + real,
        real.upper(),
        real + ".",
        "." + real,
        real.replace(".", ".x", 1),
        created.session.access_token,
        "é" * 100,
        "\u0000" * 10,
        "../../etc/passwd",
        "' OR '1'='1",
        "A" * 20_000,
        base64.b64encode(b"\x00" * 300).decode(),
        other[: len(other) // 2] + real[len(real) // 2 :],
    ]
    for token in candidates:
        result = await client.refresh_session(token)
        STATS["attacks tried"] += 1
        STATS["forgeries accepted"] += result.status is SessionStatus.OK
        assert result.status is SessionStatus.UNAUTHORISED, token[:40]
    # The real token is untouched by all that and still works.
    assert (await client.refresh_session(real)).status is SessionStatus.OK
    assert service.servicer.internal_errors == 0
