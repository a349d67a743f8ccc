"""vault: data keys, cards, bank accounts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_data_keys",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_vault_data_keys")),
    )

    op.create_table(
        "vault_cards",
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("first6", sa.String(length=6), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("brand", sa.String(length=16), nullable=False),
        sa.Column("card_type", sa.String(length=8), nullable=False),
        sa.Column("issuer_code", sa.String(length=16), nullable=False),
        sa.Column("exp_month", sa.SmallInteger(), nullable=False),
        sa.Column("exp_year", sa.SmallInteger(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=True),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "brand IN ('unionpay', 'visa', 'mastercard', 'jcb', 'amex')",
            name=op.f("ck_vault_cards_brand"),
        ),
        sa.CheckConstraint(
            "card_type IN ('debit', 'credit')", name=op.f("ck_vault_cards_card_type")
        ),
        sa.CheckConstraint(
            "exp_month >= 1 AND exp_month <= 12", name=op.f("ck_vault_cards_exp_month")
        ),
        sa.ForeignKeyConstraint(
            ["key_version"],
            ["vault_data_keys.version"],
            name=op.f("fk_vault_cards_key_version_vault_data_keys"),
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_vault_cards")),
        sa.UniqueConstraint(
            "merchant_id",
            "customer_id",
            "fingerprint",
            name="uq_vault_cards_merchant_customer_fingerprint",
        ),
    )
    with op.batch_alter_table("vault_cards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_cards_fingerprint"), ["fingerprint"], unique=False
        )
        batch_op.create_index(
            "uq_vault_cards_merchant_guest_fingerprint",
            ["merchant_id", "fingerprint"],
            unique=True,
            sqlite_where=sa.text("customer_id IS NULL"),
            postgresql_where=sa.text("customer_id IS NULL"),
        )

    op.create_table(
        "vault_bank_accounts",
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("owner_ref", sa.String(length=64), nullable=False),
        sa.Column("bank_code", sa.String(length=16), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_version"],
            ["vault_data_keys.version"],
            name=op.f("fk_vault_bank_accounts_key_version_vault_data_keys"),
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_vault_bank_accounts")),
        sa.UniqueConstraint(
            "merchant_id",
            "owner_ref",
            "fingerprint",
            name="uq_vault_bank_accounts_merchant_owner_fingerprint",
        ),
    )
    with op.batch_alter_table("vault_bank_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_bank_accounts_fingerprint"), ["fingerprint"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("vault_bank_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_bank_accounts_fingerprint"))

    op.drop_table("vault_bank_accounts")
    with op.batch_alter_table("vault_cards", schema=None) as batch_op:
        batch_op.drop_index("uq_vault_cards_merchant_guest_fingerprint")
        batch_op.drop_index(batch_op.f("ix_vault_cards_fingerprint"))

    op.drop_table("vault_cards")
    op.drop_table("vault_data_keys")
