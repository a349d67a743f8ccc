"""vault: data-key algorithms and states, destroyable keys, fingerprint algorithms

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08

Data keys get an algorithm (every existing key is AES-256-GCM) and a state. Before this
revision the newest key not retired encrypted new rows and every other key only decrypted:
the first becomes `active`, the others `retiring` (the re-encryption job moves their rows).
`retired_at` meant "stopped encrypting new rows" and is renamed `deactivated_at`. A
destroyed key has no wrapped key left, so `wrapped_key` becomes nullable.

Cards and bank accounts record which MAC made their fingerprint (every existing one is
HMAC-SHA256); `key_version` and `fingerprint_alg` are indexed for the re-encryption job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ROWS = ("vault_cards", "vault_bank_accounts")


def upgrade() -> None:
    with op.batch_alter_table("vault_data_keys") as batch:
        batch.add_column(
            sa.Column(
                "algorithm", sa.String(length=20), nullable=False, server_default="aes-256-gcm"
            )
        )
        batch.add_column(
            sa.Column("state", sa.String(length=12), nullable=False, server_default="retiring")
        )
        batch.add_column(sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE vault_data_keys SET state = 'active' WHERE retired_at IS NULL AND version = "
        "(SELECT MAX(version) FROM vault_data_keys WHERE retired_at IS NULL)"
    )
    # A key that was never retired stopped encrypting when the next version was made.
    op.execute(
        "UPDATE vault_data_keys SET retired_at = (SELECT MIN(newer.created_at) FROM "
        "vault_data_keys AS newer WHERE newer.version > vault_data_keys.version) "
        "WHERE state = 'retiring' AND retired_at IS NULL"
    )
    with op.batch_alter_table("vault_data_keys") as batch:
        batch.alter_column("retired_at", new_column_name="deactivated_at")
        batch.alter_column("wrapped_key", existing_type=sa.LargeBinary(), nullable=True)
        batch.alter_column("algorithm", existing_type=sa.String(length=20), server_default=None)
        batch.alter_column("state", existing_type=sa.String(length=12), server_default=None)
        batch.create_check_constraint(
            op.f("ck_vault_data_keys_algorithm"), "algorithm IN ('aes-256-gcm', 'sm4-gcm')"
        )
        batch.create_check_constraint(
            op.f("ck_vault_data_keys_state"),
            "state IN ('active', 'retiring', 'retired', 'destroyed')",
        )
        batch.create_check_constraint(
            op.f("ck_vault_data_keys_destroyed_has_no_key"),
            "(state = 'destroyed' AND wrapped_key IS NULL AND destroyed_at IS NOT NULL) OR "
            "(state <> 'destroyed' AND wrapped_key IS NOT NULL)",
        )
    op.create_index(
        "uq_vault_data_keys_one_active",
        "vault_data_keys",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )

    for table in _ROWS:
        # The default fills the existing rows; PayHub always writes the column itself.
        # (Dropping it again would make SQLite copy the whole table.)
        op.add_column(
            table,
            sa.Column(
                "fingerprint_alg",
                sa.String(length=20),
                nullable=False,
                server_default="hmac-sha256",
            ),
        )
        op.create_index(f"ix_{table}_key_version", table, ["key_version"])
        op.create_index(f"ix_{table}_fingerprint_alg", table, ["fingerprint_alg"])


def downgrade() -> None:
    bind = op.get_bind()
    blocking = bind.execute(
        sa.text(
            "SELECT (SELECT COUNT(*) FROM vault_data_keys WHERE algorithm <> 'aes-256-gcm' "
            "OR state = 'destroyed') + (SELECT COUNT(*) FROM vault_cards WHERE "
            "fingerprint_alg <> 'hmac-sha256') + (SELECT COUNT(*) FROM vault_bank_accounts "
            "WHERE fingerprint_alg <> 'hmac-sha256')"
        )
    ).scalar_one()
    if blocking:
        raise RuntimeError(
            "cannot downgrade below 0012: SM4 or destroyed data keys, or HMAC-SM3 "
            "fingerprints, exist and the older schema cannot hold them"
        )
    for table in _ROWS:
        op.drop_index(f"ix_{table}_fingerprint_alg", table_name=table)
        op.drop_index(f"ix_{table}_key_version", table_name=table)
        # Both databases drop a column in place (SQLite since 3.35), keeping the table's
        # partial unique index.
        op.execute(f"ALTER TABLE {table} DROP COLUMN fingerprint_alg")
    op.drop_index("uq_vault_data_keys_one_active", table_name="vault_data_keys")
    with op.batch_alter_table("vault_data_keys") as batch:
        batch.drop_constraint(op.f("ck_vault_data_keys_destroyed_has_no_key"), type_="check")
        batch.drop_constraint(op.f("ck_vault_data_keys_state"), type_="check")
        batch.drop_constraint(op.f("ck_vault_data_keys_algorithm"), type_="check")
        batch.alter_column("wrapped_key", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("deactivated_at", new_column_name="retired_at")
        batch.drop_column("destroyed_at")
        batch.drop_column("state")
        batch.drop_column("algorithm")
