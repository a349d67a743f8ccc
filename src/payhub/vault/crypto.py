"""The vault's cryptography: envelopes under either suite, and keyed fingerprints.

Envelope encryption: each row is encrypted with a *data key*; data keys are stored
*wrapped* — encrypted under the *master key* — in `vault_data_keys`. A copy of the database
alone therefore reveals nothing; the master key alone neither.

A data key has an algorithm, AES-256-GCM or SM4-GCM (`payhub.core.cryptosuite`), and is
wrapped with the same algorithm: an AES key directly under the 32-byte master key, an SM4
key under a 16-byte key derived from the master key with HKDF-SM3, so a 国密 deployment
uses SM algorithms from the master key down.

Every ciphertext is `nonce (12 random bytes) || ciphertext || tag (16 bytes)`. The
associated data binds it to where it belongs: a row's token for card and account data, the
key's version for a wrapped data key. Moving a ciphertext to another row (or a wrapped key
to another version) makes it fail to decrypt instead of decrypting as the wrong card.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from payhub.core import cryptosuite as cs
from payhub.core.cryptosuite import Aead, Mac

NONCE_BYTES = cs.NONCE_BYTES
TAG_BYTES = cs.TAG_BYTES


class VaultIntegrityError(Exception):
    """A ciphertext failed authentication: wrong key, wrong row, or tampered data.

    The message names the row or key version, never any plaintext."""


def new_data_key(algorithm: Aead) -> bytes:
    return cs.new_key(algorithm)


def encrypt(algorithm: Aead, key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    return cs.encrypt(algorithm, key, plaintext, associated_data)


def decrypt(algorithm: Aead, key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """The plaintext, or InvalidTag when the key, the associated data or the blob is wrong."""
    return cs.decrypt(algorithm, key, blob, associated_data)


def _key_context(version: int) -> bytes:
    return f"payhub.vault.data_key.v{version}".encode()


def _wrapping_key(master_key: bytes, algorithm: Aead) -> bytes:
    if algorithm is Aead.AES_256_GCM:
        return master_key
    return HKDF(
        algorithm=hashes.SM3(),
        length=cs.KEY_BYTES[algorithm],
        salt=None,
        info=b"payhub.vault.wrap.sm4-gcm",
    ).derive(master_key)


def wrap_data_key(master_key: bytes, algorithm: Aead, data_key: bytes, version: int) -> bytes:
    return encrypt(algorithm, _wrapping_key(master_key, algorithm), data_key, _key_context(version))


def unwrap_data_key(master_key: bytes, algorithm: Aead, wrapped: bytes, version: int) -> bytes:
    try:
        return decrypt(
            algorithm, _wrapping_key(master_key, algorithm), wrapped, _key_context(version)
        )
    except InvalidTag:
        raise VaultIntegrityError(
            f"vault data key version {version} cannot be unwrapped: is the master key the "
            "one it was created under?"
        ) from None


def fingerprint(mac: Mac, key: bytes, value: str) -> str:
    """The keyed MAC (HMAC-SHA256 or HMAC-SM3) of `value`, as 64 hex characters."""
    return cs.sign(mac, key, value.encode("ascii"))
