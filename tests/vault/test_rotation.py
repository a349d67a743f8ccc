"""Rotation, re-encryption, retiring and destroying data keys."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import text

from payhub.audit import service as audit
from payhub.core.cryptosuite import CIPHER_OF, MAC_OF, Aead, Suite
from payhub.core.errors import PayHubError
from payhub.db.session import Database
from payhub.vault import keys, reencrypt, service
from payhub.vault.crypto import VaultIntegrityError
from tests.conftest import POSTGRES
from tests.vault.helpers import (
    assert_no_card_data,
    bind,
    card,
    error_texts,
    every_table_as_text,
    reveal_for_channel,
    row_of,
)

ACCOUNT = "6222 0211 0000 1111"


async def _bind_many(db: Database, n: int) -> dict[str, str]:
    """`n` cards of different customers: token → number."""
    made = {}
    for i in range(n):
        pan = card("ICBC" if i % 2 else "CMB", "debit", seed=i)
        view, _ = await bind(db, pan, customer_id=f"cus_{i}")
        made[view.token] = pan
    return made


async def _bind_account(db: Database, owner: str = "mer_noodles") -> str:
    view, _ = await db.run_in_transaction(
        lambda s: service.bind_bank_account(
            s,
            merchant_id="mer_noodles",
            owner_ref=owner,
            bank_code="PARTNER",
            account_number=ACCOUNT,
            holder_name="Noodle Shop Ltd",
        )
    )
    return view.token


async def _versions(db: Database, table: str) -> set[int]:
    async with db.session() as s:
        found = await s.execute(text(f"SELECT DISTINCT key_version FROM {table}"))
        return set(found.scalars())


async def _states(db: Database) -> list[tuple[int, str, int]]:
    return [(k.version, k.state, k.rows) for k in await db.run_in_transaction(keys.list_data_keys)]


async def _audit(db: Database, action: str) -> list[audit.AuditView]:
    found, _ = await db.run_in_transaction(
        lambda s: audit.list_events(
            s, audit.AuditFilter(action=action), limit=100, starting_after=None
        )
    )
    return found


async def test_rotation_then_reencryption_moves_every_row(
    db: Database, suite: Suite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cards = await _bind_many(db, 7)
    account = await _bind_account(db)
    before = {t: await row_of(db, "vault_cards", t) for t in cards}

    with audit.acting_as(audit.Actor("cli:ops", "operator", "cli@host")):
        rotated = await db.run_in_transaction(keys.rotate)
    assert (rotated.version, rotated.state, rotated.rows) == (2, "active", 0)
    assert rotated.algorithm == CIPHER_OF[suite].value
    assert await _states(db) == [(1, "retiring", 8), (2, "active", 0)]
    assert await db.run_in_transaction(reencrypt.pending) == 8

    batches: list[reencrypt.Batch] = []
    totals = await reencrypt.run(db, limit=3, on_batch=batches.append)
    assert (totals.moved, totals.failed, totals.refingerprinted) == (8, 0, 0)
    assert [b.scanned for b in batches] == [3, 3, 1, 1]  # cards, then the account
    assert await _versions(db, "vault_cards") == {2}
    assert await _versions(db, "vault_bank_accounts") == {2}
    assert await _states(db) == [(1, "retiring", 0), (2, "active", 8)]
    assert await db.run_in_transaction(reencrypt.pending) == 0
    assert (await reencrypt.run(db)).moved == 0  # nothing left: a second run is a no-op

    for token, pan in cards.items():
        assert await reveal_for_channel(db, token) == pan
        after = await row_of(db, "vault_cards", token)
        assert bytes(after["ciphertext"]) != bytes(before[token]["ciphertext"])
        assert after["fingerprint"] == before[token]["fingerprint"]  # duplicates still found
    revealed = await db.run_in_transaction(lambda s: service.reveal_bank_account(s, account))
    assert revealed.account_number == ACCOUNT.replace(" ", "")
    again, created = await bind(db, next(iter(cards.values())), customer_id="cus_0")
    assert not created and again.token == next(iter(cards))

    [event] = await _audit(db, "vault.data_key.rotated")
    assert (event.actor, event.actor_role, event.target_id) == ("cli:ops", "operator", "2")
    assert event.details == {"version": 2, "algorithm": rotated.algorithm, "previous": 1}
    moved = await _audit(db, "vault.reencrypted")
    assert sum(e.details["rows"] for e in moved) == 8
    assert {e.actor for e in moved} == {"system"}

    # No number in any table outside the ciphertext, nor in any log line.
    dump = await every_table_as_text(db)
    logs = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    for pan in cards.values():
        assert pan not in dump and pan not in logs
    assert ACCOUNT.replace(" ", "") not in dump + logs


async def test_reads_go_on_between_and_during_batches(db: Database) -> None:
    cards = await _bind_many(db, 9)
    await db.run_in_transaction(keys.rotate)

    async def read_all() -> None:
        for token, pan in cards.items():
            assert await reveal_for_channel(db, token) == pan

    # Between batches: some rows moved, some not.
    for kind in reencrypt.KINDS:
        after = ""
        while True:
            done = await db.run_in_transaction(
                lambda s, kind=kind, after=after: reencrypt.batch(s, kind, after=after, limit=2)
            )
            await read_all()
            if not done.scanned:
                break
            after = done.last_token
    assert await _versions(db, "vault_cards") == {2}

    # During: readers race a whole run (on PostgreSQL truly at once).
    await db.run_in_transaction(keys.rotate)
    stop = asyncio.Event()

    async def keep_reading() -> int:
        rounds = 0
        while not stop.is_set() or rounds == 0:
            await read_all()
            rounds += 1
        return rounds

    readers = [asyncio.create_task(keep_reading()) for _ in range(2)]
    totals = await reencrypt.run(db, limit=2)
    stop.set()
    assert all(r >= 1 for r in await asyncio.gather(*readers))
    assert totals.moved == 9
    assert await _versions(db, "vault_cards") == {3}


async def test_retiring_and_destroying_are_refused_while_rows_use_the_key(db: Database) -> None:
    pan = card("CIB", "credit")
    view, _ = await bind(db, pan)
    await db.run_in_transaction(keys.rotate)
    wrapped_before = (await _key_row(db, 1))["wrapped_key"]

    for action in (keys.retire, keys.destroy):
        with pytest.raises(PayHubError) as info:
            await db.run_in_transaction(lambda s, action=action: action(s, 1))
        assert info.value.code == "data_key_in_use"
        assert info.value.status == 409
        assert "1 stored numbers" in info.value.message()
        for shown in error_texts(info.value):
            assert_no_card_data(shown, pan)
    # Nothing was half-done: the key is as it was, and still decrypts.
    assert (await _key_row(db, 1))["wrapped_key"] == wrapped_before
    assert await _states(db) == [(1, "retiring", 1), (2, "active", 0)]
    assert await reveal_for_channel(db, view.token) == pan
    assert await _audit(db, "vault.data_key.retired") == []

    # The active key: rotate first.
    for action in (keys.retire, keys.destroy):
        with pytest.raises(PayHubError) as info:
            await db.run_in_transaction(lambda s, action=action: action(s, 2))
        assert info.value.code == "data_key_unexpected_state"
    # A version that does not exist.
    with pytest.raises(PayHubError) as info:
        await db.run_in_transaction(lambda s: keys.destroy(s, 7))
    assert info.value.code == "data_key_not_found" and info.value.status == 404


async def test_a_destroyed_key_decrypts_nothing_ever_again(db: Database) -> None:
    pan = card("PAB", "debit")
    view, _ = await bind(db, pan)
    old = await row_of(db, "vault_cards", view.token)  # as a backup would hold it
    await db.run_in_transaction(keys.rotate)
    await reencrypt.run(db)

    retired = await db.run_in_transaction(lambda s: keys.retire(s, 1))
    assert retired.state == "retired"
    assert (await db.run_in_transaction(lambda s: keys.data_key(s, 1))).version == 1
    destroyed = await db.run_in_transaction(lambda s: keys.destroy(s, 1))
    assert destroyed.state == "destroyed" and destroyed.destroyed_at is not None
    again = await db.run_in_transaction(lambda s: keys.destroy(s, 1))  # idempotent
    assert again == destroyed
    stored = await _key_row(db, 1)
    assert stored["wrapped_key"] is None and stored["state"] == "destroyed"

    with pytest.raises(VaultIntegrityError, match="destroyed"):
        await db.run_in_transaction(lambda s: keys.data_key(s, 1))
    # The old ciphertext put back, as restoring a backup would: it no longer opens.
    async with db.session() as s:
        await s.execute(
            text("UPDATE vault_cards SET key_version = 1, ciphertext = :c WHERE token = :t"),
            {"c": bytes(old["ciphertext"]), "t": view.token},
        )
    with pytest.raises(VaultIntegrityError, match="destroyed") as info:
        await reveal_for_channel(db, view.token)
    assert pan not in str(info.value)
    # Nor does the re-encryption job touch it (it moves only retiring keys' rows).
    assert (await reencrypt.run(db)).moved == 0
    # Retiring a destroyed key changes nothing: it stays destroyed.
    assert (await db.run_in_transaction(lambda s: keys.retire(s, 1))).state == "destroyed"
    assert (await _key_row(db, 1))["state"] == "destroyed"
    actions = [e.action for e in await _audit(db, "vault.data_key.destroyed")]
    assert actions == ["vault.data_key.destroyed"]


async def test_a_retired_key_is_not_made_active_again_nor_destroyed_twice(db: Database) -> None:
    await bind(db, card())
    await db.run_in_transaction(keys.rotate)
    await reencrypt.run(db)
    await db.run_in_transaction(lambda s: keys.retire(s, 1))
    await db.run_in_transaction(lambda s: keys.retire(s, 1))  # idempotent
    assert [e.target_id for e in await _audit(db, "vault.data_key.retired")] == ["1"]
    await db.run_in_transaction(keys.rotate)
    assert await _states(db) == [(1, "retired", 0), (2, "retiring", 1), (3, "active", 0)]


async def test_new_keys_follow_the_suite_unless_told(db: Database, suite: Suite) -> None:
    view, _ = await bind(db, card("CEB", "debit"))
    first = (await _states(db))[0]
    assert first == (1, "active", 1)
    assert (await _key_row(db, 1))["algorithm"] == CIPHER_OF[suite].value
    other = next(a for a in Aead if a is not CIPHER_OF[suite])
    made = await db.run_in_transaction(lambda s: keys.rotate(s, other))
    assert made.algorithm == other.value
    await reencrypt.run(db)
    assert await reveal_for_channel(db, view.token) == card("CEB", "debit")
    key = await db.run_in_transaction(lambda s: keys.data_key(s, 2))
    assert key.algorithm is other


async def test_two_concurrent_rotations_leave_one_active_key(db: Database) -> None:
    await bind(db, card())
    made = await asyncio.gather(*(db.run_in_transaction(keys.rotate) for _ in range(3)))
    assert sorted(m.version for m in made) == [2, 3, 4]
    states = await _states(db)
    assert [s for _, s, _ in states].count("active") == 1
    assert states[-1][:2] == (4, "active")


async def _key_row(db: Database, version: int) -> dict[str, Any]:
    async with db.session() as s:
        found = await s.execute(
            text("SELECT * FROM vault_data_keys WHERE version = :v"), {"v": version}
        )
        return dict(found.mappings().one())


async def test_concurrent_workers_neither_repeat_nor_lose_rows(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the workers really overlap (`SKIP LOCKED` hands them different rows);
    on SQLite their transactions take turns. Either way each row is encrypted once."""
    cards = await _bind_many(db, 40)
    await db.run_in_transaction(keys.rotate)
    sealed: dict[str, int] = {}
    real_seal = service.seal

    def counting_seal(key: keys.UnwrappedKey, token: str, secret: dict[str, str]) -> bytes:
        sealed[token] = sealed.get(token, 0) + 1
        return real_seal(key, token, secret)

    monkeypatch.setattr(service, "seal", counting_seal)
    results = await asyncio.gather(*(reencrypt.run(db, limit=4) for _ in range(2)))
    if POSTGRES:
        assert all(r.moved for r in results), "the workers should have shared the rows"
    assert sum(r.moved for r in results) == len(cards)
    assert sum(r.failed for r in results) == 0
    assert sealed == dict.fromkeys(cards, 1)
    assert await _versions(db, "vault_cards") == {2}
    for token, pan in cards.items():
        assert await reveal_for_channel(db, token) == pan
    moved = await _audit(db, "vault.reencrypted")
    assert sum(e.details["rows"] for e in moved) == len(cards)


def test_the_suites_cipher_and_mac() -> None:
    assert CIPHER_OF[Suite.GM] is Aead.SM4_GCM
    assert MAC_OF[Suite.GM].value == "hmac-sm3"
