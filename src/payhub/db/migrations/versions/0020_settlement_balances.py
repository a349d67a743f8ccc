"""settlement balances: merchant settlement settings, settlement entries, channel settlements

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_settings",
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("cutoff", sa.String(length=5), nullable=False),
        sa.Column("reserve_bps", sa.BigInteger(), nullable=False),
        sa.Column("reserve_days", sa.BigInteger(), nullable=False),
        sa.Column("calendar", sa.String(length=2), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('realtime', 't1')", name=op.f("ck_settlement_settings_mode")),
        sa.CheckConstraint(
            "reserve_bps >= 0 AND reserve_bps <= 10000",
            name=op.f("ck_settlement_settings_reserve_bps"),
        ),
        sa.CheckConstraint(
            "reserve_days >= 0 AND reserve_days <= 365",
            name=op.f("ck_settlement_settings_reserve_days"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_settlement_settings")),
    )
    op.create_table(
        "settlement_entries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("reserve", sa.BigInteger(), nullable=False),
        sa.Column("reserve_taken", sa.BigInteger(), nullable=False),
        sa.Column("reserve_release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reserve_released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('realtime', 'daily', 'refund')", name=op.f("ck_settlement_entries_kind")
        ),
        sa.CheckConstraint("reserve >= 0", name=op.f("ck_settlement_entries_reserve")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_entries")),
    )
    op.create_index(
        "ix_settlement_entries_merchant_id", "settlement_entries", ["merchant_id", "id"]
    )
    op.create_index(
        "ix_settlement_entries_release",
        "settlement_entries",
        ["reserve_released_at", "reserve_release_at"],
    )
    op.create_table(
        "channel_settlements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settles_on", sa.Date(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("gross_captured", sa.BigInteger(), nullable=False),
        sa.Column("gross_refunded", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("fees_booked", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("statement_ref", sa.String(length=120), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_settlements")),
        sa.UniqueConstraint(
            "channel_id", "currency", "period_start", name=op.f("uq_channel_settlements_period")
        ),
    )


def downgrade() -> None:
    op.drop_table("channel_settlements")
    op.drop_index("ix_settlement_entries_release", table_name="settlement_entries")
    op.drop_index("ix_settlement_entries_merchant_id", table_name="settlement_entries")
    op.drop_table("settlement_entries")
    op.drop_table("settlement_settings")
