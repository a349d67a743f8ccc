"""The two suites' primitives against published test vectors, and sealing under the master
key bound to purpose and owner."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from payhub.core import cryptosuite as cs
from payhub.vault import master
from payhub.vault.crypto import VaultIntegrityError


def test_sm3_matches_the_standards_vectors() -> None:
    # GB/T 32905-2016, appendix A: "abc" and "abcd" × 16.
    assert cs.digest(cs.Mac.HMAC_SM3, b"abc") == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert cs.digest(cs.Mac.HMAC_SM3, b"abcd" * 16) == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_sha256_and_its_hmac_match_rfc_4231() -> None:
    assert cs.digest(cs.Mac.HMAC_SHA256, b"abc").startswith("ba7816bf8f01cfea")
    # RFC 4231, test case 2.
    assert cs.sign(cs.Mac.HMAC_SHA256, b"Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


@given(
    aead=st.sampled_from(list(cs.Aead)),
    plaintext=st.binary(max_size=300),
    associated=st.binary(max_size=40),
)
def test_every_cipher_round_trips_and_refuses_any_change(
    aead: cs.Aead, plaintext: bytes, associated: bytes
) -> None:
    key = cs.new_key(aead)
    blob = cs.encrypt(aead, key, plaintext, associated)
    assert cs.decrypt(aead, key, blob, associated) == plaintext
    flipped = bytes([blob[-1] ^ 1]) if blob else b""
    for bad_blob, bad_ad in ((blob[:-1] + flipped, associated), (blob, associated + b"x")):
        with pytest.raises(InvalidTag):
            cs.decrypt(aead, key, bad_blob, bad_ad)


def test_a_key_of_the_other_suite_is_refused() -> None:
    aes, sm4 = cs.new_key(cs.Aead.AES_256_GCM), cs.new_key(cs.Aead.SM4_GCM)
    assert (len(aes), len(sm4)) == (32, 16)
    with pytest.raises(InvalidTag):
        cs.encrypt(cs.Aead.SM4_GCM, aes, b"x", b"")


def test_macs_verify_in_constant_time_and_case_insensitively() -> None:
    for mac in cs.Mac:
        signature = cs.sign(mac, b"secret", b"message")
        assert cs.verify(mac, b"secret", b"message", signature.upper())
        assert not cs.verify(mac, b"secret", b"message!", signature)
        assert not cs.verify(mac, b"other", b"message", signature)


@pytest.mark.parametrize("suite", list(cs.Suite))
def test_sealed_secrets_open_only_for_their_purpose_and_owner(
    suite: cs.Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payhub.core import config

    settings = config.get_settings().model_copy(update={"crypto_suite": suite})
    monkeypatch.setattr(master, "get_settings", lambda: settings)
    blob = master.seal("request-signing", "key_1", b"ssk_secret")
    assert master.open_sealed("request-signing", "key_1", blob) == b"ssk_secret"
    for purpose, owner in (("request-signing", "key_2"), ("webhook", "key_1")):
        with pytest.raises(VaultIntegrityError):
            master.open_sealed(purpose, owner, blob)
    with pytest.raises(VaultIntegrityError):
        master.open_sealed("request-signing", "key_1", b"\x09" + blob[1:])
