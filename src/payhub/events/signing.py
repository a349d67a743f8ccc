"""`PayHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…]`.

Receivers recompute the HMAC with their endpoint secret over the timestamp, a dot and the
raw body, compare it in constant time with each `v1` of the header, accept when one
matches, and refuse timestamps far from their clock (replays). A header carries one `v1`
per secret that is valid when it is sent: two while a rolled secret's overlap lasts (the
new secret's first), so a receiver holding either secret accepts the delivery.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "PayHub-Signature"
TOLERANCE_SECONDS = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header for one secret."""
    return sign_all([secret], timestamp, body)


def sign_all(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The header with one `v1` per secret, in the order given."""
    if not secrets:
        raise ValueError("at least one secret signs a delivery")
    return ",".join([f"t={timestamp}", *(f"v1={_mac(s, timestamp, body)}" for s in secrets)])


def verify(secret: str, header: str, body: bytes, *, now: int) -> bool:
    """True when one of the header's `v1` signatures is `secret`'s over `body`, made within
    the tolerance. Unknown schemes (a later `v2`) are ignored, so receivers keep working
    when the header gains one."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = _mac(secret, timestamp, body).encode()
    # Bytes, not str: compare_digest raises on a str that is not ASCII, and a header is
    # whatever the sender wrote. Every candidate is compared (no early exit).
    matches = [hmac.compare_digest(expected, given.encode()) for given in fields.get("v1", [])]
    return any(matches)
