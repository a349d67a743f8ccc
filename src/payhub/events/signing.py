"""`PayHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…][,v2=…]`.

Receivers recompute the HMAC with their endpoint secret over the timestamp, a dot and the
raw body, compare it in constant time with each `v1` of the header, accept when one
matches, and refuse timestamps far from their clock (replays). A header carries one `v1`
per secret that is valid when it is sent: two while a rolled secret's overlap lasts (the
new secret's first), so a receiver holding either secret accepts the delivery.

Under the `gm` suite the header also carries one `v2` per secret: HMAC-SM3 over the same
text, for receivers that must verify with national algorithms. A receiver checking `v1`
ignores `v2`, so it keeps working when the deployment's suite changes.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from payhub.core import cryptosuite as cs

HEADER = "PayHub-Signature"
TOLERANCE_SECONDS = 300
# Each scheme of the header and its MAC.
SCHEMES = {"v1": cs.Mac.HMAC_SHA256, "v2": cs.Mac.HMAC_SM3}


def _mac(secret: str, timestamp: int, body: bytes, scheme: str = "v1") -> str:
    return cs.sign(SCHEMES[scheme], secret.encode(), f"{timestamp}.".encode() + body)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header for one secret."""
    return sign_all([secret], timestamp, body)


def sign_all(
    secrets: Sequence[str],
    timestamp: int,
    body: bytes,
    *,
    suite: cs.Suite = cs.Suite.INTERNATIONAL,
) -> str:
    """The header with one `v1` per secret, in the order given, then (`gm` suite) one `v2`
    per secret in the same order."""
    if not secrets:
        raise ValueError("at least one secret signs a delivery")
    schemes = ["v1", "v2"] if suite is cs.Suite.GM else ["v1"]
    return ",".join(
        [
            f"t={timestamp}",
            *(f"{k}={_mac(s, timestamp, body, k)}" for k in schemes for s in secrets),
        ]
    )


def verify(secret: str, header: str, body: bytes, *, now: int, scheme: str = "v1") -> bool:
    """True when one of the header's `scheme` signatures (`v1` HMAC-SHA256, `v2` HMAC-SM3)
    is `secret`'s over `body`, made within the tolerance. Other schemes are ignored, so
    receivers keep working when the header gains one."""
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
    expected = _mac(secret, timestamp, body, scheme).encode()
    # Bytes, not str: compare_digest raises on a str that is not ASCII, and a header is
    # whatever the sender wrote. Every candidate is compared (no early exit).
    matches = [hmac.compare_digest(expected, given.encode()) for given in fields.get(scheme, [])]
    return any(matches)
