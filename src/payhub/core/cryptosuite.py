"""The two cryptographic suites PayHub speaks, and the few primitives it needs from them.

- `international`: AES-256-GCM, SHA-256, HMAC-SHA256.
- `gm` (国密, China's commercial cryptography): SM4-GCM (GB/T 32907, 128-bit keys), SM3
  (GB/T 32905), HMAC-SM3.

The deployment's suite (`PAYHUB_CRYPTO_SUITE`) decides what new keys, fingerprints and
signatures use; whatever was made with a suite records it, so data made under the other
one stays readable. Every primitive comes from `cryptography` (OpenSSL): none is written
here.
"""

from __future__ import annotations

import hmac as std_hmac
import os
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12  # the GCM standard nonce; random, so at most ~2^32 messages per key
TAG_BYTES = 16


class Suite(StrEnum):
    INTERNATIONAL = "international"
    GM = "gm"


class Aead(StrEnum):
    """Authenticated ciphers, by the name stored with what they encrypted."""

    AES_256_GCM = "aes-256-gcm"
    SM4_GCM = "sm4-gcm"


class Mac(StrEnum):
    HMAC_SHA256 = "hmac-sha256"
    HMAC_SM3 = "hmac-sm3"


CIPHER_OF = {Suite.INTERNATIONAL: Aead.AES_256_GCM, Suite.GM: Aead.SM4_GCM}
MAC_OF = {Suite.INTERNATIONAL: Mac.HMAC_SHA256, Suite.GM: Mac.HMAC_SM3}
KEY_BYTES = {Aead.AES_256_GCM: 32, Aead.SM4_GCM: 16}


def new_key(cipher: Aead) -> bytes:
    return os.urandom(KEY_BYTES[cipher])


def encrypt(cipher: Aead, key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """`nonce (12 random bytes) || ciphertext || tag (16 bytes)`."""
    _check_key(cipher, key)
    nonce = os.urandom(NONCE_BYTES)
    if cipher is Aead.AES_256_GCM:
        return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated_data)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def decrypt(cipher: Aead, key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """The plaintext, or `InvalidTag` when the key, the associated data or the blob is
    wrong."""
    _check_key(cipher, key)
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise InvalidTag
    nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    if cipher is Aead.AES_256_GCM:
        return AESGCM(key).decrypt(nonce, body, associated_data)
    decryptor = Cipher(
        algorithms.SM4(key), modes.GCM(nonce, body[-TAG_BYTES:], min_tag_length=TAG_BYTES)
    ).decryptor()
    decryptor.authenticate_additional_data(associated_data)
    return decryptor.update(body[:-TAG_BYTES]) + decryptor.finalize()


def _check_key(cipher: Aead, key: bytes) -> None:
    if len(key) != KEY_BYTES[cipher]:
        # A key of the other suite handed over by mistake: refuse rather than misuse it.
        raise InvalidTag


def _hash(mac: Mac) -> hashes.HashAlgorithm:
    return hashes.SHA256() if mac is Mac.HMAC_SHA256 else hashes.SM3()


def sign(mac: Mac, key: bytes, message: bytes) -> str:
    """The MAC of `message` under `key`, as lowercase hex."""
    signer = crypto_hmac.HMAC(key, _hash(mac))
    signer.update(message)
    return signer.finalize().hex()


def verify(mac: Mac, key: bytes, message: bytes, signature: str) -> bool:
    """Whether `signature` (hex) is `message`'s MAC, compared in constant time."""
    return std_hmac.compare_digest(sign(mac, key, message), signature.lower())


def digest(mac: Mac, data: bytes) -> str:
    """The hash that goes with `mac` (SHA-256 or SM3) of `data`, as lowercase hex."""
    hasher = hashes.Hash(_hash(mac))
    hasher.update(data)
    return hasher.finalize().hex()
