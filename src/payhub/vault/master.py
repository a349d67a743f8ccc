"""Secrets sealed under the master key: small keys PayHub must read back in clear (an API
key's request-signing secret), bound to what they belong to.

Each purpose gets a key of its own derived from the master key (HKDF, RFC 5869), so a
secret sealed for one purpose never opens as another, and the master key itself encrypts
nothing but data keys. A sealed blob starts with one byte naming its cipher, so secrets
sealed under either suite stay readable when the deployment's suite changes.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from payhub.core import cryptosuite as cs
from payhub.core.config import get_settings
from payhub.vault import masterkey
from payhub.vault.crypto import VaultIntegrityError

_HEADER = {cs.Aead.AES_256_GCM: b"\x01", cs.Aead.SM4_GCM: b"\x02"}
_BY_HEADER = {v: k for k, v in _HEADER.items()}


def _purpose_key(aead: cs.Aead, purpose: str) -> bytes:
    digest = hashes.SHA256() if aead is cs.Aead.AES_256_GCM else hashes.SM3()
    return HKDF(
        algorithm=digest,
        length=cs.KEY_BYTES[aead],
        salt=None,
        info=f"payhub.master.{purpose}".encode(),
    ).derive(masterkey.master_key())


def seal(purpose: str, context: str, secret: bytes) -> bytes:
    """`secret` encrypted under the master key's `purpose` key, bound to `context` (the id
    of what it belongs to)."""
    aead = cs.CIPHER_OF[get_settings().crypto_suite]
    sealed = cs.encrypt(aead, _purpose_key(aead, purpose), secret, context.encode())
    return _HEADER[aead] + sealed


def open_sealed(purpose: str, context: str, blob: bytes) -> bytes:
    """The secret `seal` made, or `VaultIntegrityError` for a blob that was changed, moved
    to another owner, or sealed under another master key."""
    aead = _BY_HEADER.get(blob[:1])
    if aead is None:
        raise VaultIntegrityError(f"a sealed {purpose} secret of {context} has an unknown form")
    try:
        return cs.decrypt(aead, _purpose_key(aead, purpose), blob[1:], context.encode())
    except InvalidTag:
        raise VaultIntegrityError(
            f"the sealed {purpose} secret of {context} does not open under this master key"
        ) from None
