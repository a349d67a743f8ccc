"""Migrations that change data — 0012 (data-key states and algorithms), 0017 (webhook
secrets sealed) — up and down, with rows written the way the previous revision wrote them."""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from payhub.core.config import reset_settings_cache
from payhub.core.cryptosuite import Aead
from payhub.db.migrate import downgrade, upgrade
from payhub.db.models import metadata
from payhub.db.session import Database
from payhub.events import service as events
from payhub.events.models import WebhookEndpoint
from payhub.vault import crypto, keys, masterkey, reencrypt, service, testcards
from tests.conftest import POSTGRES, TEST_URL, _drop_pg, _recreate_pg
from tests.security.leaks import database_cells

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def old_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database of its own at 0011: a SQLite file, or a PostgreSQL database dropped after."""
    async for db in _database_at(tmp_path, "0011"):
        yield db


@pytest.fixture
async def db_0016(tmp_path: Path) -> AsyncIterator[Database]:
    async for db in _database_at(tmp_path, "0016"):
        yield db


async def _database_at(tmp_path: Path, revision: str) -> AsyncIterator[Database]:
    if POSTGRES:
        name = f"payhub_migrate_{os.getpid()}_{secrets.token_hex(4)}"
        url = make_url(TEST_URL).set(database=name).render_as_string(hide_password=False)
        await _recreate_pg(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    db = Database(url, pool_size=2)
    try:
        await upgrade(db.engine, revision)
        yield db
    finally:
        await db.dispose()
        if POSTGRES:
            await _drop_pg(url)


async def _sql(db: Database, statement: str, **params: Any) -> list[Any]:
    async with db.engine.begin() as conn:
        result = await conn.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def _old_vault(db: Database) -> dict[str, str]:
    """Three keys as 0011 knew them — v1 retired, v2 and v3 not (v3 the one in use) — and a
    card under each of v1 and v2."""
    master = masterkey.master_key()
    data_keys = {}
    for version, retired in ((1, T0 + timedelta(days=1)), (2, None), (3, None)):
        data_keys[version] = crypto.new_data_key(Aead.AES_256_GCM)
        await _sql(
            db,
            "INSERT INTO vault_data_keys (version, wrapped_key, created_at, retired_at) "
            "VALUES (:v, :w, :c, :r)",
            v=version,
            w=crypto.wrap_data_key(master, Aead.AES_256_GCM, data_keys[version], version),
            c=T0 + timedelta(days=version),
            r=retired,
        )
    cards = {}
    for version in (1, 2):
        pan = testcards.test_card("PARTNER", "debit", rng=random.Random(version))
        token = f"card_old{version}"
        key = keys.UnwrappedKey(version, Aead.AES_256_GCM, data_keys[version])
        await _sql(
            db,
            "INSERT INTO vault_cards (token, merchant_id, customer_id, fingerprint, first6, "
            "last4, brand, card_type, issuer_code, exp_month, exp_year, key_version, "
            "ciphertext, created_at) VALUES (:t, 'mer_1', :cus, :f, :f6, :l4, 'unionpay', "
            "'debit', 'PARTNER', 12, 2030, :v, :c, :at)",
            t=token,
            cus=f"cus_{version}",
            f=service.card_fingerprint(pan),
            f6=pan[:6],
            l4=pan[-4:],
            v=version,
            c=service.seal(key, token, {"pan": pan}),
            at=T0,
        )
        cards[token] = pan
    return cards


async def _keys(db: Database) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in await _sql(
            db,
            "SELECT version, algorithm, state, deactivated_at IS NOT NULL, destroyed_at "
            "FROM vault_data_keys ORDER BY version",
        )
    ]


async def test_0012_keeps_every_card_readable_and_goes_back_down(old_db: Database) -> None:
    db = old_db
    cards = await _old_vault(db)
    await upgrade(db.engine)

    assert await _keys(db) == [
        (1, "aes-256-gcm", "retiring", True, None),
        (2, "aes-256-gcm", "retiring", True, None),
        (3, "aes-256-gcm", "active", False, None),
    ]
    # v2 stopped encrypting when v3 was made; v1 kept the day it was retired.
    stopped = await _sql(db, "SELECT deactivated_at FROM vault_data_keys ORDER BY version")
    assert [_utc(r[0]) for r in stopped[:2]] == [T0 + timedelta(days=1), T0 + timedelta(days=3)]
    algs = await _sql(db, "SELECT DISTINCT fingerprint_alg FROM vault_cards")
    assert algs == [("hmac-sha256",)]
    for token, pan in cards.items():
        assert (await db.transact(lambda sql, t=token: service.reveal_card(sql, t))).pan == pan

    # The job moves the old rows; a second card of the same customer is still a duplicate.
    assert (await reencrypt.run(db)).moved == 2
    assert await _sql(db, "SELECT DISTINCT key_version FROM vault_cards") == [(3,)]
    pan = cards["card_old1"]
    _, created = await db.run_in_transaction(
        lambda s: service.bind_card(
            s, merchant_id="mer_1", customer_id="cus_1", pan=pan, exp_month=12, exp_year=2031
        )
    )
    assert not created

    # Back down: 0011's columns, with `retired_at` set for the keys no longer in use.
    await downgrade(db.engine, "0011")
    rows = await _sql(
        db, "SELECT version, retired_at IS NOT NULL FROM vault_data_keys ORDER BY version"
    )
    assert [tuple(r) for r in rows] == [(1, True), (2, True), (3, False)]
    columns = await _sql(db, "SELECT * FROM vault_cards LIMIT 1")
    assert len(columns[0]) == 15  # the table as 0002 made it
    # And up again: the partial unique index of guest cards survived both ways.
    await upgrade(db.engine)
    assert [k[2] for k in await _keys(db)] == ["retiring", "retiring", "active"]
    for token, pan in cards.items():
        assert (await db.transact(lambda sql, t=token: service.reveal_card(sql, t))).pan == pan


async def test_0012_will_not_go_down_over_what_0011_cannot_hold(old_db: Database) -> None:
    db = old_db
    await upgrade(db.engine)
    await db.run_in_transaction(lambda s: keys.rotate(s, Aead.SM4_GCM))
    with pytest.raises(RuntimeError, match="cannot downgrade below 0012"):
        await downgrade(db.engine, "0011")
    assert await _keys(db) == [(1, "sm4-gcm", "active", False, None)]


async def test_0012_enforces_one_active_key_and_no_material_once_destroyed(
    old_db: Database,
) -> None:
    db = old_db
    await upgrade(db.engine)
    await db.run_in_transaction(keys.rotate)
    insert = (
        "INSERT INTO vault_data_keys (version, algorithm, state, wrapped_key, created_at, "
        "deactivated_at, destroyed_at) VALUES (:v, 'aes-256-gcm', :s, :w, :c, NULL, :d)"
    )
    bad = [
        {"v": 2, "s": "active", "w": b"x", "d": None},  # a second active key
        {"v": 3, "s": "destroyed", "w": b"x", "d": T0},  # destroyed, material kept
        {"v": 4, "s": "retiring", "w": None, "d": None},  # material lost, not destroyed
        {"v": 5, "s": "lost", "w": b"x", "d": None},
    ]
    for params in bad:
        with pytest.raises(Exception, match=r"(?i)constraint|unique|check"):
            await _sql(db, insert, c=T0, **params)
    assert len(await _keys(db)) == 1


async def test_the_migrated_schema_is_the_models(old_db: Database) -> None:
    """Tables, columns, types, indexes and constraints made by the migrations are the ones
    the models declare (server defaults aside: 0012 leaves one on existing tables)."""
    await upgrade(old_db.engine)

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with old_db.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


def _utc(value: Any) -> datetime:
    """SQLite hands timestamps back as text, PostgreSQL as aware datetimes."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _old_endpoints(db: Database) -> dict[str, tuple[str, str | None]]:
    """Two endpoints as 0016 stored them, secrets in clear: one mid-roll (its previous
    secret still signing), one never rolled."""
    made = {
        "we_rolled": ("whsec_" + secrets.token_urlsafe(32), "whsec_" + secrets.token_urlsafe(32)),
        "we_plain": ("whsec_" + secrets.token_urlsafe(32), None),
    }
    for endpoint_id, (secret, previous) in made.items():
        await _sql(
            db,
            "INSERT INTO webhook_endpoints (id, merchant_id, url, events, secret, "
            "previous_secret, previous_secret_expires_at, enabled, description, created_at) "
            "VALUES (:id, NULL, :url, :events, :s, :p, :ends, true, NULL, :at)",
            id=endpoint_id,
            url="http://127.0.0.1:9/hook",
            events='["*"]',
            s=secret,
            p=previous,
            ends=datetime.now(UTC) + timedelta(hours=1) if previous else None,
            at=T0,
        )
    return made


