"""The token parser's base64url decoding (token_parsing.py) accepts exactly what PyJWT's
strict decoding accepts (url-safe alphabet, optional correct padding, canonical encoding),
checked against a straightforward re-encoding reference on generated segments."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from session_service.domain.token_parsing import _b64url_decode

_URL_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def reference_decode(segment: str) -> bytes | None:
    """Decode by the definition: strip valid padding, check the alphabet, decode, and
    require that re-encoding gives the same text back. None: rejected."""
    stripped = segment.rstrip("=")
    pad = len(segment) - len(stripped)
    if pad > 2 or (pad and len(segment) % 4) or len(stripped) % 4 == 1:
        return None
    if not _URL_ALPHABET.fullmatch(stripped):
        return None
    decoded = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    if base64.urlsafe_b64encode(decoded).rstrip(b"=").decode("ascii") != stripped:
        return None
    return decoded


def fast_decode(segment: str) -> bytes | None:
    try:
        return _b64url_decode(segment)
    except ValueError:
        return None


segments = st.text(
    alphabet=st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .\né"
    ),
    max_size=24,
)


@given(segments)
def test_same_acceptance_as_the_reference(segment: str) -> None:
    assert fast_decode(segment) == reference_decode(segment)


@given(st.binary(max_size=40), st.integers(min_value=0, max_value=2))
def test_every_canonical_encoding_decodes(data: bytes, padding: int) -> None:
    encoded = base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    padded = encoded + "=" * (-len(encoded) % 4) if padding else encoded
    assert fast_decode(padded) == data
    if len(encoded) % 4:
        # Flipping an unused low bit of the last character keeps the bytes but is refused.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        flipped = encoded[:-1] + alphabet[alphabet.index(encoded[-1]) ^ 1]
        assert fast_decode(flipped) is None
