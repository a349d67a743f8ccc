"""reconciliation: runs, breaks, and a channel-and-day index on payment attempts

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("matched_count", sa.BigInteger(), nullable=False),
        sa.Column("matched_amounts", sa.JSON(), nullable=False),
        sa.Column("statement_net", sa.JSON(), nullable=False),
        sa.Column("breaks_found", sa.BigInteger(), nullable=False),
        sa.Column("break_counts", sa.JSON(), nullable=False),
        sa.Column("timing_closed", sa.BigInteger(), nullable=False),
        sa.Column("custody_net", sa.JSON(), nullable=True),
        sa.Column("custody_difference", sa.JSON(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('upload', 'channel')", name=op.f("ck_reconciliation_runs_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
        sa.UniqueConstraint("channel_id", "statement_date", name="uq_reconciliation_runs_day"),
    )
    op.create_index(
        "ix_reconciliation_runs_statement_date_id",
        "reconciliation_runs",
        ["statement_date", "id"],
    )
    op.create_table(
        "reconciliation_breaks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("line_no", sa.BigInteger(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("channel_ref", sa.String(length=100), nullable=True),
        sa.Column("statement_amount", sa.BigInteger(), nullable=True),
        sa.Column("statement_fee", sa.BigInteger(), nullable=True),
        sa.Column("attempt_id", sa.String(length=40), nullable=True),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("ledger_amount", sa.BigInteger(), nullable=True),
        sa.Column("difference", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_journal", sa.JSON(), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("journal_id", sa.String(length=64), nullable=True),
        sa.Column("resolved_by", sa.String(length=80), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_run_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('missing_on_statement', 'missing_in_ledger', 'amount_mismatch', "
            "'duplicate', 'timing', 'custody_mismatch')",
            name=op.f("ck_reconciliation_breaks_type"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'resolved')", name=op.f("ck_reconciliation_breaks_status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_breaks_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_breaks")),
    )
    op.create_index("ix_reconciliation_breaks_status_id", "reconciliation_breaks", ["status", "id"])
    op.create_index(
        "ix_reconciliation_breaks_channel_id_status",
        "reconciliation_breaks",
        ["channel_id", "status"],
    )
    op.create_index("ix_reconciliation_breaks_run_id", "reconciliation_breaks", ["run_id"])
    op.create_index("ix_reconciliation_breaks_attempt_id", "reconciliation_breaks", ["attempt_id"])
    op.create_index(
        "ix_payment_attempts_channel_id_created_at",
        "payment_attempts",
        ["channel_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_payment_attempts_channel_id_created_at", table_name="payment_attempts")
    op.drop_table("reconciliation_breaks")
    op.drop_table("reconciliation_runs")
