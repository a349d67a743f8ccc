"""`PayHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.

Receivers recompute the HMAC with their endpoint secret over the timestamp, a dot and the
raw body, compare in constant time, and refuse timestamps far from their clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "PayHub-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int) -> bool:
    """True when `header` is a valid signature of `body` made within the tolerance."""
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
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