async def _cells_holding(db: Database, needles: list[str]) -> list[str]:
    return sorted(
        [
            f"{table}.{column}"
            async for table, column, value in database_cells(db, migrated_to_head=False)
            if value is not None and any(n.encode() in _as_bytes(value) for n in needles)
        ]
    )


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, memoryview | bytes):
        return bytes(value)
    return str(value).encode()


async def test_0017_seals_every_stored_webhook_secret(db_0016: Database) -> None:
    db = db_0016
    made = await _old_endpoints(db)
    clear = [s for pair in made.values() for s in pair if s is not None]
    assert await _cells_holding(db, clear) == [
        "webhook_endpoints.previous_secret",
        "webhook_endpoints.secret",
        "webhook_endpoints.secret",
    ]
    await upgrade(db.engine)

    # No clear secret anywhere, nor the clear columns.
    assert await _cells_holding(db, clear) == []
    assert await _cells_holding(db, [s.removeprefix("whsec_") for s in clear]) == []
    async with db.engine.connect() as conn:
        names = await conn.run_sync(
            lambda c: {col["name"] for col in inspect(c).get_columns("webhook_endpoints")}
        )
    assert {"sealed_secret", "sealed_previous_secret"} <= names
    assert not {"secret", "previous_secret"} & names

    # The application opens what the migration sealed: deliveries are signed as before.
    async with db.session() as s:
        for endpoint_id, (secret, previous) in made.items():
            row = await s.get(WebhookEndpoint, endpoint_id)
            assert row is not None and isinstance(row.sealed_secret, bytes)
            expected = [secret] if previous is None else [secret, previous]
            assert events.signing_secrets(row, datetime.now(UTC)) == expected

    # Down again: the clear columns, holding the same secrets; and up once more.
    await downgrade(db.engine, "0016")
    rows = await _sql(db, "SELECT id, secret, previous_secret FROM webhook_endpoints")
    assert {r[0]: (r[1], r[2]) for r in rows} == made
    await upgrade(db.engine)
    assert await _cells_holding(db, clear) == []


