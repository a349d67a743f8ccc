"""Request signing: an API key may require every request made with it to be signed.

The signed text is, one per line:

    METHOD
    PATH[?QUERY]        exactly as sent
    TIMESTAMP           Unix seconds, the `PayHub-Timestamp` header
    NONCE               the `PayHub-Nonce` header: 16-64 of A-Z a-z 0-9 _ -
    BODY DIGEST         lowercase hex SHA-256 (SM3 for hmac-sm3 keys) of the raw body

and `PayHub-Signature: <algorithm>=<lowercase hex MAC of that text>`, the MAC being the
key's: HMAC-SHA256 (`hmac-sha256`) or HMAC-SM3 (`hmac-sm3`), under the key's signing
secret. A request is refused when a header is missing (`signature_missing`), its timestamp
is more than 5 minutes from the server's clock (`signature_timestamp_skewed`), its nonce
was used before with this key (`signature_nonce_reused`), or the MAC does not match
(`signature_invalid`): so a captured request cannot be sent again, later, or changed.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from payhub.auth.nonces import NonceStore
from payhub.core import clock
from payhub.core import cryptosuite as cs
from payhub.core.errors import PayHubError
from payhub.vault import master

WINDOW = timedelta(minutes=5)
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
PURPOSE = "request-signing"
TIMESTAMP_HEADER = "payhub-timestamp"
NONCE_HEADER = "payhub-nonce"
SIGNATURE_HEADER = "payhub-signature"


def new_secret() -> str:
    return "ssk_" + secrets.token_urlsafe(32)


def seal_secret(key_id: str, secret: str) -> bytes:
    return master.seal(PURPOSE, key_id, secret.encode())


def signed_text(method: str, target: str, timestamp: str, nonce: str, body_digest: str) -> bytes:
    return "\n".join((method.upper(), target, timestamp, nonce, body_digest)).encode()


def check(
    *,
    key_id: str,
    algorithm: str,
    sealed_secret: bytes,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """Check a request's signature; the nonce to remember and until when. The nonce is not
    looked up here (see `remember`), so a forged request never reaches the nonce store."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    nonce = headers.get(NONCE_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not timestamp or not nonce or not signature:
        raise PayHubError("signature_missing")
    moment = now or clock.now()
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise PayHubError("signature_timestamp_skewed")
    sent = datetime.fromtimestamp(int(timestamp), tz=moment.tzinfo)
    if abs(sent - moment) > WINDOW:
        raise PayHubError("signature_timestamp_skewed")
    if not NONCE.fullmatch(nonce):
        raise PayHubError("signature_invalid")
    mac = cs.Mac(algorithm)
    scheme, _, given = signature.partition("=")
    if scheme != mac.value or not given:
        raise PayHubError("signature_invalid")
    secret = master.open_sealed(PURPOSE, key_id, sealed_secret)
    text = signed_text(method, target, timestamp, nonce, cs.digest(mac, body))
    if not cs.verify(mac, secret, text, given):
        raise PayHubError("signature_invalid")
    # Kept until no clock within the window could accept the timestamp any more.
    return nonce, max(sent, moment) + WINDOW


async def remember(store: NonceStore, key_id: str, nonce: str, until: datetime) -> None:
    if not await store.first_use(key_id, nonce, until):
        raise PayHubError("signature_nonce_reused")
