"""risk decisions: versioned rule sets and the decision recorded for every payment

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_rule_sets",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_risk_rule_sets")),
    )
    op.create_index(
        "ix_risk_rule_sets_active",
        "risk_rule_sets",
        ["active"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("card_fingerprint", sa.String(length=80), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("small", sa.Boolean(), nullable=False),
        sa.Column("near_threshold", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("fired", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("rules_version", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("took_us", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('approve', 'review', 'decline')", name=op.f("ck_risk_decisions_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_decisions")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_risk_decisions_payment_id")),
    )
    for columns in (
        ("customer_id", "decided_at"),
        ("card_fingerprint", "decided_at"),
        ("device_id", "decided_at"),
        ("ip", "decided_at"),
        ("decided_at",),
        ("merchant_id", "decided_at"),
    ):
        op.create_index(f"ix_risk_decisions_{'_'.join(columns)}", "risk_decisions", list(columns))


def downgrade() -> None:
    op.drop_table("risk_decisions")
    op.drop_index("ix_risk_rule_sets_active", table_name="risk_rule_sets")
    op.drop_table("risk_rule_sets")
