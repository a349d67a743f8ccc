"""risk monitoring: the consumer's cursor over the outbox, and alert revisions

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_monitor_cursor",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("last_event_id", sa.String(length=40), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("transactions", sa.BigInteger(), nullable=False),
        sa.Column("alerts_raised", sa.BigInteger(), nullable=False),
        sa.Column("alerts_revised", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_monitor_cursor")),
    )
    with op.batch_alter_table("risk_alerts") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("risk_alerts") as batch:
        batch.drop_column("revision")
    op.drop_table("risk_monitor_cursor")
