"""fees: fee plans and versions, channel cost schedule versions, fees per payment

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fee_plans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_plans")),
    )
    op.create_table(
        "fee_plan_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("channel_classes", sa.JSON(), nullable=False),
        sa.Column("refund_policy", sa.String(length=12), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "refund_policy IN ('proportional', 'none')",
            name=op.f("ck_fee_plan_versions_refund_policy"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_fee_plan_versions_version")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["fee_plans.id"], name=op.f("fk_fee_plan_versions_plan_id_fee_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_plan_versions")),
        sa.UniqueConstraint(
            "plan_id", "version", name=op.f("uq_fee_plan_versions_plan_id_version")
        ),
    )
    op.create_index(
        "ix_fee_plan_versions_plan_id_effective_from",
        "fee_plan_versions",
        ["plan_id", "effective_from"],
    )
    op.create_table(
        "channel_cost_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("debit", sa.JSON(), nullable=False),
        sa.Column("credit", sa.JSON(), nullable=False),
        sa.Column("refund_returns_fee", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_channel_cost_versions_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_cost_versions")),
        sa.UniqueConstraint(
            "channel_id", "version", name=op.f("uq_channel_cost_versions_channel_id_version")
        ),
    )
    op.create_index(
        "ix_channel_cost_versions_channel_id_effective_from",
        "channel_cost_versions",
        ["channel_id", "effective_from"],
    )
    op.create_table(
        "payment_fees",
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("card_type", sa.String(length=10), nullable=False),
        sa.Column("issuer", sa.String(length=40), nullable=False),
        sa.Column("channel_class", sa.String(length=12), nullable=False),
        sa.Column("scene", sa.String(length=20), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=True),
        sa.Column("plan_version", sa.BigInteger(), nullable=True),
        sa.Column("cost_version", sa.BigInteger(), nullable=True),
        sa.Column("merchant_price", sa.JSON(), nullable=False),
        sa.Column("cost_price", sa.JSON(), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("merchant_fee", sa.BigInteger(), nullable=False),
        sa.Column("merchant_fee_refunded", sa.BigInteger(), nullable=False),
        sa.Column("channel_cost", sa.BigInteger(), nullable=False),
        sa.Column("channel_cost_refunded", sa.BigInteger(), nullable=False),
        sa.Column("first_captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "merchant_fee_refunded <= merchant_fee AND channel_cost_refunded <= channel_cost",
            name=op.f("ck_payment_fees_never_over_refunded"),
        ),
        sa.CheckConstraint(
            "captured >= 0 AND refunded >= 0 AND merchant_fee >= 0 AND channel_cost >= 0 "
            "AND merchant_fee_refunded >= 0 AND channel_cost_refunded >= 0",
            name=op.f("ck_payment_fees_amounts_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_fees_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payment_fees")),
    )
    op.create_index("ix_payment_fees_first_captured_at", "payment_fees", ["first_captured_at"])
    op.create_index(
        "ix_payment_fees_merchant_id_first_captured_at",
        "payment_fees",
        ["merchant_id", "first_captured_at"],
    )


def downgrade() -> None:
    op.drop_table("payment_fees")
    op.drop_table("channel_cost_versions")
    op.drop_table("fee_plan_versions")
    op.drop_table("fee_plans")
