"""Envelope encryption: what is in the tables, associated data, key versions, the master key."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text

from payhub.core.config import DEV_VAULT_MASTER_KEY, get_settings, reset_settings_cache
from payhub.core.cryptosuite import CIPHER_OF, KEY_BYTES, MAC_OF, Aead
from payhub.db.session import Database
from payhub.vault import crypto, keys, service
from payhub.vault.crypto import VaultIntegrityError
from tests.vault.helpers import bind, card, row_of


async def _reveal(db: Database, token: str) -> str:
    return (await db.run_in_transaction(lambda s: service.reveal_card(s, token))).pan


async def _key(db: Database, version: int) -> keys.UnwrappedKey:
    return await db.run_in_transaction(lambda s: keys.data_key(s, version))


async def test_the_table_holds_no_card_number(db: Database) -> None:
    pan = card("SPDB", "credit")
    view, _ = await bind(db, pan)
    row = await row_of(db, "vault_cards", view.token)
    blob = bytes(row["ciphertext"])
    assert pan.encode() not in blob
    assert pan[6:-4].encode() not in blob
    assert base64.b64encode(pan.encode()) not in blob
    # nonce + at least the number + tag
    assert len(blob) >= crypto.NONCE_BYTES + len(pan) + crypto.TAG_BYTES
    async with db.session() as s:
        dump = (await s.execute(text("SELECT * FROM vault_data_keys"))).mappings().all()
    assert len(dump) == 1 and dump[0]["version"] == row["key_version"] == 1
    assert pan.encode() not in bytes(dump[0]["wrapped_key"])


async def test_the_same_card_encrypts_differently_each_time(db: Database) -> None:
    pan = card("CIB", "debit")
    one, _ = await bind(db, pan, customer_id="cus_1")
    two, _ = await bind(db, pan, customer_id="cus_2")
    a = bytes((await row_of(db, "vault_cards", one.token))["ciphertext"])
    b = bytes((await row_of(db, "vault_cards", two.token))["ciphertext"])
    assert a != b and a[: crypto.NONCE_BYTES] != b[: crypto.NONCE_BYTES]


async def test_a_ciphertext_decrypts_only_with_its_own_token(db: Database) -> None:
    pan_a, pan_b = card("HXB", "debit", seed=1), card("HXB", "debit", seed=2)
    a, _ = await bind(db, pan_a)
    b, _ = await bind(db, pan_b)
    row_a = await row_of(db, "vault_cards", a.token)
    blob_a = bytes(row_a["ciphertext"])
    key = await _key(db, row_a["key_version"])

    assert pan_a in crypto.decrypt(key.algorithm, key.key, blob_a, a.token.encode()).decode()
    with pytest.raises(InvalidTag):
        crypto.decrypt(key.algorithm, key.key, blob_a, b.token.encode())

    # Swap: move A's ciphertext into B's row. B does not turn into card A; it fails loudly.
    async with db.session() as s:
        await s.execute(
            text("UPDATE vault_cards SET ciphertext = :c WHERE token = :t"),
            {"c": blob_a, "t": b.token},
        )
    with pytest.raises(VaultIntegrityError) as info:
        await _reveal(db, b.token)
    assert pan_a not in str(info.value) and pan_b not in str(info.value)
    assert await _reveal(db, a.token) == pan_a


async def test_a_tampered_ciphertext_fails(db: Database) -> None:
    view, _ = await bind(db, card())
    blob = bytearray((await row_of(db, "vault_cards", view.token))["ciphertext"])
    blob[-1] ^= 1
    async with db.session() as s:
        await s.execute(
            text("UPDATE vault_cards SET ciphertext = :c WHERE token = :t"),
            {"c": bytes(blob), "t": view.token},
        )
    with pytest.raises(VaultIntegrityError):
        await _reveal(db, view.token)


async def test_rotation_old_rows_still_decrypt_and_new_rows_use_the_new_key(
    db: Database,
) -> None:
    old_pan, new_pan = card("CEB", "debit", seed=1), card("CEB", "debit", seed=2)
    old, _ = await bind(db, old_pan)
    assert (await row_of(db, "vault_cards", old.token))["key_version"] == 1

    version = (await db.run_in_transaction(keys.rotate)).version
    assert version == 2
    new, _ = await bind(db, new_pan)
    assert (await row_of(db, "vault_cards", new.token))["key_version"] == 2
    assert await _reveal(db, old.token) == old_pan
    assert await _reveal(db, new.token) == new_pan
    assert await _key(db, 1) != await _key(db, 2)

    listed = await db.run_in_transaction(keys.list_data_keys)
    assert [(k.version, k.state, k.rows) for k in listed] == [
        (1, "retiring", 1),
        (2, "active", 1),
    ]


async def test_a_retiring_key_never_encrypts_new_rows(db: Database) -> None:
    first, _ = await bind(db, card("CMBC", "credit", seed=1))
    await db.run_in_transaction(keys.rotate)
    await db.run_in_transaction(keys.rotate)
    third, _ = await bind(db, card("CMBC", "credit", seed=3))
    assert (await row_of(db, "vault_cards", third.token))["key_version"] == 3
    # Retiring keys still decrypt what they wrote.
    assert await _reveal(db, first.token) == card("CMBC", "credit", seed=1)
    listed = await db.run_in_transaction(keys.list_data_keys)
    assert [(k.version, k.state) for k in listed] == [
        (1, "retiring"),
        (2, "retiring"),
        (3, "active"),
    ]
    active = await db.run_in_transaction(keys.active_data_key)
    assert active.version == 3
    assert "key=" not in repr(active) and repr(active.key) not in repr(active)


async def test_data_keys_are_wrapped_under_the_master_key(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pan = card("PAB", "debit")
    view, _ = await bind(db, pan)
    stored = await row_of_key(db, 1)
    wrapped, algorithm = bytes(stored["wrapped_key"]), Aead(stored["algorithm"])
    assert algorithm is CIPHER_OF[get_settings().crypto_suite]
    master = get_settings().vault_master_key_bytes()
    assert base64.b64encode(master).decode() == DEV_VAULT_MASTER_KEY
    key = await _key(db, 1)
    assert crypto.unwrap_data_key(master, algorithm, wrapped, 1) == key.key
    assert len(key.key) == KEY_BYTES[algorithm]
    # A wrapped key is bound to its version and its algorithm too.
    with pytest.raises(VaultIntegrityError):
        crypto.unwrap_data_key(master, algorithm, wrapped, 2)
    other = next(a for a in Aead if a is not algorithm)
    with pytest.raises(VaultIntegrityError):
        crypto.unwrap_data_key(master, other, wrapped, 1)

    # Another master key cannot read the vault, and says so without showing any secret.
    monkeypatch.setenv("PAYHUB_VAULT_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    reset_settings_cache()
    with pytest.raises(VaultIntegrityError) as info:
        await _reveal(db, view.token)
    assert "master key" in str(info.value)
    assert pan not in str(info.value)


async def row_of_key(db: Database, version: int) -> dict[str, object]:
    async with db.session() as s:
        found = await s.execute(
            text("SELECT * FROM vault_data_keys WHERE version = :v"), {"v": version}
        )
        return dict(found.mappings().one())


async def test_fingerprints_depend_on_the_fingerprint_key(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pan = card("GDB", "debit")
    before = service.card_fingerprint(pan)
    assert before == crypto.fingerprint(
        MAC_OF[get_settings().crypto_suite],
        get_settings().vault_fingerprint_key.get_secret_value().encode(),
        pan,
    )
    monkeypatch.setenv("PAYHUB_VAULT_FINGERPRINT_KEY", "another-fingerprint-key-of-ours")
    reset_settings_cache()
    assert service.card_fingerprint(pan) != before
    assert len(service.card_fingerprint(pan)) == 64


async def test_two_concurrent_first_binds_share_one_key_and_one_token(db: Database) -> None:
    """On PostgreSQL both transactions race to make data key 1 and the card row: the loser
    of each race reads the winner's. (On SQLite they queue, which proves less.)"""
    import asyncio

    pan = card("ICBC", "credit")
    results = await asyncio.gather(*(bind(db, pan) for _ in range(4)))
    tokens = {view.token for view, _ in results}
    assert len(tokens) == 1
    assert sum(created for _, created in results) == 1
    listed = await db.run_in_transaction(keys.list_data_keys)
    assert [k.version for k in listed] == [1]
