"""The two suites in the vault, and switching from one to the other."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from payhub.core.config import get_settings, reset_settings_cache
from payhub.core.cryptosuite import CIPHER_OF, MAC_OF, Suite
from payhub.db.session import Database
from payhub.vault import crypto, keys, reencrypt, service
from tests.vault.helpers import bind, card, reveal_for_channel, row_of


def _switch(monkeypatch: pytest.MonkeyPatch, to: Suite) -> None:
    monkeypatch.setenv("PAYHUB_CRYPTO_SUITE", to.value)
    reset_settings_cache()


def _other(suite: Suite) -> Suite:
    return Suite.GM if suite is Suite.INTERNATIONAL else Suite.INTERNATIONAL


async def test_new_rows_use_the_suites_cipher_and_mac(db: Database, suite: Suite) -> None:
    pan = card("BOC", "credit")
    view, _ = await bind(db, pan)
    row = await row_of(db, "vault_cards", view.token)
    key = await db.run_in_transaction(lambda s: keys.data_key(s, row["key_version"]))
    assert key.algorithm is CIPHER_OF[suite]
    assert row["fingerprint_alg"] == MAC_OF[suite].value
    secret = get_settings().vault_fingerprint_key.get_secret_value().encode()
    assert view.fingerprint == crypto.fingerprint(MAC_OF[suite], secret, pan)
    other = crypto.fingerprint(MAC_OF[_other(suite)], secret, pan)
    assert other != view.fingerprint and len(other) == len(view.fingerprint) == 64
    # The same card for another customer and merchant: the same fingerprint.
    twin, _ = await bind(db, pan, merchant_id="mer_other", customer_id="cus_other")
    assert twin.fingerprint == view.fingerprint


async def test_switching_suites_keeps_duplicates_and_the_job_brings_rows_across(
    db: Database, suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    pan, newer = card("CCB", "debit", seed=1), card("CCB", "debit", seed=2)
    old, _ = await bind(db, pan)
    account, _ = await db.run_in_transaction(
        lambda s: service.bind_bank_account(
            s,
            merchant_id="mer_noodles",
            owner_ref="mer_noodles",
            bank_code="ICBC",
            account_number="6222021100001111",
            holder_name="Noodles",
        )
    )
    target = _other(suite)
    _switch(monkeypatch, target)

    # Before any re-fingerprinting, the card is still recognised as the same card.
    again, created = await bind(db, pan)
    assert not created and again.token == old.token
    fresh, _ = await bind(db, newer)
    assert (await row_of(db, "vault_cards", fresh.token))["fingerprint_alg"] == (
        MAC_OF[target].value
    )
    # The key in use is still the old suite's until an operator rotates.
    assert (await row_of(db, "vault_cards", fresh.token))["key_version"] == 1

    # The pass re-fingerprints even before a rotation; after one it also moves the keys.
    assert await db.run_in_transaction(reencrypt.pending) == 2
    rotated = await db.run_in_transaction(keys.rotate)
    assert rotated.algorithm == CIPHER_OF[target].value
    totals = await reencrypt.run(db)
    assert (totals.moved, totals.refingerprinted, totals.failed) == (3, 2, 0)

    moved = await row_of(db, "vault_cards", old.token)
    assert moved["fingerprint_alg"] == MAC_OF[target].value
    assert moved["fingerprint"] == service.card_fingerprint(pan)
    assert moved["key_version"] == 2
    assert await reveal_for_channel(db, old.token) == pan
    assert await reveal_for_channel(db, fresh.token) == newer
    acct = await row_of(db, "vault_bank_accounts", account.token)
    assert acct["fingerprint"] == service.bank_account_fingerprint("ICBC", "6222021100001111")
    assert (await bind(db, pan))[0].token == old.token
    assert await db.run_in_transaction(reencrypt.pending) == 0


async def test_a_duplicate_made_across_a_switch_keeps_its_old_fingerprint(
    db: Database, suite: Suite, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two processes on either side of a suite switch can each bind the same card for the
    same owner (each sees no row under its own fingerprint yet). The pass cannot give both
    the same fingerprint: the second keeps its own, and a warning names it."""
    pan = card("SPDB", "debit")
    first, _ = await bind(db, pan, customer_id="cus_a")
    _switch(monkeypatch, _other(suite))
    second, _ = await bind(db, pan, customer_id="cus_b")
    async with db.session() as s:  # what the race would have left
        await s.execute(
            text("UPDATE vault_cards SET customer_id = 'cus_a' WHERE token = :t"),
            {"t": second.token},
        )
    await db.run_in_transaction(keys.rotate)
    caplog.set_level(logging.WARNING, logger="payhub.vault")
    totals = await reencrypt.run(db)
    assert (totals.moved, totals.refingerprinted, totals.failed) == (2, 0, 1)
    kept = await row_of(db, "vault_cards", first.token)
    assert kept["fingerprint_alg"] == MAC_OF[suite].value and kept["key_version"] == 2
    assert await reveal_for_channel(db, first.token) == pan
    [warning] = [r for r in caplog.records if "old fingerprint" in r.getMessage()]
    assert warning.__dict__["token"] == first.token
    assert pan not in warning.getMessage() and pan not in repr(warning.__dict__)