async def test_0017_stops_before_changing_anything_without_the_master_key(
    db_0016: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = db_0016
    made = await _old_endpoints(db)
    monkeypatch.setenv("PAYHUB_VAULT_MASTER_KEY_PROVIDER", "file")
    monkeypatch.setenv("PAYHUB_VAULT_MASTER_KEY_FILE", str(tmp_path / "missing.key"))
    reset_settings_cache()
    try:
        with pytest.raises(RuntimeError, match=r"migration 0017 seals .* master key") as caught:
            await upgrade(db.engine)
        assert "PAYHUB_VAULT_MASTER_KEY_FILE cannot be read" in str(caught.value)
        assert str(tmp_path) not in str(caught.value)
        assert await _sql(db, "SELECT version_num FROM alembic_version") == [("0016",)]
        rows = await _sql(db, "SELECT id, secret, previous_secret FROM webhook_endpoints")
        assert {r[0]: (r[1], r[2]) for r in rows} == made

        # With nothing to seal, the key is not needed: a new database migrates without it.
        await _sql(db, "DELETE FROM webhook_endpoints")
        await upgrade(db.engine, "0017")
        assert await _sql(db, "SELECT version_num FROM alembic_version") == [("0017",)]
    finally:
        monkeypatch.undo()
        reset_settings_cache()
