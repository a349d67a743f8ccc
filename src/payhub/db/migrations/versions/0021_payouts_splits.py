"""payouts and split payouts: payees, payouts, split batches, their lines and covers

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payees",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("bank_account", sa.String(length=40), nullable=False),
        sa.Column("bank_code", sa.String(length=20), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("verified_by", sa.String(length=20), nullable=True),
        sa.Column("verified_at", _TS, nullable=True),
        sa.Column("screening", sa.String(length=8), nullable=False),
        sa.Column("screening_id", sa.String(length=40), nullable=True),
        sa.Column("screened_at", _TS, nullable=True),
        sa.Column("daily_limit", sa.BigInteger(), nullable=True),
        sa.Column("split_cap", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(
            "role IN ('merchant', 'supplier', 'group_leader')", name=op.f("ck_payees_role")
        ),
        sa.CheckConstraint("status IN ('unverified', 'verified')", name=op.f("ck_payees_status")),
        sa.CheckConstraint("screening IN ('clear', 'hit')", name=op.f("ck_payees_screening")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_payees_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payees")),
        sa.UniqueConstraint(
            "merchant_id", "bank_account", name="uq_payees_merchant_id_bank_account"
        ),
    )
    op.create_index("ix_payees_merchant_id_id", "payees", ["merchant_id", "id"])
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("payee_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rail", sa.String(length=64), nullable=False),
        sa.Column("instant", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("hold_id", sa.String(length=60), nullable=False),
        sa.Column("rail_ref", sa.String(length=100), nullable=True),
        sa.Column("last_answer", sa.String(length=12), nullable=True),
        sa.Column("raw_code", sa.String(length=8), nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("failure_message", sa.String(length=300), nullable=True),
        sa.Column("group_id", sa.String(length=40), nullable=True),
        sa.Column("split_batch_id", sa.String(length=40), nullable=True),
        sa.Column("not_before", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("paid_at", _TS, nullable=True),
        sa.Column("failed_at", _TS, nullable=True),
        sa.Column("returned_at", _TS, nullable=True),
        sa.Column("return_checked_at", _TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'in_transit', 'paid', 'failed', 'returned')",
            name=op.f("ck_payouts_status"),
        ),
        sa.CheckConstraint("amount > 0 AND fee >= 0", name=op.f("ck_payouts_amounts")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_payouts_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["payee_id"], ["payees.id"], name=op.f("fk_payouts_payee_id_payees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("request_id", name="uq_payouts_request_id"),
    )
    op.create_index("ix_payouts_merchant_id_id", "payouts", ["merchant_id", "id"])
    op.create_index("ix_payouts_status_not_before", "payouts", ["status", "not_before"])
    op.create_index("ix_payouts_payee_id_created_at", "payouts", ["payee_id", "created_at"])
    op.create_index("ix_payouts_split_batch_id", "payouts", ["split_batch_id"])
    op.create_index("ix_payouts_group_id", "payouts", ["group_id"])
    op.create_table(
        "split_batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("round", sa.String(length=64), nullable=True),
        sa.Column("net_collected", sa.BigInteger(), nullable=False),
        sa.Column("distributed", sa.BigInteger(), nullable=False),
        sa.Column("platform_commission", sa.BigInteger(), nullable=False),
        sa.Column("leader_commission", sa.BigInteger(), nullable=False),
        sa.Column("clawback", sa.String(length=16), nullable=False),
        sa.Column("clawed_back", sa.BigInteger(), nullable=False),
        sa.Column("journal_id", sa.String(length=60), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(
            "clawback IN ('proportional', 'leader_only')", name=op.f("ck_split_batches_clawback")
        ),
        sa.CheckConstraint(
            "distributed + platform_commission + leader_commission <= net_collected",
            name=op.f("ck_split_batches_never_over"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_split_batches_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_split_batches")),
    )
    op.create_index("ix_split_batches_merchant_id_id", "split_batches", ["merchant_id", "id"])
    op.create_table(
        "split_lines",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("payee_id", sa.String(length=40), nullable=False),
        sa.Column("receiver_merchant_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("share_bps", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("payout_id", sa.String(length=40), nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("clawed_back", sa.BigInteger(), nullable=False),
        sa.Column("clawback_outstanding", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'failed')", name=op.f("ck_split_lines_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_split_lines_amount")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["split_batches.id"], name=op.f("fk_split_lines_batch_id_split_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_split_lines")),
    )
    op.create_index("ix_split_lines_batch_id_position", "split_lines", ["batch_id", "position"])
    op.create_index("ix_split_lines_payout_id", "split_lines", ["payout_id"])
    op.create_table(
        "split_covers",
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["split_batches.id"], name=op.f("fk_split_covers_batch_id_split_batches")
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_split_covers")),
    )


def downgrade() -> None:
    op.drop_table("split_covers")
    op.drop_table("split_lines")
    op.drop_table("split_batches")
    op.drop_table("payouts")
    op.drop_table("payees")
