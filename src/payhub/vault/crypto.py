"""The vault's cryptography: AES-256-GCM envelopes and keyed fingerprints.

Envelope encryption: each row is encrypted with a *data key*; data keys are stored
*wrapped* — encrypted with the *master key* from configuration — in `vault_data_keys`. A
copy of the database alone therefore reveals nothing; the master key alone neither.

Every ciphertext is `nonce (12 random bytes) || AES-GCM ciphertext || tag (16 bytes)`. The
associated data binds it to where it belongs: a row's token for card and account data, the
key's version for a wrapped data key. Moving a ciphertext to another row (or a wrapped key
to another version) makes it fail to decrypt instead of decrypting as the wrong card.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random, so at most ~2^32 messages per key
TAG_BYTES = 16


class VaultIntegrityError(Exception):
    """A ciphertext failed authentication: wrong key, wrong row, or tampered data.

    The message names the row or key version, never any plaintext."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encrypt(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """The plaintext, or InvalidTag when the key, the associated data or the blob is wrong."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise InvalidTag
    return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)


def _key_context(version: int) -> bytes:
    return f"payhub.vault.data_key.v{version}".encode()


def wrap_data_key(master_key: bytes, data_key: bytes, version: int) -> bytes:
    return encrypt(master_key, data_key, _key_context(version))


def unwrap_data_key(master_key: bytes, wrapped: bytes, version: int) -> bytes:
    try:
        return decrypt(master_key, wrapped, _key_context(version))
    except InvalidTag:
        raise VaultIntegrityError(
            f"vault data key version {version} cannot be unwrapped: is "
            "PAYHUB_VAULT_MASTER_KEY the key it was created under?"
        ) from None


def fingerprint(key: bytes, value: str) -> str:
    """HMAC-SHA256 of `value` under the fingerprint key, as 64 hex characters."""
    return hmac.new(key, value.encode("ascii"), hashlib.sha256).hexdigest()
